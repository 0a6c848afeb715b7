"""The facts about Claude Code's own traffic: `background`, `subagent`, the families, and `tokens` scaled per
session. Checked on requests of the real CLI (tests/fixtures/claude-code-background, captured from 2.1.330
with its text replaced), with and without the hint headers `claude-any code` turns on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from claude_any.runtime.route import tokens
from claude_any.runtime.route.facts import facts_from_request, family_of
from claude_any.runtime.route.tokens import SessionScale

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "claude-code-background"


def capture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return loaded


# name -> (background, subagent): what each captured request is.
CAPTURES = {
    "session_title": (True, False),
    "main_turn": (False, False),
    "compaction": (False, False),  # needs the large model: never background
    "subagent": (False, True),
}


@pytest.mark.parametrize("hinted", [False, True], ids=["as sent by default", "with hint headers"])
@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_captured_requests(name: str, hinted: bool) -> None:
    request = capture(name + ("_hinted" if hinted else ""))
    facts = facts_from_request(request["body"], request["headers"])
    assert (facts.background, facts.subagent) == CAPTURES[name]
    assert facts.model == "claude-opus-5-5"  # 2.1.330 sends its housekeeping as the main model, not haiku
    assert facts.family == "opus"


def test_the_captures_are_what_they_say() -> None:
    # Guards the fixtures themselves: the hinted ones carry Claude Code's own classes.
    classes = {name: capture(name + "_hinted")["headers"]["x-claude-code-request-class"] for name in CAPTURES}
    assert classes == {
        "session_title": "auxiliary",
        "main_turn": "main",
        "compaction": "compaction",
        "subagent": "subagent",
    }
    assert all("x-claude-code-request-class" not in capture(name)["headers"] for name in CAPTURES)
    assert capture("session_title")["body"]["tools"] == []
    assert "thinking" not in capture("session_title")["body"]


HELPER_BODY = {"model": "claude-opus-5-5", "max_tokens": 128000, "tools": [], "messages": []}
SESSION = {"x-claude-code-session-id": "9e1c7f3a-2b4d-4e6f-8a1b-3c5d7e9f0a2b"}


@pytest.mark.parametrize(
    ("body", "headers", "background"),
    [
        (HELPER_BODY, SESSION, True),
        # Any request class but `auxiliary` is not background, whatever the body looks like.
        (HELPER_BODY, {**SESSION, "x-claude-code-request-class": "main"}, False),
        (HELPER_BODY, {**SESSION, "x-claude-code-request-class": "compaction"}, False),
        (
            {**HELPER_BODY, "tools": [{"name": "Bash"}]},
            {**SESSION, "x-claude-code-request-class": "auxiliary"},
            True,
        ),
        # A plain Anthropic client without Claude Code's session header is never background.
        (HELPER_BODY, {}, False),
        # With thinking or tools, a Claude Code request is a turn.
        ({**HELPER_BODY, "thinking": {"type": "adaptive"}}, SESSION, False),
        ({**HELPER_BODY, "tools": [{"name": "Bash"}]}, SESSION, False),
        ({k: v for k, v in HELPER_BODY.items() if k != "tools"}, SESSION, False),  # the model check's probe
    ],
    ids=[
        "helper shape",
        "class main",
        "class compaction",
        "class auxiliary",
        "no session header",
        "thinking",
        "tools",
        "no tools field",
    ],
)
def test_background(body: dict[str, Any], headers: dict[str, str], background: bool) -> None:
    assert facts_from_request(body, headers).background is background


@pytest.mark.parametrize(
    ("headers", "subagent"),
    [
        ({"x-claude-code-agent-id": "a5c6d4c7b1b158289"}, True),
        ({"X-Claude-Code-Parent-Agent-Id": "a5c6d4c7b1b158289"}, True),
        ({"x-claude-code-agent-id": ""}, False),
        (SESSION, False),
    ],
)
def test_subagent(headers: dict[str, str], subagent: bool) -> None:
    assert facts_from_request({"model": "claude-opus-5-5"}, headers).subagent is subagent


@pytest.mark.parametrize(
    ("model", "family"),
    [
        ("claude-fable-5-2", "fable"),
        ("claude-fable-5-2[1m]", "fable"),
        ("claude-mythos-preview", "mythos"),
        ("claude-zeta-7", "other"),  # a family not known yet: the default still routes it (test_router)
    ],
)
def test_new_families(model: str, family: str) -> None:
    assert family_of(model) == family


# --- tokens, scaled per session ------------------------------------------------------------------------


def long_body(words: int = 2_000) -> dict[str, Any]:
    return {"model": "claude-opus-5-5", "messages": [{"role": "user", "content": "token " * words}]}


def test_tokens_take_the_sessions_ratio() -> None:
    sessions = SessionScale()
    body = long_body()
    estimate = tokens.estimate(body)
    assert estimate > SessionScale.MIN_ESTIMATE
    sessions.learn(SESSION["x-claude-code-session-id"], estimate, round(estimate * 1.3))
    facts = facts_from_request(body, SESSION, sessions)
    assert facts.estimated_tokens == estimate
    assert facts.tokens == round(estimate * 1.3)
    # Another session, or none, keeps the plain estimate.
    assert facts_from_request(body, {"x-claude-code-session-id": "other"}, sessions).tokens == estimate
    assert facts_from_request(body, {}, sessions).tokens == estimate
    assert facts_from_request(body, SESSION).tokens == estimate  # no SessionScale: explain, tests


@pytest.mark.parametrize(
    ("counted_per_estimate", "ratio"),
    [(1.25, 1.25), (10.0, SessionScale.HIGHEST), (0.01, SessionScale.LOWEST)],
    ids=["kept", "capped above", "capped below"],
)
def test_the_ratio_is_bounded(counted_per_estimate: float, ratio: float) -> None:
    sessions = SessionScale()
    sessions.learn("s", 10_000, round(10_000 * counted_per_estimate))
    assert sessions.ratio("s") == pytest.approx(ratio)
    assert sessions.scale("s", 1_000) == round(1_000 * ratio)


@pytest.mark.parametrize(
    ("session", "estimate", "counted"),
    [
        ("", 10_000, 20_000),  # no session
        ("s", 500, 1_000),  # too small to say anything about the window
        ("s", 10_000, None),  # nothing counted
        ("s", 10_000, 0),
        ("x" * 200, 10_000, 20_000),  # not a session id Claude Code sends
    ],
)
def test_nothing_is_learned_from(session: str, estimate: int, counted: int | None) -> None:
    sessions = SessionScale()
    sessions.learn(session, estimate, counted)
    assert len(sessions) == 0
    assert sessions.scale(session, 1_000) == 1_000


def test_the_latest_turn_decides() -> None:
    sessions = SessionScale()
    sessions.learn("s", 10_000, 15_000)
    sessions.learn("s", 10_000, 11_000)
    assert sessions.ratio("s") == pytest.approx(1.1)


def test_sessions_are_bounded_least_recently_used_first() -> None:
    sessions = SessionScale(max_sessions=3)
    for name in ("a", "b", "c"):
        sessions.learn(name, 10_000, 12_000)
    assert sessions.scale("a", 1_000) == 1_200  # a is now the most recently used
    sessions.learn("d", 10_000, 12_000)
    assert len(sessions) == 3
    assert sessions.ratio("b") is None
    assert {s for s in "acd" if sessions.ratio(s) is not None} == {"a", "c", "d"}
