"""Claude Code's model picker, families and subagents, with the real CLI through `claude-any code`.

- Discovery: `claude-any code` turns on Claude Code's gateway model discovery, so it reads GET /v1/models at
  start and keeps, in `~/.claude/cache/gateway-models.json`, the ids its filter lets through (those containing
  `claude` or `anthropic`): what `/model` then lists "From gateway". Each listed id then routes.
- Families: `--model fable` (`claude-fable-5-2`, offered by 2.1.330's `/model`) reached a 404 before; the
  built-in default now sends it to `large` and logs it once.
- Subagents: the echo provider's `/tool Agent {...}` makes Claude Code start a general-purpose subagent, whose
  requests carry `x-claude-code-agent-id`; a `when: subagent` rule sends them to another target.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from conftest import Session, Workspace, run_process

CONFIG = """\
providers:
  echo: {kind: echo}
model_categories:
  large: echo/echo-large
  small: echo/echo-small
  fast: echo/echo-fast
routes:
  - when: subagent
    to: fast
"""
LISTED = {
    "claude-any/fast": "fast → echo/echo-fast",
    "claude-any/large": "large → echo/echo-large",
    "claude-any/small": "small → echo/echo-small",
}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "claude-code.yaml"
    path.write_text(CONFIG)
    return path


def claude_any_code(claude: Path, workspace: Workspace, config: Path, *claude_args: str) -> Session:
    command = [sys.executable, "-m", "claude_any", "code", "--config", str(config), "--", "-p", *claude_args]
    command += ["--output-format", "json"]
    return run_process(command, workspace.env(CLAUDE_ANY_CLAUDE=str(claude)), workspace.cwd)


def gateway_log(session: Session) -> list[str]:
    """The lines of the gateway's request log (`claude-any code` announces its path on stderr)."""
    found = re.search(r"\(log: (\S+)\)", session.stderr)
    assert found, session.stderr
    return Path(found[1]).read_text().splitlines()


def test_the_model_picker_lists_every_target_and_each_routes(
    claude: Path, workspace: Workspace, config: Path
) -> None:
    session = claude_any_code(claude, workspace, config, "say hi")
    assert session.result["is_error"] is False, session.result
    assert any("GET /v1/models status=200" in line for line in gateway_log(session))
    cache = json.loads((workspace.home / ".claude" / "cache" / "gateway-models.json").read_text())
    assert {m["id"]: m["display_name"] for m in cache["models"]} == LISTED  # none dropped by its filter

    # A picked id is sent as the model, and goes to its target.
    picked = claude_any_code(claude, workspace, config, "say hi", "--model", "claude-any/small")
    assert picked.result["is_error"] is False, picked.result
    assert "target small (echo/echo-small)" in picked.result["result"]


def test_fable_is_answered(claude: Path, workspace: Workspace, config: Path) -> None:
    session = claude_any_code(claude, workspace, config, "say hi", "--model", "fable")
    assert session.result["is_error"] is False, session.result
    assert session.result["result"].startswith(
        "echo from claude-any: model claude-fable-5-2 → target large (echo/echo-large)."
    )
    log = gateway_log(session)
    assert sum("named by no rule: sent to large" in line for line in log) == 1, log
    requests = [line for line in log if "POST /v1/messages " in line]
    assert requests and all("rule='default: other Claude models' status=200" in line for line in requests)


def test_a_subagent_goes_where_the_rule_says(claude: Path, workspace: Workspace, config: Path) -> None:
    agent = {"description": "greet", "prompt": "say hello", "subagent_type": "general-purpose"}
    prompt = "Start a helper.\n/tool Agent " + json.dumps(agent)
    session = claude_any_code(claude, workspace, config, prompt)
    assert session.result["is_error"] is False, session.result
    routed = [line for line in gateway_log(session) if "POST /v1/messages " in line]
    # The main thread asks for the subagent, the subagent answers (on `fast`), the main thread goes on.
    targets = [re.search(r"-> (\w+) \(", line)[1] for line in routed]  # type: ignore[index]
    assert targets.count("fast") == 1, routed
    assert targets[0] == "large" and targets[-1] == "large", routed
    assert all("status=200" in line for line in routed), routed
    subagent = next(line for line in routed if "-> fast" in line)
    assert "rule='routes[0]'" in subagent
