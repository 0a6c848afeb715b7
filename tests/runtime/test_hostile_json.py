"""Hostile JSON gets a 400 naming the JSON path, never a 500 (issue #13, item 8): lone surrogate escapes
anywhere, and nesting deep enough for a recursive walk (or the stdlib parser) to hit Python's recursion
limit, on every endpoint that takes a body: /v1/messages streamed and not, and count_tokens."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from faults import chunk, completion, fake_provider, resilient_table
from hypothesis import given, settings
from hypothesis import strategies as st
from loopback import DONE, FakeUpstream, Reply

from claude_any.runtime.serve.request_body import MAX_DEPTH

JSON = {"content-type": "application/json"}
ENDPOINTS = [
    pytest.param("/v1/messages", False, id="messages"),
    pytest.param("/v1/messages", True, id="messages-stream"),
    pytest.param("/v1/messages/count_tokens", False, id="count_tokens"),
]
LONE = "\ud800"


def conversation(hole: Any = "hi") -> dict[str, Any]:
    """A request with a tool turn; `hole` is put where a placement below says."""
    return {
        "model": "claude-sonnet-4-6",
        "max_tokens": 20,
        "system": [{"type": "text", "text": "be brief"}],
        "tools": [
            {"name": "lookup", "description": "d", "input_schema": {"type": "object", "properties": {}}}
        ],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "look it up"}]},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t1", "name": "lookup", "input": {}}],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "found"}]},
        ],
        "metadata": {"user_id": "u"},
    }


def _set(body: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    node: Any = body
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return body


# Where a client string sits -> the path the error names.
STRING_PLACES: list[tuple[tuple[Any, ...], str]] = [
    (("model",), "model"),
    (("system",), "system"),
    (("system", 0, "text"), "system.0.text"),
    (("messages", 0, "content"), "messages.0.content"),
    (("messages", 0, "content", 0, "text"), "messages.0.content.0.text"),
    (("tools", 0, "name"), "tools.0.name"),
    (("tools", 0, "description"), "tools.0.description"),
    (("messages", 1, "content", 0, "input", "query"), "messages.1.content.0.input.query"),
    (("messages", 1, "content", 0, "name"), "messages.1.content.0.name"),
    (("messages", 2, "content", 0, "content"), "messages.2.content.0.content"),
    (("metadata", "user_id"), "metadata.user_id"),
    (("stop_sequences",), "stop_sequences"),
    (("unknown_field",), "unknown_field"),
]


@pytest.fixture
def url(upstream: FakeUpstream, gateway: Callable[..., str]) -> str:
    def answer(request: Any) -> Reply:
        if request.body.get("stream"):
            return Reply(chunks=[chunk({"content": "ok"}), chunk(finish="stop"), DONE])
        return Reply(json=completion())

    upstream.responder = answer
    return gateway(resilient_table([fake_provider(upstream.url)]))


def _post(url: str, path: str, stream: bool, body: dict[str, Any]) -> httpx.Response:
    if stream:
        body = {**body, "stream": True}
    raw = json.dumps(body).encode()  # ensure_ascii: a lone surrogate is written as its \uXXXX escape
    return httpx.post(url + path, content=raw, headers=JSON, timeout=60)


def _error(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    message: str = error["message"]
    return message


@pytest.mark.parametrize(("path", "stream"), ENDPOINTS)
@pytest.mark.parametrize(("place", "named"), STRING_PLACES, ids=[named for _, named in STRING_PLACES])
@pytest.mark.parametrize(
    "text", [LONE, "\udc00", f"ok {LONE}x", "\ud83d\ud83d"], ids=["hi", "lo", "mid", "2hi"]
)
def test_a_lone_surrogate_anywhere_is_a_400_naming_its_path(
    upstream: FakeUpstream, url: str, path: str, stream: bool, place: tuple[Any, ...], named: str, text: str
) -> None:
    value: Any = [text] if place == ("stop_sequences",) else text
    if place == ("stop_sequences",):
        named += ".0"
    message = _error(_post(url, path, stream, _set(conversation(), place, value)))
    assert message.startswith(f"{named}: a lone surrogate escape (\\ud")
    assert upstream.requests == []


@pytest.mark.parametrize(("path", "stream"), ENDPOINTS)
def test_a_lone_surrogate_in_a_key_is_named_with_the_key_escaped(
    upstream: FakeUpstream, url: str, path: str, stream: bool
) -> None:
    body = _set(conversation(), ("tools", 0, "input_schema", "properties"), {LONE: {"type": "string"}})
    message = _error(_post(url, path, stream, body))
    assert message.startswith(
        "tools.0.input_schema.properties.\\ud800: a lone surrogate escape (\\ud800) in a key"
    )


def test_a_surrogate_pair_is_a_character_not_an_error(url: str) -> None:
    body = _set(conversation(), ("messages", 0, "content", 0, "text"), "smile \U0001f600")
    assert _post(url, "/v1/messages", False, body).status_code == 200


def _nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    return value


def _deep_text(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


# Where arbitrary JSON may sit -> (the path that holds it, its depth: the containers above it).
DEEP_PLACES: list[tuple[tuple[Any, ...], str, int]] = [
    (("tools", 0, "input_schema", "properties"), "tools.0.input_schema.properties", 4),
    (("messages", 1, "content", 0, "input"), "messages.1.content.0.input", 5),
    (("metadata",), "metadata", 1),
    (("output_config",), "output_config", 1),
    (("unknown_field",), "unknown_field", 1),
]


@pytest.mark.parametrize(("path", "stream"), ENDPOINTS)
@pytest.mark.parametrize(("place", "named", "above"), DEEP_PLACES, ids=[p[1] for p in DEEP_PLACES])
@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1025, 1100, 50_000])
def test_nesting_too_deep_is_a_400_naming_its_path(
    upstream: FakeUpstream,
    url: str,
    path: str,
    stream: bool,
    place: tuple[Any, ...],
    named: str,
    above: int,
    depth: int,
) -> None:
    marker = "NESTED-HERE"
    body = _set(conversation(), place, marker)
    if stream:
        body["stream"] = True
    raw = json.dumps(body).replace(f'"{marker}"', _deep_text(depth - above)).encode()
    response = httpx.post(url + path, content=raw, headers=JSON, timeout=60)
    message = _error(response)
    assert message.startswith(f"{named}.a.a.a.a")
    assert message.endswith(f"chars]: JSON nested more than {MAX_DEPTH} levels deep")
    assert upstream.requests == []


@pytest.mark.parametrize(("path", "stream"), ENDPOINTS)
@pytest.mark.parametrize(("place", "named", "above"), DEEP_PLACES, ids=[p[1] for p in DEEP_PLACES])
def test_nesting_up_to_the_limit_is_served(
    url: str, path: str, stream: bool, place: tuple[Any, ...], named: str, above: int
) -> None:
    response = _post(url, path, stream, _set(conversation(), place, _nested(MAX_DEPTH - above)))
    assert response.status_code == 200, response.text


def test_the_limit_is_where_orjson_stops_encoding() -> None:
    """The check is orjson's encoder: if a new orjson moved its limit, MAX_DEPTH must move with it."""
    orjson.dumps(_nested(MAX_DEPTH))  # MAX_DEPTH objects, one inside the other
    with pytest.raises(TypeError):
        orjson.dumps(_nested(MAX_DEPTH + 1))


