"""Property tests (hypothesis): whatever a client sends, the gateway answers with a mapped error, not a crash.

- random Anthropic requests, valid and slightly invalid, through the app's checks and the translator: either a
  Chat Completions body or an AnthropicError 400 naming what is wrong;
- random upstream byte streams, split anywhere, through the stream translator: never an exception, and the
  transcript always keeps the Anthropic event grammar and ends cleanly;
- the same random requests over real loopback HTTP (fewer examples): never a 500.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
from faults import fake_provider, resilient_table
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from json_paths import json_paths
from loopback import FakeUpstream, Reply
from translate.sse_check import check_anthropic_sse

from claude_any.capabilities import lookup
from claude_any.runtime.errors import AnthropicError
from claude_any.runtime.serve.request_body import check_messages_request
from claude_any.runtime.translate.chat.request import to_openai
from claude_any.runtime.translate.chat.stream import StreamTranslator
from claude_any.runtime.translate.context import Context, Upstream
from claude_any.table import empty_params

UPSTREAMS = [
    Upstream(model, lookup(kind, model), {**empty_params(), **params}, kind)
    for kind, model, params in [
        ("openai", "gpt-4o", {}),
        ("openai", "o3", {"reasoning_effort": "high"}),
        ("openai", "gpt-5.4", {"max_tokens": 1000}),
        ("databricks", "databricks-claude-sonnet-4", {}),
        ("azure", "gpt-4.1", {"temperature": 0.2}),
    ]
]

# --- random requests ---------------------------------------------------------------------------------------

JSON_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),  # a client cannot send NaN or Infinity as JSON
    st.text(max_size=12),
)
ANY_JSON = st.recursive(
    JSON_LEAF,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
NAMES = st.sampled_from(["Read", "Bash", "mcp__server__tool.name", "x" * 70, "Wéird name", ""])
TEXT = st.text(max_size=40)
B64 = st.sampled_from(["iVBORw0KGgo=", "", "not base64!", "JVBERi0xLjQ="])

TEXT_BLOCK = st.fixed_dictionaries(
    {"type": st.just("text"), "text": TEXT},
    optional={"cache_control": st.just({"type": "ephemeral"}), "citations": ANY_JSON},
)
IMAGE_BLOCK = st.fixed_dictionaries(
    {
        "type": st.just("image"),
        "source": st.one_of(
            st.fixed_dictionaries(
                {
                    "type": st.just("base64"),
                    "media_type": st.sampled_from(["image/png", "image/gif", "x"]),
                    "data": B64,
                }
            ),
            st.fixed_dictionaries({"type": st.just("url"), "url": TEXT}),
        ),
    }
)
DOCUMENT_BLOCK = st.fixed_dictionaries(
    {
        "type": st.just("document"),
        "source": st.fixed_dictionaries(
            {"type": st.sampled_from(["base64", "text"]), "media_type": TEXT, "data": B64}
        ),
    }
)
TOOL_USE = st.fixed_dictionaries(
    {
        "type": st.just("tool_use"),
        "id": TEXT,
        "name": NAMES,
        "input": st.dictionaries(st.text(max_size=5), ANY_JSON),
    }
)
TOOL_RESULT = st.fixed_dictionaries(
    {"type": st.just("tool_result"), "tool_use_id": TEXT},
    optional={
        "content": st.one_of(TEXT, st.lists(st.one_of(TEXT_BLOCK, IMAGE_BLOCK), max_size=2)),
        "is_error": st.booleans(),
    },
)
THINKING = st.fixed_dictionaries({"type": st.just("thinking"), "thinking": TEXT, "signature": TEXT})
OTHER_BLOCK = st.fixed_dictionaries(
    {"type": st.sampled_from(["redacted_thinking", "server_tool_use", "web_search_tool_result", "mystery"])},
    optional={"data": TEXT, "id": TEXT, "name": NAMES, "input": ANY_JSON, "content": ANY_JSON},
)
BLOCK = st.one_of(TEXT_BLOCK, IMAGE_BLOCK, DOCUMENT_BLOCK, TOOL_USE, TOOL_RESULT, THINKING, OTHER_BLOCK)
MESSAGE = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["user", "assistant", "user", "system", "tool"]),
        "content": st.one_of(TEXT, st.lists(BLOCK, max_size=4)),
    }
)
TOOL = st.fixed_dictionaries(
    {"name": NAMES, "input_schema": st.one_of(st.just({"type": "object", "properties": {}}), ANY_JSON)},
    optional={
        "description": TEXT,
        "type": st.sampled_from(["custom", "web_search_20250305", "bash_20250124"]),
        "defer_loading": st.booleans(),
    },
)
REQUEST = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["claude-sonnet-4-6", "claude-opus-4-8", "claude-haiku-4-5", "x"]),
        "messages": st.lists(MESSAGE, max_size=4),
    },
    optional={
        "max_tokens": st.one_of(st.integers(-5, 10**7), JSON_LEAF),
        "system": st.one_of(TEXT, st.lists(TEXT_BLOCK, max_size=2)),
        "tools": st.lists(TOOL, max_size=3),
        "tool_choice": st.fixed_dictionaries(
            {"type": st.sampled_from(["auto", "any", "tool", "none", "bogus"])}, optional={"name": NAMES}
        ),
        "thinking": st.one_of(
            st.fixed_dictionaries(
                {"type": st.sampled_from(["enabled", "adaptive", "disabled"])},
                optional={"budget_tokens": st.integers(-1, 10**6)},
            ),
            ANY_JSON,
        ),
        "output_config": st.fixed_dictionaries({}, optional={"effort": TEXT, "format": ANY_JSON}),
        "stop_sequences": st.one_of(st.lists(TEXT, max_size=5), ANY_JSON),
        "temperature": st.one_of(st.floats(-1, 3), JSON_LEAF),
        "top_p": st.floats(0, 1),
        "top_k": st.integers(0, 500),
        "stream": st.booleans(),
        "metadata": ANY_JSON,
        "service_tier": TEXT,
    },
)


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    """A generated request, then (usually) one or two nodes replaced by any JSON value or deleted."""
    # A copy: st.just() hands out the same dict to every example, and the mutations below are in place.
    body: dict[str, Any] = copy.deepcopy(draw(REQUEST))
    for _ in range(draw(st.integers(0, 2))):
        paths = json_paths(body)[1:]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent: Any = body
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(ANY_JSON)
    return body


def _answer(body: dict[str, Any], up: Upstream) -> dict[str, Any] | AnthropicError:
    """What the gateway does before calling upstream: the app's checks, then the translator."""
    try:
        check_messages_request(body)
        sent, _ = to_openai(copy.deepcopy(body), up)
    except AnthropicError as err:
        return err
    return sent


