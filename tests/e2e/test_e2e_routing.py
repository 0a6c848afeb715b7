"""Routing rules with the real Claude Code: a YAML config with two providers, served by `claude-any run`.

`--model` makes Claude Code ask for different models. What 2.1.330 sends decides the rules below: every
current alias (haiku, sonnet, opus → claude-*-5-5) gets `thinking: adaptive` (even haiku, and
`alwaysThinkingEnabled: false` does not change that in `-p` mode), claude-sonnet-4-5 gets
`thinking: enabled` with a budget, and a Claude 3.5 model gets no thinking at all. A long prompt on stdin
makes the `tokens` rule fire. Each case asserts which upstream got the request, for which upstream model,
and with which credential.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import RunClaude
from gateway_process import GatewayProcess
from loopback import FakeUpstream
from scripted import Model
from upstream_checks import assert_no_healing, chat_bodies

MAIN_KEY = "sk-e2e-main-key"

CONFIG = """\
providers:
  main: {{kind: openai, base_url: "{main}/v1", api_key: "${{E2E_MAIN_KEY}}"}}
  fast: {{kind: openai, base_url: "{fast}/v1"}}
model_categories:
  large: main/gpt-4.1
  small: fast/gpt-4.1-mini
  long: fast/gpt-4.1-long
  deep: main/o3
routes:
  - when: tokens > 40k
    to: long
  - when: thinking and family != "haiku"
    to: deep
"""

# ~50k estimated tokens on top of Claude Code's ~11k: well past the rule's 40k, far from any window.
LONG_PROMPT = "Summarise these notes.\n" + "note: the quick brown fox jumps over the lazy dog\n" * 4000


@pytest.fixture(scope="module")
def routed_gateway(
    claude: Path,  # first, so that the process is not started for tests that will skip
    _upstream_server: FakeUpstream,
    _second_upstream_server: FakeUpstream,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GatewayProcess]:
    folder = tmp_path_factory.mktemp("routing")
    config = folder / "config.yaml"
    config.write_text(CONFIG.format(main=_upstream_server.url, fast=_second_upstream_server.url))
    gateway = GatewayProcess(config, {"E2E_MAIN_KEY": MAIN_KEY}, folder / "claude-any.log")
    try:
        gateway.wait_ready()
        yield gateway
    finally:
        gateway.stop()


@dataclass(frozen=True)
class Case:
    model: str
    upstream: str  # "main" or "fast"
    upstream_model: str
    long: bool = False
    system_turn: bool = True  # Claude Code sends a `role: "system"` turn to current models only


CASES = {
    "haiku goes to small (the thinking rule excludes it)": Case("haiku", "fast", "gpt-4.1-mini"),
    "opus thinks (adaptive), so goes to deep": Case("opus", "main", "o3"),
    "sonnet 4.5 thinks (budget), so goes to deep": Case("claude-sonnet-4-5", "main", "o3", system_turn=False),
    "sonnet 3.5 does not think: large": Case(
        "claude-3-5-sonnet-20241022", "main", "gpt-4.1", system_turn=False
    ),
    "a long prompt goes to long": Case("sonnet", "fast", "gpt-4.1-long", long=True),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_rules_pick_the_upstream(
    case: Case,
    upstream: FakeUpstream,
    second_upstream: FakeUpstream,
    routed_gateway: GatewayProcess,
    run_claude: RunClaude,
) -> None:
    main, fast = upstream, second_upstream
    main.responder = Model(answer="from main")
    fast.responder = Model(answer="from fast")
    prompt = None if case.long else "which upstream?"
    session = run_claude(
        routed_gateway.url, prompt, "--model", case.model, stdin=LONG_PROMPT if case.long else None
    )

    assert session.result["is_error"] is False, routed_gateway.log()
    assert session.result["result"] == f"from {case.upstream}"
    chosen, other = (main, fast) if case.upstream == "main" else (fast, main)
    assert other.requests == []
    bodies = chat_bodies(chosen.requests)
    assert_no_healing(bodies, case.system_turn)
    assert [b["model"] for b in bodies] == [case.upstream_model]
    auth = chosen.requests[0].headers.get("authorization")
    assert auth == (f"Bearer {MAIN_KEY}" if case.upstream == "main" else None)
    # Claude Code's thinking became a reasoning effort for the reasoning model, and only for it.
    assert bool(bodies[0].get("reasoning_effort")) == (case.upstream_model == "o3"), bodies[0]