# Any JSON value with one lone surrogate somewhere: where it is, the path the error must name.
_keys = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=8)
_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(st.characters(codec="utf-8"), max_size=8)
)
_values = st.recursive(
    _leaves, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=4))
)


@st.composite
def _with_a_surrogate(draw: st.DrawFn) -> tuple[Any, str]:
    value = draw(_values)
    path: list[str] = []
    node: Any = value
    # Walk down a random branch, then put the surrogate in a string there.
    while isinstance(node, dict | list) and node and draw(st.booleans()):
        key = draw(st.sampled_from(list(node.keys()) if isinstance(node, dict) else list(range(len(node)))))
        path.append(str(key))
        if not isinstance(node[key], dict | list):
            node[key] = "x" + LONE
            return value, ".".join(path)
        node = node[key]
    if isinstance(node, dict):
        node["k"] = LONE
        path.append("k")
    elif isinstance(node, list):
        node.append(LONE)
        path.append(str(len(node) - 1))
    else:
        return LONE, ""
    return value, ".".join(path)


@settings(max_examples=60, deadline=None)
@given(_with_a_surrogate())
def test_a_lone_surrogate_in_any_value_is_named_exactly(case: tuple[Any, str]) -> None:
    from claude_any.runtime.errors import AnthropicError
    from claude_any.runtime.serve.access_log import printable
    from claude_any.runtime.serve.request_body import parse_object

    value, where = case
    raw = json.dumps({"metadata": value}).encode()
    with pytest.raises(AnthropicError) as info:
        parse_object(raw)
    named = printable("metadata." + where if where else "metadata")
    assert info.value.status == 400
    assert info.value.message.startswith(f"{named}: a lone surrogate escape")