# Found by the HTTP variant below: a block whose `type` is not a string (here a list).
UNHASHABLE_TYPE = {"model": "m", "messages": [{"role": "user", "content": [{"type": ["text"]}]}]}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=requests(), up=st.sampled_from(UPSTREAMS))
@example(body=UNHASHABLE_TYPE, up=UPSTREAMS[0])
def test_any_request_translates_or_is_a_400(body: dict[str, Any], up: Upstream) -> None:
    result = _answer(body, up)
    if isinstance(result, AnthropicError):
        assert (result.status, result.type) == (400, "invalid_request_error"), repr(result)
        assert result.message
        return
    json.dumps(result)  # the body sent upstream is plain JSON
    assert result["model"] == up.model
    assert isinstance(result["messages"], list)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=REQUEST, up=st.sampled_from(UPSTREAMS))
def test_well_formed_requests_always_translate(body: dict[str, Any], up: Upstream) -> None:
    """Unknown fields, block types and odd values are dropped or degraded, never refused (docs/PROTOCOL.md),
    as long as the JSON types of the known fields are right."""
    body["max_tokens"] = 1000
    for message in body["messages"]:
        message["role"] = "user" if message["role"] not in ("user", "assistant") else message["role"]
    result = _answer(body, up)
    if isinstance(result, AnthropicError):  # only wrong JSON types may be refused, and then with a path
        assert result.status == 400 and ":" in result.message, repr(result)


# --- random upstream streams -------------------------------------------------------------------------------

