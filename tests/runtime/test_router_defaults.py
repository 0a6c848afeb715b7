"""The built-in defaults for Claude Code's traffic, on a compiled config: background to small, every Claude
family routed (a new one logged), the ids /v1/models lists, and rules on facts scaled per session."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from claude_any.compiler import compile_text
from claude_any.runtime.route.router import NoRoute, Router, listed_id
from claude_any.runtime.route.tokens import SessionScale
from claude_any.table import OTHER_CLAUDE_DEFAULT, RoutingTable

CONFIG = """
providers:
  openai: {api_key: "${OPENAI_API_KEY}"}
model_categories:
  large: openai/gpt-4.1
  small: openai/gpt-4.1-mini
  fast: openai/gpt-4.1-nano
"""
SESSION = "4d2b8f1e-6a3c-4e9d-b7f0-1c2d3e4f5a6b"


def table(extra: str = "") -> RoutingTable:
    result = compile_text(CONFIG + extra, "config.yaml")
    assert result.table is not None, [d.render() for d in result.diagnostics]
    return result.table


def request(model: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "max_tokens": 128000, "messages": [{"role": "user", "content": "hi"}], **extra}


TURN = {"thinking": {"type": "adaptive"}, "tools": [{"name": "Bash", "input_schema": {}}]}


@pytest.mark.parametrize(
    ("model", "target", "rule"),
    [
        ("claude-haiku-5-5", "small", "default: haiku"),
        ("claude-sonnet-5-5", "large", "default: sonnet/opus"),
        ("claude-opus-5-5", "large", "default: sonnet/opus"),
        ("claude-fable-5-2", "large", OTHER_CLAUDE_DEFAULT),
        ("claude-fable-5-2[1m]", "large", OTHER_CLAUDE_DEFAULT),
        ("claude-zeta-7", "large", OTHER_CLAUDE_DEFAULT),
        ("us.anthropic.claude-zeta-7-v1:0", "large", OTHER_CLAUDE_DEFAULT),
    ],
)
def test_every_claude_family_routes(model: str, target: str, rule: str) -> None:
    decision = Router(table()).pick(request(model, **TURN), {"x-claude-code-session-id": SESSION})
    assert decision.chain == (target,)
    assert decision.route is not None and decision.route.name == rule


def test_a_model_that_is_not_claude_still_gets_a_404() -> None:
    with pytest.raises(NoRoute, match="model 'gpt-9' matches no route"):
        Router(table()).pick(request("gpt-9"), {})


def test_a_family_no_rule_names_is_logged_once_per_model(caplog: pytest.LogCaptureFixture) -> None:
    router = Router(table())
    with caplog.at_level(logging.INFO, logger="claude_any"):
        for _ in range(3):
            router.pick(request("claude-fable-5-2"), {})
        router.pick(request("claude-opus-5-5"), {})
        router.pick(request("claude-zeta-7"), {})
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert lines[0].startswith("model 'claude-fable-5-2' (family 'fable') is named by no rule: sent to large")
    assert 'family == "fable"' in lines[0]
    assert lines[1].startswith("model 'claude-zeta-7' (family 'other')")


def test_a_rule_on_the_new_family_wins_and_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    router = Router(table('routes:\n  - when: family == "fable"\n    to: fast\n'))
    with caplog.at_level(logging.INFO, logger="claude_any"):
        assert router.pick(request("claude-fable-5-2"), {}).chain == ("fast",)
    assert caplog.records == []


TITLE = {"tools": [], "output_config": {"effort": "medium", "format": {"type": "json_schema", "schema": {}}}}


@pytest.mark.parametrize(
    "headers",
    [{"x-claude-code-session-id": SESSION}, {"x-claude-code-request-class": "auxiliary"}],
    ids=["by its shape", "by Claude Code's class"],
)
def test_background_goes_to_small_whatever_the_model(headers: dict[str, str]) -> None:
    decision = Router(table()).pick(request("claude-opus-5-5", **TITLE), headers)
    assert decision.chain == ("small",)
    assert decision.route is not None and decision.route.name == "default: background"


def test_compaction_stays_on_large() -> None:
    headers = {"x-claude-code-session-id": SESSION, "x-claude-code-request-class": "compaction"}
    assert Router(table()).pick(request("claude-opus-5-5", **TURN), headers).chain == ("large",)


def test_a_rule_overrides_the_background_default() -> None:
    router = Router(table("routes:\n  - when: background\n    to: large\n"))
    assert router.pick(request("claude-opus-5-5", **TITLE), {"x-claude-code-session-id": SESSION}).chain == (
        "large",
    )


def test_subagents_by_rule() -> None:
    router = Router(table("routes:\n  - when: subagent\n    to: fast\n"))
    agent = {"x-claude-code-session-id": SESSION, "x-claude-code-agent-id": "a1b2c3d4e5f607182"}
    assert router.pick(request("claude-opus-5-5", **TURN), agent).chain == ("fast",)
    assert router.pick(request("claude-opus-5-5", **TURN), {"x-claude-code-session-id": SESSION}).chain == (
        "large",
    )


# --- the ids /v1/models lists --------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["large", "small", "fast", "openai/gpt-4o"])
def test_every_listed_id_routes_to_its_target(target: str) -> None:
    routes = table("routes:\n  - when: has_image\n    to: openai/gpt-4o\n")
    decision = Router(routes).pick(request(listed_id(target)), {})
    assert decision.route is None
    assert decision.chain[0] == target
    assert "claude" in listed_id(target)  # Claude Code keeps only ids containing claude or anthropic


def test_a_listed_id_for_no_target_says_what_is_listed() -> None:
    with pytest.raises(NoRoute) as raised:
        Router(table()).pick(request("claude-any/huge"), {})
    assert str(raised.value) == (
        "model 'claude-any/huge' is not a target of this gateway; listed: "
        "claude-any/fast, claude-any/large, claude-any/small"
    )


def test_a_provider_named_claude_any_keeps_its_models() -> None:
    config = CONFIG + "  own: claude-any/model-x\n"
    config = config.replace(
        "providers:\n", 'providers:\n  claude-any: {kind: openai, base_url: "http://127.0.0.1:9/v1"}\n'
    )
    result = compile_text(config, "config.yaml")
    assert result.table is not None, [d.render() for d in result.diagnostics]
    router = Router(result.table)
    assert router.pick(request("claude-any/large"), {}).chain == ("large",)  # a listed id
    assert router.pick(request("claude-any/model-y"), {}).chain == ("claude-any/model-y",)  # provider/model


# --- rules see the provider's count once a session has one ---------------------------------------------


def test_a_tokens_rule_fires_on_the_sessions_scaled_count() -> None:
    sessions = SessionScale()
    router = Router(table("routes:\n  - when: tokens > 2k\n    to: fast\n"), sessions)
    body = request("claude-opus-5-5", **TURN, messages=[{"role": "user", "content": "word " * 1_500}])
    headers = {"x-claude-code-session-id": SESSION}
    first = router.pick(body, headers)
    assert first.chain == ("large",) and first.facts.tokens < 2_000
    # The provider counted 1.5 times the estimate on the previous turn of this session.
    sessions.learn(SESSION, first.facts.estimated_tokens, round(first.facts.estimated_tokens * 1.5))
    again = router.pick(body, headers)
    assert again.facts.tokens > 2_000
    assert again.chain == ("fast",)
    assert router.pick(body, {"x-claude-code-session-id": "another"}).chain == ("large",)
