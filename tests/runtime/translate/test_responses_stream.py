"""Responses API events in any byte split -> Anthropic SSE the official SDK accepts, and the whole-response
translation of the same scenarios (client-facing JSON and SSE are snapshotted side by side)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fixed_ids import counter_ids
from hypothesis import given, settings
from hypothesis import strategies as st
from responses_upstream import (
    event,
    failed_events,
    function_call,
    message,
    reasoning,
    response_json,
    stream_events,
    usage,
)
from sse_check import check_anthropic_sse, sdk_message
from syrupy.assertion import SnapshotAssertion
from test_stream import MODEL

from claude_any.runtime.errors import AnthropicError
from claude_any.runtime.translate.responses.response import ResponsesContext, from_responses
from claude_any.runtime.translate.responses.stream import ResponsesStreamTranslator
from claude_any.runtime.translate.signatures import decode_signature, encode_signature
from claude_any.runtime.translate.tools import ToolNameMap

UPSTREAM_MODEL = "gpt-5.4"
READ_A = {"file_path": "/repo/a.py"}


def ctx(
    *, stops: tuple[str, ...] = (), names: ToolNameMap | None = None, provider: str = "fake"
) -> ResponsesContext:
    return ResponsesContext(
        requested_model=MODEL,
        stream=True,
        tool_names=names or ToolNameMap(),
        estimated_input_tokens=1200,
        stop_sequences=stops,
        upstream_model=UPSTREAM_MODEL,
        provider=provider,
    )


def run(raw: bytes, context: ResponsesContext | None = None, pieces: Iterator[bytes] | None = None) -> str:
    translator = ResponsesStreamTranslator(context or ctx(), make_id=counter_ids())
    out = translator.start()
    for piece in pieces if pieces is not None else [raw]:
        out += translator.feed(piece)
        if translator.done:
            break
    out += translator.finish()
    return out.decode()


def frames(output: list[dict[str, Any]], use: dict[str, Any] | None = None, **kw: Any) -> bytes:
    return "".join(stream_events(output, use, **kw)).encode()


# The chat path's scenarios (test_stream.py / test_response.py), as Responses output items.
OUTPUTS: dict[str, tuple[list[dict[str, Any]], dict[str, Any]]] = {
    "plain_text": ([message("Hello, world.")], usage(1500, 4)),
    "text_then_tool_call": (
        [message("I'll read it."), function_call("call_read1", "Read", READ_A)],
        usage(900, 60),
    ),
    "parallel_tools": (
        [
            message("I'll read both files."),
            function_call("call_a", "Read", READ_A),
            function_call("call_b", "Read", {"file_path": "/repo/b.py"}),
        ],
        usage(900, 60),
    ),
    "reasoning_with_encrypted_content_then_tool": (
        [
            reasoning("The user wants the file.", "Read it first.", encrypted="gAAAAB-enc"),
            function_call("call_r", "Read", READ_A),
        ],
        usage(400, 90, cached=256, reasoning_tokens=64),
    ),
    "reasoning_without_summary": ([reasoning(encrypted="gAAAAB-silent"), message("Done.")], usage(50, 30)),
    "structured_output": ([message('{"title": "Fix the parser", "tags": []}')], usage(80, 12)),
    "empty_output": ([], usage(10, 0)),
}


@pytest.mark.parametrize("name", list(OUTPUTS))
def test_scenario_sse_and_json(name: str, snapshot: SnapshotAssertion) -> None:
    output, use = OUTPUTS[name]
    text = run(frames(output, use))
    check_anthropic_sse(text)
    streamed = sdk_message(text.encode()).model_dump(mode="json", exclude_none=True)
    whole = from_responses(response_json(output, use), ctx(), make_id=counter_ids())
    assert {"sse": text, "json": whole} == snapshot
    # The stream and the whole response build the same message.
    assert streamed["content"] == whole["content"]
    assert streamed["stop_reason"] == whole["stop_reason"]
    assert streamed["usage"]["output_tokens"] == whole["usage"]["output_tokens"]


def test_reasoning_thinking_blocks_carry_the_encrypted_content() -> None:
    output, use = OUTPUTS["reasoning_with_encrypted_content_then_tool"]
    message_ = sdk_message(run(frames(output, use)).encode())
    thinking, tool_use = message_.content
    assert thinking.type == "thinking" and tool_use.type == "tool_use"
    assert thinking.thinking == "The user wants the file.\n\nRead it first."
    assert decode_signature(thinking.signature, UPSTREAM_MODEL) == "gAAAAB-enc"
    assert decode_signature(thinking.signature, "o3") is None  # only the same model gets it back
    assert tool_use.id == "call_r" and tool_use.input == READ_A
    assert message_.stop_reason == "tool_use"
    assert (message_.usage.input_tokens, message_.usage.cache_read_input_tokens) == (144, 256)
    assert message_.usage.output_tokens == 90


def test_any_byte_split_gives_the_same_stream() -> None:
    output, use = OUTPUTS["reasoning_with_encrypted_content_then_tool"]
    raw = frames(output, use)
    whole = run(raw)
    one_by_one = run(raw, pieces=iter([raw[i : i + 1] for i in range(len(raw))]))
    assert one_by_one == whole


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=400), min_size=1, max_size=12))
def test_random_splits(cuts: list[int]) -> None:
    raw = frames(*OUTPUTS["parallel_tools"])
    pieces, at = [], 0
    for size in cuts:
        pieces.append(raw[at : at + size])
        at += size
    pieces.append(raw[at:])
    assert run(raw, pieces=iter(pieces)) == run(raw)


def test_incomplete_max_output_tokens_withholds_the_cut_call_and_keeps_the_text() -> None:
    # `timeout: 12` may have been `120`: a call the limit cut is not passed on, even when it would parse.
    output = [message("Listing."), function_call("call_t", "Bash", '{"command": "ls -la", "timeout": 12')]
    text = run(frames(output, usage(100, 4096), incomplete="max_output_tokens"))
    check_anthropic_sse(text)
    message_ = sdk_message(text.encode())
    assert message_.stop_reason == "max_tokens"
    assert [b.type for b in message_.content] == ["text"]
    whole = from_responses(response_json(output, status="incomplete", incomplete="max_output_tokens"), ctx())
    assert whole["stop_reason"] == "max_tokens"
    assert [b["type"] for b in whole["content"]] == ["text"]


@pytest.mark.parametrize("arguments", ['{"command": "rm -rf /tmp/x', '{"a": 1, "b": tru', "not json"])
def test_a_completed_response_with_a_call_that_is_not_whole_is_an_error(arguments: str) -> None:
    output = [message("Cleaning up."), function_call("call_rm", "Bash", arguments)]
    text = run(frames(output, usage(100, 20)), ctx(provider="acme"))
    events = check_anthropic_sse(text)
    assert events[-1]["type"] == "error" and events[-1]["error"]["type"] == "api_error"
    assert events[-1]["error"]["message"].startswith("acme: tool call 'Bash'")
    assert '"tool_use"' not in text
    with pytest.raises(AnthropicError) as caught:
        from_responses(response_json(output), ctx(provider="acme"))
    assert caught.value.status == 502 and caught.value.message.startswith("acme: tool call 'Bash'")


def test_a_function_call_without_a_name_is_an_error() -> None:
    output = [function_call("call_x", "", {})]
    events = check_anthropic_sse(run(frames(output, usage(10, 2)), ctx(provider="acme")))
    assert events[-1]["error"]["message"] == "acme: the answer has a tool call without a name"
    with pytest.raises(AnthropicError, match="without a name"):
        from_responses(response_json(output), ctx(provider="acme"))


@pytest.mark.parametrize("tail", ["", "data: [DONE]\n\n"])
def test_a_stream_without_response_completed_ends_with_an_error(tail: str) -> None:
    raw = "".join(stream_events([message("Half an ans")], usage(10, 2))[:-1]) + tail
    text = run(raw.encode(), ctx(provider="acme"))
    events = check_anthropic_sse(text)
    assert events[-1] == {
        "type": "error",
        "error": {"type": "api_error", "message": "acme: the stream ended before the provider finished"},
    }
    assert "message_stop" not in text


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"id": "resp_1", "object": "response", "status": "completed"}, "no output"),
        ({"choices": [{"message": {"content": "wrong API"}}]}, "no output"),
        (response_json([message("not yet")], status="in_progress"), "not finished"),
        (response_json([], status="queued"), "not finished"),
    ],
)
def test_a_body_that_is_not_a_finished_response_is_an_error(body: dict[str, Any], says: str) -> None:
    with pytest.raises(AnthropicError) as caught:
        from_responses(body, ctx(provider="acme"))
    assert caught.value.status == 502 and says in caught.value.message
    assert caught.value.message.startswith("acme: ")


def test_an_error_object_in_a_200_maps_like_the_same_error_with_its_status() -> None:
    with pytest.raises(AnthropicError) as caught:
        from_responses(
            {"error": {"code": "rate_limit_exceeded", "message": "Slow down."}}, ctx(provider="acme")
        )
    assert (caught.value.status, caught.value.type) == (429, "rate_limit_error")
    assert caught.value.message == "acme: Slow down."


def test_content_filter_is_a_refusal() -> None:
    text = run(frames([message("I can")], incomplete="content_filter"))
    assert sdk_message(text.encode()).stop_reason == "refusal"


def test_interleaved_calls_are_emitted_one_after_another() -> None:
    a, b = function_call("call_a", "Read", READ_A), function_call("call_b", "Grep", {"pattern": "TODO"})
    at_a, at_b = {"item_id": a["id"], "output_index": 0}, {"item_id": b["id"], "output_index": 1}
    raw = "".join(
        [
            event("response.output_item.added", output_index=0, item={**a, "arguments": ""}),
            event("response.output_item.added", output_index=1, item={**b, "arguments": ""}),
            event("response.function_call_arguments.delta", **at_a, delta='{"file_path": '),
            event("response.function_call_arguments.delta", **at_b, delta='{"pattern": "TODO"}'),
            event("response.output_item.done", output_index=1, item=b),
            event("response.function_call_arguments.delta", **at_a, delta='"/repo/a.py"}'),
            event("response.output_item.done", output_index=0, item=a),
            event("response.completed", response=response_json([a, b])),
        ]
    ).encode()
    text = run(raw)
    check_anthropic_sse(text)
    blocks = sdk_message(text.encode()).content
    assert [(b.id, b.input) for b in blocks] == [("call_a", READ_A), ("call_b", {"pattern": "TODO"})]  # type: ignore[union-attr]


def test_servers_without_event_lines_or_deltas_still_translate() -> None:
    # Only `data:` lines, no per-token deltas: the done items carry everything.
    items = [reasoning("Short thought."), message("Whole text at once."), function_call("c1", "Read", READ_A)]
    raw = "".join(
        [f"data: {json.dumps({'type': 'response.output_item.done', 'item': i})}\n\n" for i in items]
        + [
            f"data: {json.dumps({'type': 'response.completed', 'response': response_json(items)})}\n\n",
            "data: [DONE]\n\n",
        ]
    ).encode()
    message_ = sdk_message(run(raw).encode())
    assert [b.type for b in message_.content] == ["thinking", "text", "tool_use"]
    assert message_.content[1].text == "Whole text at once."  # type: ignore[union-attr]


def test_stop_sequences_are_enforced_on_the_output() -> None:
    text = run(frames([message("one two STOP three")]), ctx(stops=("STOP",)))
    message_ = sdk_message(text.encode())
    assert message_.content[0].text == "one two "  # type: ignore[union-attr]
    assert (message_.stop_reason, message_.stop_sequence) == ("stop_sequence", "STOP")


def test_failed_response_and_error_events_become_error_events() -> None:
    for raw, kind in [
        ("".join(failed_events("rate_limit_exceeded", "Slow down.")), "rate_limit_error"),
        ("".join(failed_events("server_error")), "api_error"),
        (event("error", code="invalid_prompt", message="Bad prompt.", param=None), "invalid_request_error"),
    ]:
        events = check_anthropic_sse(run(raw.encode()))
        assert events[-1]["type"] == "error" and events[-1]["error"]["type"] == kind
    with pytest.raises(AnthropicError) as info:
        from_responses(
            response_json([], status="failed", error={"code": "server_error", "message": "x"}), ctx()
        )
    assert info.value.status == 500


def test_tool_names_are_mapped_back() -> None:
    names = ToolNameMap()
    upstream = names.to_upstream("mcp__server.with.dots__tool")
    text = run(frames([function_call("c1", upstream, {})]), ctx(names=names))
    assert sdk_message(text.encode()).content[0].name == "mcp__server.with.dots__tool"  # type: ignore[union-attr]


def test_signature_round_trip() -> None:
    sig = encode_signature("abc.def", "gpt-5.4")
    assert decode_signature(sig, "gpt-5.4") == "abc.def"
    assert decode_signature("ca1.0123", "gpt-5.4") is None and decode_signature(None, "gpt-5.4") is None
