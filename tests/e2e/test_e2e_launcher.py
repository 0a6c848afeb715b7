"""`claude-any code` and `claude-any statusline` with the real Claude Code.

- The settings `code` applies are the ones Claude Code reads: `/context` (answered locally, in `-p` mode too)
  shows the window compaction works in, and a model id Claude Code does not know (`--model large`) no
  longer gets its "assumes a context window of 1m tokens" warning.
- A provider that refuses the key (401) ends `claude -p` at once: the gateway says `x-should-retry: false`,
  so Claude Code makes one request instead of ten with backoff.
- After a real session, `claude-any statusline` names what answered it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import REPO, RUN_TIMEOUT_S, RunClaude, Workspace, parse_output
from gateway_process import GatewayProcess
from loopback import FakeUpstream
from scripted import error_reply

QUICKSTART = REPO / "examples" / "quickstart.yaml"

SMALL_ECHO = """\
providers:
  echo: {kind: echo}
model_categories:
  large: {target: echo/echo-large, capabilities: {context: 128000, max_output: 16384}}
  small: echo/echo-small
"""

REFUSING = """\
providers:
  main: {{kind: openai, base_url: "{url}/v1", api_key: "${{E2E_WRONG_KEY}}"}}
model_categories:
  large: main/gpt-4.1
  small: main/gpt-4.1-mini
"""


def code(
    workspace: Workspace, claude: Path, config: Path, *claude_args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """`claude-any code --config CONFIG -- CLAUDE_ARGS` as a user runs it, whatever its exit status."""
    return subprocess.run(
        [sys.executable, "-m", "claude_any", "code", "--config", str(config), "--", *claude_args],
        env=workspace.env(CLAUDE_ANY_CLAUDE=str(claude), **env),
        cwd=workspace.cwd,
        input="",
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )


def test_claude_code_works_in_the_window_of_the_target(claude: Path, workspace: Workspace) -> None:
    config = workspace.home / "config.yaml"
    config.write_text(SMALL_ECHO, encoding="utf-8")
    for model in ("claude-sonnet-4-6", "large"):  # a Claude model, and an id Claude Code does not know
        done = code(workspace, claude, config, "-p", "/context", "--model", model)
        assert done.returncode == 0, done.stderr
        assert f"**Model:** {model}" in done.stdout
        assert "/ 128k (" in done.stdout, done.stdout  # "**Tokens:** 8.9k / 128k (7%)", not "/ 1m"
        assert "| Autocompact buffer | 29.4k |" in done.stdout  # 16,384 output tokens + 13,000
        assert "doesn't recognize the model" not in done.stderr + done.stdout


def test_a_refused_key_ends_claude_code_at_once(
    claude: Path, workspace: Workspace, upstream: FakeUpstream
) -> None:
    config = workspace.home / "config.yaml"
    config.write_text(REFUSING.format(url=upstream.url), encoding="utf-8")
    upstream.responder = lambda request: error_reply(401, "Incorrect API key provided: sk-wr***ey.")
    done = code(
        workspace,
        claude,
        config,
        "-p",
        "hello",
        "--output-format",
        "json",
        E2E_WRONG_KEY="sk-wrong-key",
        CLAUDE_CODE_MAX_RETRIES="10",  # Claude Code's default: without x-should-retry, ten tries
    )
    assert done.returncode == 1, done.stderr
    result, _ = parse_output(done.stdout)
    assert result["is_error"] is True and result["api_error_status"] == 401
    assert "main: Incorrect API key provided" in result["result"]
    assert len(upstream.requests) == 1, "neither the gateway nor Claude Code retried a refused key"


def test_statusline_names_what_answered_a_real_session(
    claude: Path, workspace: Workspace, run_claude: RunClaude
) -> None:
    gateway = GatewayProcess(QUICKSTART, {}, workspace.home / "claude-any.log")
    try:
        gateway.wait_ready()
        session = run_claude(gateway.url, "hello")
        status_input = json.dumps({"session_id": session.result["session_id"], "model": {"id": "x"}})
        line = subprocess.run(
            [sys.executable, "-m", "claude_any", "statusline"],
            env=workspace.env(ANTHROPIC_BASE_URL=gateway.url, ANTHROPIC_AUTH_TOKEN="unused"),
            input=status_input,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
        )
    finally:
        gateway.stop()
    assert line.returncode == 0 and line.stderr == ""
    usage = session.result["usage"]
    assert line.stdout == (
        f"claude-any: large → echo/echo-large · in {usage['input_tokens'] / 1000:.1f}k "
        f"out {usage['output_tokens']} · cache 0% · $0.00 · 1 request\n"
    )
