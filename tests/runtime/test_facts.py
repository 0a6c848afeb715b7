"""Request -> facts: every fact of the table in docs/ARCHITECTURE.md, leniency, laziness, Claude Code's
requests (tests/fixtures/claude-code)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from loopback import FIXTURES

from claude_any.runtime.route import tokens
from claude_any.runtime.route.facts import (
    BOOL,
    FACT_NAMES,
    FACT_TYPES,
    FACTS,
    LIST,
    NUMBER,
    STRING,
    Facts,
    FactSpec,
    FactType,
    fact,
    facts_from_request,
    family_of,
)

PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def image_block() -> dict[str, Any]:
    return {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}}


def test_every_fact_from_a_full_request() -> None:
    body = {
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 32000,
        "thinking": {"type": "enabled", "budget_tokens": 31999},
        "output_config": {"effort": "medium"},
        "tools": [{"name": "Bash", "input_schema": {}}, {"name": "Read", "input_schema": {}}],
        "system": [{"type": "text", "text": "first"}, {"type": "text", "text": "second"}],
        "messages": [
            {"role": "user", "content": "hello"},
            {"role": "assistant", "content": [{"type": "text", "text": "hi"}]},
            {"role": "user", "content": "again"},
        ],
        "stream": True,
    }
    facts = facts_from_request(body, {"X-Team": "infra"})
    assert facts.as_dict() == {
        "model": "claude-sonnet-4-5-20250929",
        "family": "sonnet",
        "tokens": tokens.estimate(body),
        "max_tokens": 32000,
        "thinking": True,
        "thinking_budget": 31999,
        "effort": "medium",
        "tools": ("Bash", "Read"),
        "has_image": False,
        "stream": True,
        "messages": 3,
        "system": "first\nsecond",
        "background": False,
        "subagent": False,
    }
    assert set(facts.as_dict()) == FACT_NAMES
    assert facts.header("x-team") == "infra"
    assert facts.header("X-TEAM") == "infra"
    assert facts.header("x-missing") == ""


@pytest.mark.parametrize(
    ("model", "family"),
    [
        ("claude-opus-4-6", "opus"),
        ("Claude-Opus-4-6[1m]", "opus"),
        ("claude-3-5-sonnet-latest", "sonnet"),
        ("claude-haiku-4-5", "haiku"),
        ("anthropic.claude-3-haiku-20240307-v1:0", "haiku"),
        ("gpt-4o", "other"),
        ("", "other"),
    ],
)
def test_family_by_substring(model: str, family: str) -> None:
    assert family_of(model) == family
    assert facts_from_request({"model": model}).family == family


@pytest.mark.parametrize(
    ("thinking", "on", "budget"),
    [
        ({"type": "enabled", "budget_tokens": 2048}, True, 2048),
        ({"type": "adaptive"}, True, 0),
        ({"type": "disabled"}, False, 0),
        ({"type": "enabled", "budget_tokens": "lots"}, True, 0),
        ("yes", False, 0),
        (None, False, 0),
    ],
)
def test_thinking(thinking: Any, on: bool, budget: int) -> None:
    facts = facts_from_request({"model": "m", "thinking": thinking})
    assert (facts.thinking, facts.thinking_budget) == (on, budget)


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "text",
        {},
        {"model": 42, "max_tokens": "big", "messages": "nope", "tools": "x", "system": 7, "stream": "true"},
        {
            "max_tokens": True,
            "tools": [None, {"name": 3}, {"no": "name"}],
            "output_config": [],
            "thinking": [],
        },
        {"messages": [None, 3, {"content": None}, {"content": [None, 5, {"type": None}]}]},
    ],
)
def test_odd_shapes_give_neutral_values(body: Any) -> None:
    facts = facts_from_request(body, {})
    assert facts.model in ("", "m")
    assert facts.max_tokens == 0
    assert facts.tools == ()
    assert facts.stream is False
    assert facts.system == ""
    assert facts.effort == ""
    assert facts.has_image is False
    assert isinstance(facts.tokens, int)
    messages = body.get("messages") if isinstance(body, dict) else None
    assert facts.messages == (len(messages) if isinstance(messages, list) else 0)


def test_system_as_plain_string() -> None:
    assert facts_from_request({"system": "be brief"}).system == "be brief"


@pytest.mark.parametrize(
    "content",
    [
        [image_block()],
        [{"type": "text", "text": "see"}, image_block()],
        [
            {
                "type": "tool_result",
                "tool_use_id": "t1",
                "content": [{"type": "text", "text": "x"}, image_block()],
            }
        ],
        [{"type": "document", "source": {"type": "content", "content": [image_block()]}}],
    ],
)
def test_has_image_anywhere(content: list[Any]) -> None:
    body = {"messages": [{"role": "user", "content": "first"}, {"role": "user", "content": content}]}
    assert facts_from_request(body).has_image is True


def test_no_image_in_text_mentioning_images() -> None:
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": '{"type": "image"}'}]}]}
    assert facts_from_request(body).has_image is False


def test_tokens_are_lazy(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []

    def counting(body: Any) -> int:
        calls.append(body)
        return 1234

    monkeypatch.setattr(tokens, "estimate", counting)
    facts = facts_from_request({"model": "claude-opus-4-6", "messages": []}, {})
    assert facts.family == "opus"
    assert calls == []
    assert facts.tokens == 1234
    assert facts.get("tokens") == 1234
    assert len(calls) == 1  # computed once, then cached


def test_get_rejects_unknown_names() -> None:
    facts = facts_from_request({}, {})
    with pytest.raises(KeyError):
        facts.get("body")
    with pytest.raises(KeyError):
        facts.get("headers")


def load_fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "name",
    [
        "cc_first_request_say_hi.json",
        "cc_first_request_sonnet45_legacy_thinking.json",
        "cc_interactive_side_request_structured_output.json",
        "cc_tool_turn1_request.json",
        "cc_tool_turn2_with_tool_result.json",
        "cc_tool_result_is_error_permission_denied.json",
        "cc_count_tokens_with_tools.json",
    ],
)
def test_claude_code_captures(name: str) -> None:
    body = load_fixture(name)
    headers = load_fixture("cc_first_request_headers.json")
    facts = facts_from_request(body, headers)
    assert facts.model == body["model"]
    assert facts.family == family_of(body["model"]) != "other"
    assert facts.messages == len(body["messages"])
    assert facts.tools == tuple(t["name"] for t in body.get("tools", []))
    thinking = body.get("thinking", {})
    assert facts.thinking is (thinking.get("type") in ("enabled", "adaptive"))
    assert facts.thinking_budget == thinking.get("budget_tokens", 0)
    assert facts.effort == body.get("output_config", {}).get("effort", "")
    assert facts.stream is bool(body.get("stream", False))
    assert facts.max_tokens == body.get("max_tokens", 0)
    system = body.get("system", [])
    assert facts.system == "\n".join(b["text"] for b in system)
    assert facts.header("user-agent") == headers["User-Agent"]
    assert facts.header("x-app") == "cli"
    # The prompt is several thousand tokens; a sanity range, not a pinned number.
    size = len(json.dumps(body))
    assert size / 8 < facts.tokens < size / 2.5


def test_legacy_thinking_capture_has_a_budget() -> None:
    facts = facts_from_request(load_fixture("cc_first_request_sonnet45_legacy_thinking.json"), {})
    assert facts.family == "sonnet"
    assert facts.thinking and facts.thinking_budget > 0


def test_facts_is_frozen() -> None:
    facts = facts_from_request({"model": "m"})
    with pytest.raises(AttributeError):
        facts.model = "other"  # type: ignore[misc]
    assert isinstance(facts, Facts)


# The declaration: every fact has a type, a reader and a description, and the reader keeps to the type.

PYTHON_TYPES: dict[FactType[Any], Callable[[Any], bool]] = {
    STRING: lambda v: isinstance(v, str),
    NUMBER: lambda v: isinstance(v, int) and not isinstance(v, bool),
    BOOL: lambda v: isinstance(v, bool),
    LIST: lambda v: isinstance(v, tuple) and all(isinstance(x, str) for x in v),
}
FULL_BODY = {
    "model": "claude-opus-4-6",
    "max_tokens": 32000,
    "thinking": {"type": "enabled", "budget_tokens": 2048},
    "output_config": {"effort": "high"},
    "tools": [{"name": "Bash", "input_schema": {}}],
    "system": [{"type": "text", "text": "be brief"}],
    "messages": [{"role": "user", "content": [image_block()]}],
    "stream": True,
}


@pytest.mark.parametrize("name", list(FACTS))
def test_every_fact_is_declared_with_a_type_a_reader_and_a_description(name: str) -> None:
    spec = FACTS[name]
    assert spec.name == name
    assert spec.type in FACT_TYPES
    assert callable(spec.read)
    assert spec.about.strip() and "\n" not in spec.about
    for body in ({}, FULL_BODY, {"model": 3, "messages": "x", "tools": {}, "thinking": []}):
        value = spec.read(facts_from_request(body))
        assert PYTHON_TYPES[spec.type](value), (name, body, value)
        assert facts_from_request(body).get(name) == value


# A subagent's housekeeping request, as Claude Code marks it with CLAUDE_CODE_GATEWAY_HINT_HEADERS=1.
FULL_HEADERS = {"x-claude-code-agent-id": "a5c6d4c7b1b158289", "x-claude-code-request-class": "auxiliary"}


def test_the_full_body_gives_no_neutral_values() -> None:
    facts = facts_from_request(FULL_BODY, FULL_HEADERS)
    assert all(value not in ("", 0, False, ()) for value in facts.as_dict().values()), facts.as_dict()


@pytest.mark.parametrize(
    "declare",
    [
        lambda read: FactSpec("x", None, read, "a fact"),  # type: ignore[arg-type]
        lambda read: FactSpec("x", STRING, None, "a fact"),  # type: ignore[arg-type]
        lambda read: FactSpec("x", STRING, read, ""),
        lambda read: FactSpec("x", STRING, read, "two\nlines"),
        lambda read: fact(None, "a fact")(read),  # type: ignore[arg-type]
    ],
    ids=["no type", "no reader", "no description", "two-line description", "decorator without a type"],
)
def test_a_fact_without_a_type_a_reader_or_a_description_is_refused(declare: Callable[[Any], Any]) -> None:
    with pytest.raises(TypeError, match=r"^fact '(x|<lambda>)' (is declared without|needs)"):
        declare(lambda facts: "")


def test_every_fact_is_lazy() -> None:
    facts = facts_from_request(FULL_BODY, {})
    assert set(vars(facts)) == {"body", "headers", "sessions"}  # nothing read yet
    assert facts.family == "opus"
    assert set(vars(facts)) == {"body", "headers", "sessions", "model", "family"}
    assert repr(facts) == "Facts(model='claude-opus-4-6', family='opus')"


def test_a_preset_fact_is_not_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # explain --tokens N presets the slot; the estimator must not run.
    monkeypatch.setattr(tokens, "estimate", lambda body: pytest.fail("estimated"))
    facts = facts_from_request(FULL_BODY)
    facts.__dict__["tokens"] = 200_000
    assert facts.tokens == facts.get("tokens") == 200_000