OPENAI_DELTA = st.one_of(
    st.fixed_dictionaries({}, optional={"role": st.just("assistant"), "content": st.one_of(TEXT, st.none())}),
    st.fixed_dictionaries({"reasoning_content": TEXT}),
    st.fixed_dictionaries(
        {
            "tool_calls": st.lists(
                st.fixed_dictionaries(
                    {"index": st.integers(0, 2)},
                    optional={
                        "id": TEXT,
                        "type": st.just("function"),
                        "function": st.fixed_dictionaries({}, optional={"name": NAMES, "arguments": TEXT}),
                    },
                ),
                max_size=2,
            )
        }
    ),
)
OPENAI_CHUNK = st.one_of(
    st.builds(
        lambda delta, finish: {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]},
        OPENAI_DELTA,
        st.sampled_from([None, None, "stop", "length", "tool_calls", "content_filter", "weird"]),
    ),
    st.fixed_dictionaries({"usage": st.fixed_dictionaries({"prompt_tokens": st.integers(0, 99)})}),
    st.fixed_dictionaries({"error": st.fixed_dictionaries({"message": TEXT})}),
    ANY_JSON,
)
LINE = st.one_of(
    OPENAI_CHUNK.map(lambda c: f"data: {json.dumps(c)}\n\n"),
    st.sampled_from(["data: [DONE]\n\n", ": keep-alive\n\n", "event: ping\n", "\n", "data: {broken\n\n"]),
    st.text(max_size=20),
)


def _context() -> Context:
    return Context(requested_model="claude-sonnet-4-6", stream=True, estimated_input_tokens=10)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(LINE, max_size=12), cuts=st.lists(st.integers(0, 400), max_size=6))
def test_any_upstream_stream_keeps_the_grammar(lines: list[str], cuts: list[int]) -> None:
    raw = "".join(lines).encode("utf-8")
    translator = StreamTranslator(_context())
    out = [translator.start()]
    last = 0
    for cut in sorted({min(c, len(raw)) for c in cuts}) + [len(raw)]:
        out.append(translator.feed(raw[last:cut]))
        out.append(translator.ping())
        last = cut
    out.append(translator.finish())
    events = check_anthropic_sse(b"".join(out).decode("utf-8"))
    if events[-1]["type"] == "message_stop":
        # Complete only where the provider said so: a finish_reason or [DONE] is in what it sent.
        assert b"[DONE]" in raw or b'"finish_reason": "' in raw


JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


def _strings(value: Any) -> set[str]:
    """Every string in a JSON value, keys included."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, list):
        return set().union(*map(_strings, value)) if value else set()
    if isinstance(value, dict):
        return set(value).union(*map(_strings, value.values())) if value else set()
    return set()


@settings(max_examples=300, deadline=None)
@given(
    obj=st.dictionaries(st.text(max_size=5), JSON_VALUE, max_size=4),
    cut=st.integers(0, 10_000),
    finish=st.sampled_from(["tool_calls", "stop", "length", None]),
    done=st.booleans(),
)
def test_a_cut_tool_call_is_never_sent_as_a_whole_one(
    obj: dict[str, Any], cut: int, finish: str | None, done: bool
) -> None:
    text = json.dumps(obj)
    arguments = text[: cut % (len(text) + 1)]
    call = {"index": 0, "id": "c", "type": "function", "function": {"name": "T", "arguments": arguments}}
    lines = [{"choices": [{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": None}]}]
    lines.append({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    raw = "".join(f"data: {json.dumps(line)}\n\n" for line in lines) + ("data: [DONE]\n\n" if done else "")
    translator = StreamTranslator(_context())
    out = translator.start() + translator.feed(raw.encode()) + translator.finish()
    events = check_anthropic_sse(out.decode("utf-8"))
    inputs = [
        json.loads(e["delta"]["partial_json"])
        for e in events
        if e.get("delta", {}).get("type") == "input_json_delta"
    ]
    if arguments == text and (finish or done):
        assert inputs == [obj]  # whole arguments go through untouched
    for value in inputs:
        # Closing brackets at most were added: no string was completed, no key or value made up.
        assert _strings(value) <= _strings(obj)
    if finish == "length" and arguments != text:
        assert inputs == []  # the limit cut it: withheld


# --- over HTTP ---------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=requests())
def test_random_requests_over_http_never_500(
    body: dict[str, Any], upstream: FakeUpstream, gateway: Any
) -> None:
    url = gateway(resilient_table([fake_provider(upstream.url)]))
    upstream.reset()
    upstream.script(Reply(json={"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}))
    body["stream"] = False
    response = httpx.post(url + "/v1/messages", json=body, timeout=10)
    assert response.status_code in (200, 400, 404), response.text
    if response.status_code != 200:
        assert response.json()["type"] == "error"
