"""The streaming state machine: OpenAI chunks in any byte split -> Anthropic SSE the official SDK accepts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from fixed_ids import counter_ids
from hypothesis import given, settings
from hypothesis import strategies as st
from sse_check import check_anthropic_sse, sdk_message
from syrupy.assertion import SnapshotAssertion

from claude_any.runtime.errors import MAX_SHOWN_MESSAGE, AnthropicError
from claude_any.runtime.translate.chat.stream import StreamTranslator
from claude_any.runtime.translate.context import Context
from claude_any.runtime.translate.tools import ToolNameMap

MODEL = "claude-sonnet-4-5-20250929"


def ctx(*, stops: tuple[str, ...] = (), names: ToolNameMap | None = None, provider: str = "fake") -> Context:
    return Context(
        requested_model=MODEL,
        stream=True,
        tool_names=names or ToolNameMap(),
        estimated_input_tokens=1200,
        stop_sequences=stops,
        provider=provider,
    )


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-2024-08-06",
        "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}],
        "usage": None,
    }
    body.update(extra)
    return body


def usage_chunk(prompt: int, completion: int, cached: int = 0, reasoning: int = 0) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "choices": [],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached},
        },
    }
    if reasoning:
        body["usage"]["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return body


def call(index: int, *, id: str | None = None, name: str | None = None, args: Any = None) -> dict[str, Any]:
    function: dict[str, Any] = {}
    if name is not None:
        function["name"] = name
    if args is not None:
        function["arguments"] = args
    fragment: dict[str, Any] = {"index": index, "function": function}
    if id is not None:
        fragment.update(id=id, type="function")
    return fragment


def sse(chunks: list[dict[str, Any]], *, done: bool = True) -> bytes:
    text = "".join(f"data: {json.dumps(c, ensure_ascii=False)}\n\n" for c in chunks)
    return (text + ("data: [DONE]\n\n" if done else "")).encode()


def run(raw: bytes, context: Context | None = None, pieces: Iterator[bytes] | None = None) -> str:
    translator = StreamTranslator(context or ctx(), make_id=counter_ids())
    out = translator.start()
    for piece in pieces if pieces is not None else [raw]:
        out += translator.feed(piece)
    out += translator.finish()
    return out.decode()


# --- scenarios: upstream byte streams ---------------------------------------------------------------------

READ_A = '{"file_path": "/repo/a.py"}'

SCENARIOS: dict[str, bytes] = {
    "plain_text": sse(
        [
            chunk({"role": "assistant", "content": ""}),
            chunk({"content": "Hello"}),
            chunk({"content": ", world."}),
            chunk({}, "stop"),
            usage_chunk(1500, 4),
        ]
    ),
    "text_then_tool_call": sse(
        [
            chunk({"role": "assistant", "content": "I'll read it."}),
            chunk({"tool_calls": [call(0, id="call_read1", name="Read", args="")]}),
            chunk({"tool_calls": [call(0, args='{"file_path": ')]}),
            chunk({"tool_calls": [call(0, args='"/repo/a.py"}')]}),
            chunk({}, "tool_calls"),
            usage_chunk(900, 60),
        ]
    ),
    "parallel_tools_sequential": sse(
        [
            chunk({"role": "assistant", "content": "I'll read both files."}),
            chunk({"tool_calls": [call(0, id="call_a", name="Read", args="")]}),
            chunk({"tool_calls": [call(0, args=READ_A)]}),
            chunk({"tool_calls": [call(1, id="call_b", name="Read", args="")]}),
            chunk({"tool_calls": [call(1, args='{"file_path": "/repo/b.py"}')]}),
            chunk({}, "tool_calls"),
            usage_chunk(900, 60),
        ]
    ),
    "parallel_tools_interleaved": sse(
        [
            chunk({"tool_calls": [call(0, id="call_a", name="Read", args="")]}),
            chunk({"tool_calls": [call(1, id="call_b", name="Grep", args="")]}),
            chunk({"tool_calls": [call(0, args='{"file_pa')]}),
            chunk({"tool_calls": [call(1, args='{"pattern": "TODO"')]}),
            chunk({"tool_calls": [call(0, args='th": "/repo/a.py"}')]}),
            chunk({"tool_calls": [call(1, args="}")]}),
            chunk({}, "tool_calls"),
        ]
    ),
    "arguments_in_one_chunk": sse(
        [chunk({"tool_calls": [call(0, id="call_x", name="Read", args=READ_A)]}), chunk({}, "tool_calls")]
    ),
    "arguments_in_pieces": sse(
        [chunk({"tool_calls": [call(0, id="call_x", name="Read", args="")]})]
        + [chunk({"tool_calls": [call(0, args=READ_A[i : i + 3])]}) for i in range(0, len(READ_A), 3)]
        + [chunk({}, "tool_calls")]
    ),
    "arguments_as_dict": sse(
        [
            chunk({"tool_calls": [call(0, id="call_x", name="Read", args={"file_path": "/repo/a.py"})]}),
            chunk({}, "tool_calls"),
        ]
    ),
    "reasoning_content_deltas": sse(
        [
            chunk({"role": "assistant", "content": None, "reasoning_content": "The user wants "}),
            chunk({"reasoning_content": "a greeting."}),
            chunk({"content": "Hi!"}),
            chunk({}, "stop"),
            usage_chunk(40, 12, reasoning=9),
        ]
    ),
    "reasoning_field_deltas": sse(
        [
            chunk({"role": "assistant", "reasoning": "Check the file first."}),
            chunk({"tool_calls": [call(0, id="call_r", name="Read", args=READ_A)]}),
            chunk({}, "tool_calls"),
        ]
    ),
    "usage_only_final_chunk_with_cache": sse(
        [chunk({"content": "Cached answer."}), chunk({}, "stop"), usage_chunk(16000, 310, cached=15872)]
    ),
    "azure_filter_chunks": sse(
        [
            {
                "id": "",
                "object": "",
                "created": 0,
                "model": "",
                "choices": [],
                "prompt_filter_results": [
                    {
                        "prompt_index": 0,
                        "content_filter_results": {"hate": {"filtered": False, "severity": "safe"}},
                    }
                ],
            },
            chunk({"role": "assistant", "content": ""}),
            chunk({"content": "Filtered fine."}),
            chunk({}, content_filter_results={"hate": {"filtered": False, "severity": "safe"}}),
            chunk({}, "stop"),
        ]
    ),
    "single_fake_stream_chunk": sse(
        [
            chunk(
                {
                    "role": "assistant",
                    "content": "Running it.",
                    "tool_calls": [call(0, id="call_1", name="Bash", args='{"command": "ls"}')],
                },
                "tool_calls",
                usage={"prompt_tokens": 80, "completion_tokens": 9, "total_tokens": 89},
            )
        ]
    ),
    "finish_stop_with_tool_calls": sse(
        [
            chunk({"tool_calls": [call(0, id="call_1", name="Bash", args='{"command": "pwd"}')]}),
            chunk({}, "stop"),
        ]
    ),
    "truncated_tool_json_with_length": sse(
        [
            chunk({"content": "Writing it."}),
            chunk({"tool_calls": [call(0, id="call_w", name="Write", args='{"file_path": "/a.txt", ')]}),
            chunk({"tool_calls": [call(0, args='"content": "partial te')]}),
            chunk({}, "length"),
        ]
    ),
    "no_content_at_all": sse([chunk({"role": "assistant", "content": ""}), chunk({}, "stop")]),
    "no_usage_estimated": sse([chunk({"content": "x" * 400}), chunk({}, "stop")], done=False),
    "databricks_list_content": sse(
        [
            chunk(
                {
                    "content": [
                        {
                            "type": "reasoning",
                            "summary": [{"type": "summary_text", "text": "Plan.", "signature": "sig-db-1"}],
                        }
                    ]
                },
                usage={"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
            ),
            chunk(
                {"content": [{"type": "text", "text": "Done."}]},
                usage={"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
            ),
            chunk({}, "stop", usage={"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14}),
        ]
    ),
    "databricks_placeholder_arguments": sse(
        [
            chunk({"tool_calls": [call(0, id="call_d", name="Read", args="{}")]}),
            chunk({"tool_calls": [call(0, args=READ_A)]}),
            chunk({}, "tool_calls"),
        ]
    ),
    "ollama_same_index_new_id": sse(
        [
            chunk({"tool_calls": [call(0, id="call_o1", name="Read", args=READ_A)]}),
            chunk({"tool_calls": [call(0, id="call_o2", name="Read", args='{"file_path": "/repo/b.py"}')]}),
            chunk({}, "stop"),
        ]
    ),
    "think_tags_in_content": sse(
        [
            chunk({"content": "<th"}),
            chunk({"content": "ink>Reason "}),
            chunk({"content": "here.</thi"}),
            chunk({"content": "nk>\n\nAnswer."}),
            chunk({}, "stop"),
        ]
    ),
    "text_after_tool_calls": sse(
        [
            chunk({"tool_calls": [call(0, id="call_1", name="Read", args=READ_A)]}),
            chunk({"content": "\n\n"}),
            chunk({"content": "Also, note this."}),
            chunk({}, "tool_calls"),
        ]
    ),
    "duplicate_and_invalid_tool_ids": sse(
        [
            chunk({"tool_calls": [call(0, id="call same!", name="Read", args=READ_A)]}),
            chunk({"tool_calls": [call(1, id="dup", name="Read", args=READ_A)]}),
            chunk({"tool_calls": [call(2, id="dup", name="Read", args=READ_A)]}),
            chunk({}, "tool_calls"),
        ]
    ),
    "data_lines_without_blank_lines": (
        b"data: " + json.dumps(chunk({"content": "one "})).encode() + b"\n"
        b"data: " + json.dumps(chunk({"content": "two"}, "stop")).encode() + b"\n"
        b"data: [DONE]\n"
    ),
    "crlf_comments_and_event_lines": (
        b": OPENROUTER PROCESSING\r\n\r\n"
        b"event: message\r\ndata: " + json.dumps(chunk({"content": "Hi"})).encode() + b"\r\n\r\n"
        b": keep-alive\r\n\r\n"
        b"data: " + json.dumps(chunk({}, "stop")).encode() + b"\r\n\r\n"
        b"data: [DONE]\r\n\r\n"
    ),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_transcript(name: str, snapshot: SnapshotAssertion) -> None:
    text = run(SCENARIOS[name])
    check_anthropic_sse(text)
    assert text == snapshot


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_sdk_accepts_scenario(name: str) -> None:
    text = run(SCENARIOS[name])
    message = sdk_message(text.encode())
    assert message.model == MODEL
    assert message.stop_reason is not None
    assert message.usage.input_tokens > 0


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(SCENARIOS)), cuts=st.lists(st.integers(min_value=0), max_size=12))
def test_any_split_equals_one_feed(name: str, cuts: list[int]) -> None:
    raw = SCENARIOS[name]
    points = sorted({c % (len(raw) + 1) for c in cuts})
    pieces = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    assert run(raw, pieces=iter(pieces)) == run(raw)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_byte_at_a_time_equals_one_feed(name: str) -> None:
    raw = SCENARIOS[name]
    whole = run(raw)
    bytewise = run(raw, pieces=(raw[i : i + 1] for i in range(len(raw))))
    assert bytewise == whole


def accumulated(text: str) -> Any:
    """The SDK's message for our SSE text; Any because tests reach into specific block types."""
    return sdk_message(text.encode())


def final(name: str) -> Any:
    return accumulated(run(SCENARIOS[name]))


def test_text_then_tool_call_content() -> None:
    message = final("text_then_tool_call")
    assert [b.type for b in message.content] == ["text", "tool_use"]
    tool = message.content[1]
    assert tool.type == "tool_use"
    assert (tool.id, tool.name, tool.input) == ("call_read1", "Read", {"file_path": "/repo/a.py"})
    assert message.stop_reason == "tool_use"
    assert message.usage.input_tokens == 900 and message.usage.output_tokens == 60


@pytest.mark.parametrize("name", ["parallel_tools_sequential", "parallel_tools_interleaved"])
def test_parallel_tool_calls(name: str) -> None:
    tools = [b for b in final(name).content if b.type == "tool_use"]
    assert [(t.id, t.name) for t in tools][0] == ("call_a", "Read")
    assert tools[0].input == {"file_path": "/repo/a.py"}
    assert len(tools) == 2 and tools[1].id == "call_b"


def test_interleaved_arguments_are_kept_per_call() -> None:
    tools = [b for b in final("parallel_tools_interleaved").content if b.type == "tool_use"]
    assert tools[1].name == "Grep" and tools[1].input == {"pattern": "TODO"}


@pytest.mark.parametrize("name", ["arguments_in_one_chunk", "arguments_in_pieces", "arguments_as_dict"])
def test_argument_shapes_give_the_same_input(name: str) -> None:
    message = final(name)
    assert [(b.type, getattr(b, "input", None)) for b in message.content] == [
        ("tool_use", {"file_path": "/repo/a.py"})
    ]


@pytest.mark.parametrize("name", ["reasoning_content_deltas", "reasoning_field_deltas"])
def test_reasoning_becomes_a_signed_thinking_block(name: str) -> None:
    message = final(name)
    thinking = message.content[0]
    assert thinking.type == "thinking" and thinking.thinking and thinking.signature.startswith("ca2.")


def test_reasoning_tokens_reach_the_sdk() -> None:
    usage = final("reasoning_content_deltas").usage
    assert usage.output_tokens == 12 and usage.output_tokens_details.thinking_tokens == 9


def test_data_lines_without_blank_lines_are_read_one_by_one() -> None:
    message = final("data_lines_without_blank_lines")
    assert message.content[0].text == "one two"


def test_usage_chunk_after_finish_reason_is_used() -> None:
    usage = final("usage_only_final_chunk_with_cache").usage
    assert (usage.input_tokens, usage.cache_read_input_tokens, usage.output_tokens) == (128, 15872, 310)


def test_no_usage_is_estimated_not_zero() -> None:
    usage = final("no_usage_estimated").usage
    assert usage.input_tokens == 1200 and usage.output_tokens == 100


def test_fake_stream_single_chunk_keeps_everything() -> None:
    message = final("single_fake_stream_chunk")
    assert [b.type for b in message.content] == ["text", "tool_use"]
    assert message.stop_reason == "tool_use" and message.usage.output_tokens == 9


def test_finish_stop_with_tool_calls_is_tool_use() -> None:
    assert final("finish_stop_with_tool_calls").stop_reason == "tool_use"


def test_a_call_cut_by_length_is_withheld_the_text_kept_and_max_tokens() -> None:
    message = final("truncated_tool_json_with_length")
    assert message.stop_reason == "max_tokens"
    assert [(b.type, b.text) for b in message.content] == [("text", "Writing it.")]


def test_no_content_means_no_block() -> None:
    events = check_anthropic_sse(run(SCENARIOS["no_content_at_all"]))
    assert [e["type"] for e in events] == ["message_start", "ping", "message_delta", "message_stop"]
    assert events[2]["delta"]["stop_reason"] == "end_turn"


def test_databricks_signature_and_last_usage() -> None:
    message = final("databricks_list_content")
    assert message.content[0].type == "thinking" and message.content[0].signature == "sig-db-1"
    assert message.content[1].text == "Done."
    assert message.usage.output_tokens == 4


def test_same_index_with_new_id_is_a_new_call() -> None:
    tools = final("ollama_same_index_new_id").content
    assert [t.id for t in tools] == ["call_o1", "call_o2"]
    assert tools[1].input == {"file_path": "/repo/b.py"}


def test_think_tags_split_across_chunks() -> None:
    message = final("think_tags_in_content")
    assert [(b.type, getattr(b, "thinking", None) or getattr(b, "text", None)) for b in message.content] == [
        ("thinking", "Reason here."),
        ("text", "Answer."),
    ]


def test_whitespace_after_tools_dropped_real_text_kept() -> None:
    message = final("text_after_tool_calls")
    assert [b.type for b in message.content] == ["tool_use", "text"]
    assert message.content[1].text == "Also, note this."


def test_invalid_and_duplicate_ids_are_replaced() -> None:
    ids = [b.id for b in final("duplicate_and_invalid_tool_ids").content]
    assert ids[1] == "dup"
    assert ids[0].startswith("toolu_") and ids[2].startswith("toolu_") and len(set(ids)) == 3


def test_tool_names_are_mapped_back() -> None:
    names = ToolNameMap()
    upstream = names.to_upstream("mcp__github.server__create_pull_request")
    raw = sse(
        [chunk({"tool_calls": [call(0, id="call_1", name=upstream, args="{}")]}), chunk({}, "tool_calls")]
    )
    message = accumulated(run(raw, ctx(names=names)))
    assert message.content[0].name == "mcp__github.server__create_pull_request"


def test_utf8_split_inside_a_character() -> None:
    raw = sse([chunk({"content": "naïve café ☕ 日本語"}), chunk({}, "stop")])
    cut = raw.index("☕".encode()) + 1  # in the middle of the 3-byte character
    text = run(raw, pieces=iter([raw[:cut], raw[cut:]]))
    assert accumulated(text).content[0].text == "naïve café ☕ 日本語"
    assert text == run(raw)


# --- stop sequences ---------------------------------------------------------------------------------------


def test_stop_sequence_across_chunk_boundary() -> None:
    raw = sse([chunk({"content": "alpha beta EN"}), chunk({"content": "D_OF and more"}), chunk({}, "stop")])
    text = run(raw, ctx(stops=("END_OF",)))
    events = check_anthropic_sse(text)
    assert "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta") == "alpha beta "
    message_delta = next(e for e in events if e["type"] == "message_delta")
    assert message_delta["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "END_OF"}


def test_stop_sequence_holds_back_only_a_possible_prefix() -> None:
    translator = StreamTranslator(ctx(stops=("###",)), make_id=counter_ids())
    translator.start()
    out = translator.feed(sse([chunk({"content": "one two #"})], done=False)).decode()
    assert '"text":"one two "' in out  # the "#" might start the stop sequence: held
    out = translator.feed(sse([chunk({"content": "x"})], done=False)).decode()
    assert '"text":"#x"' in out  # it did not
    assert not translator.done


def test_stop_sequence_marks_done_and_ignores_later_tools() -> None:
    translator = StreamTranslator(ctx(stops=("STOP",)), make_id=counter_ids())
    translator.start()
    translator.feed(sse([chunk({"content": "a STOP b"})], done=False))
    assert translator.done
    out = translator.feed(sse([chunk({"tool_calls": [call(0, id="c", name="Read", args="{}")]})], done=False))
    assert b"tool_use" not in out
    translator.finish()
    assert translator.stop_reason == "stop_sequence"


def test_earliest_stop_sequence_wins() -> None:
    raw = sse([chunk({"content": "xx BBB yy AAA"}), chunk({}, "stop")])
    events = check_anthropic_sse(run(raw, ctx(stops=("AAA", "BBB"))))
    assert next(e for e in events if e["type"] == "message_delta")["delta"]["stop_sequence"] == "BBB"


# --- errors -----------------------------------------------------------------------------------------------


def test_malformed_data_line_ends_with_an_error_event() -> None:
    raw = sse([chunk({"content": "partial"})], done=False) + b"data: {not json\n\n"
    translator = StreamTranslator(ctx(), make_id=counter_ids())
    text = (translator.start() + translator.feed(raw)).decode()
    events = check_anthropic_sse(text)
    assert events[-1]["type"] == "error" and events[-1]["error"]["type"] == "api_error"
    assert translator.done and translator.failure is not None
    assert translator.finish() == b"" and translator.feed(b"data: [DONE]\n\n") == b""
    assert translator.stop_reason is None


def test_upstream_error_object_maps_by_status() -> None:
    error = {"error": {"message": "Rate limit reached", "type": "requests", "code": "429"}}
    raw = sse([chunk({"content": "Hel"}), error], done=False)
    translator = StreamTranslator(ctx(), make_id=counter_ids())
    events = check_anthropic_sse((translator.start() + translator.feed(raw) + translator.finish()).decode())
    assert events[-1]["error"]["type"] == "rate_limit_error"
    assert "Rate limit reached" in events[-1]["error"]["message"]
    with pytest.raises(anthropic.APIStatusError, match="Rate limit reached"):
        sdk_message(run(raw).encode())


def test_an_in_band_error_message_is_cut_like_every_error_shown() -> None:
    """A provider's mid-stream error text is the provider's to choose: it reaches the client cut to
    MAX_SHOWN_MESSAGE characters, as an error response's message is."""
    long = "x" * 50_000
    raw = sse([chunk({"content": "Hel"}), {"error": {"message": long, "type": "server_error"}}])
    events = check_anthropic_sse(run(raw))
    message = events[-1]["error"]["message"]
    assert len(message) == MAX_SHOWN_MESSAGE and message.endswith("…")


def test_openrouter_finish_reason_error() -> None:
    raw = sse([chunk({"content": "Hel"}), chunk({}, "error")])
    events = check_anthropic_sse(run(raw))
    assert events[-1]["type"] == "error"
    with pytest.raises(anthropic.APIStatusError):
        sdk_message(run(raw).encode())


def test_error_method_after_headers() -> None:
    translator = StreamTranslator(ctx(), make_id=counter_ids())
    head = translator.start() + translator.feed(sse([chunk({"content": "Hi"})], done=False))
    tail = translator.error(AnthropicError(529, "overloaded_error", "Overloaded"))
    events = check_anthropic_sse((head + tail).decode())
    assert events[-1] == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    assert translator.finish() == b"" and translator.error(AnthropicError(500, "api_error", "x")) == b""


# --- lifecycle --------------------------------------------------------------------------------------------


def test_done_after_done_marker_and_properties() -> None:
    translator = StreamTranslator(ctx(), make_id=counter_ids())
    translator.start()
    translator.feed(SCENARIOS["usage_only_final_chunk_with_cache"])
    assert translator.done and translator.stop_reason is None
    translator.finish()
    assert translator.stop_reason == "end_turn"
    assert translator.usage["input_tokens"] == 128 and translator.usage["output_tokens"] == 310
    assert translator.feed(b"data: {}\n\n") == b"" and translator.finish() == b""


def test_feed_before_start_still_starts_with_message_start() -> None:
    translator = StreamTranslator(ctx(), make_id=counter_ids())
    text = (translator.feed(SCENARIOS["plain_text"]) + translator.finish()).decode()
    assert check_anthropic_sse(text)[0]["type"] == "message_start"
    assert translator.start() == b""


def test_a_body_that_ends_without_finish_reason_or_done_ends_with_an_error() -> None:
    cut_in_text = sse(
        [chunk({"role": "assistant", "content": ""}), chunk({"content": "The answer is 4"})], done=False
    )
    for raw in (cut_in_text, b"", b": keep-alive\n\n", sse([usage_chunk(10, 2)], done=False)):
        translator = StreamTranslator(ctx(provider="acme"), make_id=counter_ids())
        text = run(raw, ctx(provider="acme"))
        events = check_anthropic_sse(text)
        assert events[-1] == {
            "type": "error",
            "error": {"type": "api_error", "message": "acme: the stream ended before the provider finished"},
        }
        assert "message_stop" not in text and "message_delta" not in text
        translator.start()
        translator.feed(raw)
        translator.finish()
        assert translator.failure is not None and translator.stop_reason is None
    with pytest.raises(anthropic.APIStatusError, match="the stream ended before the provider finished"):
        sdk_message(run(cut_in_text).encode())


def test_done_without_finish_reason_is_a_complete_answer() -> None:
    message = accumulated(run(sse([chunk({"content": "Hi."})], done=True)))
    assert message.content[0].text == "Hi." and message.stop_reason == "end_turn"


def test_finish_reason_without_done_is_a_complete_answer() -> None:
    message = accumulated(run(sse([chunk({"content": "Hi."}, "stop")], done=False)))
    assert message.content[0].text == "Hi." and message.stop_reason == "end_turn"


def test_eof_without_done_and_without_final_blank_line() -> None:
    raw = b"data: " + json.dumps(chunk({"content": "tail"}, "stop")).encode()  # no "\n\n", no [DONE]
    message = accumulated(run(raw))
    assert message.content[0].text == "tail" and message.stop_reason == "end_turn"


def test_message_start_skeleton() -> None:
    start = StreamTranslator(ctx(), make_id=counter_ids()).start().decode()
    first = check_anthropic_sse(start, complete=False)
    message = first[0]["message"]
    assert message["id"] == "msg_000000000000000000000001"
    assert message["usage"] == {
        "input_tokens": 1200,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 1,
    }
    assert first[1] == {"type": "ping"}


# --- tool calls: sent whole, or not at all ----------------------------------------------------------------


def tool_events(text: str) -> list[dict[str, Any]]:
    return [e for e in check_anthropic_sse(text) if e.get("content_block", {}).get("type") == "tool_use"]


def test_a_cut_string_in_a_finished_call_is_an_error_never_a_command() -> None:
    # The case: the path's end never arrived, and the provider still said tool_calls.
    raw = sse(
        [
            chunk({"content": "Cleaning up."}),
            chunk({"tool_calls": [call(0, id="call_rm", name="Bash", args='{"command": "rm -rf /tmp/x')]}),
            chunk({}, "tool_calls"),
        ]
    )
    text = run(raw, ctx(provider="acme"))
    events = check_anthropic_sse(text)
    assert tool_events(text) == [] and "rm -rf" not in text
    assert events[-1]["type"] == "error" and events[-1]["error"]["type"] == "api_error"
    assert events[-1]["error"]["message"].startswith("acme: tool call 'Bash' was finished with arguments")
    assert "message_stop" not in text
    with pytest.raises(anthropic.APIStatusError):
        sdk_message(text.encode())


@pytest.mark.parametrize("done", [True, False])
def test_a_call_not_whole_at_done_or_eof_is_an_error(done: bool) -> None:
    raw = sse([chunk({"tool_calls": [call(0, id="c", name="Bash", args='{"command": "ls /ho')]})], done=done)
    events = check_anthropic_sse(run(raw))
    assert events[-1]["type"] == "error" and not tool_events(run(raw))


def test_closing_brackets_alone_are_added_to_a_finished_call() -> None:
    raw = sse(
        [chunk({"tool_calls": [call(0, id="c", name="Bash", args='{"command": "ls"')]}), chunk({}, "stop")]
    )
    message = accumulated(run(raw))
    assert message.content[0].input == {"command": "ls"} and message.stop_reason == "tool_use"


def test_length_withholds_only_the_call_it_cut() -> None:
    raw = sse(
        [
            chunk({"tool_calls": [call(0, id="c1", name="Read", args=READ_A)]}),
            chunk({"tool_calls": [call(1, id="c2", name="Bash", args='{"command": "echo 1"')]}),
            chunk({}, "length"),
            usage_chunk(10, 4096),
        ]
    )
    message = accumulated(run(raw))
    assert [(b.type, b.id) for b in message.content] == [("tool_use", "c1")]
    assert message.stop_reason == "max_tokens"


def test_a_tool_call_without_a_name_is_an_error_not_unknown_tool() -> None:
    raw = sse([chunk({"tool_calls": [call(0, id="c", args='{"a": 1}')]}), chunk({}, "tool_calls")])
    text = run(raw, ctx(provider="acme"))
    assert "unknown_tool" not in text and not tool_events(text)
    assert (
        check_anthropic_sse(text)[-1]["error"]["message"] == "acme: the answer has a tool call without a name"
    )


def test_a_name_that_arrives_in_a_later_fragment_is_used() -> None:
    raw = sse(
        [
            chunk({"tool_calls": [call(0, id="c", args="")]}),
            chunk({"tool_calls": [call(0, name="Read", args=READ_A)]}),
            chunk({}, "tool_calls"),
        ]
    )
    assert accumulated(run(raw)).content[0].name == "Read"


def test_a_tool_block_starts_only_once_its_call_is_whole() -> None:
    translator = StreamTranslator(ctx(), make_id=counter_ids())
    head = translator.start()

    def feed(*chunks: dict[str, Any]) -> bytes:
        return translator.feed(sse(list(chunks), done=False))

    out = feed(chunk({"tool_calls": [call(0, id="c1", name="Read", args='{"file_')]}))
    assert b"content_block_start" not in out
    out = feed(chunk({"tool_calls": [call(0, args='path": "/a"}')]}))
    assert b"content_block_start" not in out  # whole, but more may come until the model moves on
    first = feed(chunk({"tool_calls": [call(1, id="c2", name="Read", args="")]}))
    assert first.count(b"event: content_block_start") == 1 and b'"id":"c1"' in first
    rest = feed(chunk({"tool_calls": [call(1, args='{"file_path": "/b"}')]}), chunk({}, "tool_calls"))
    rest += translator.finish()
    assert rest.count(b"event: content_block_start") == 1 and b'"id":"c2"' in rest
    events = check_anthropic_sse((head + first + rest).decode())
    assert [e["type"] for e in events][-1] == "message_stop"


def test_arguments_after_a_call_was_sent_whole_are_an_error() -> None:
    raw = sse(
        [
            chunk({"tool_calls": [call(0, id="c1", name="Read", args=READ_A)]}),
            chunk({"tool_calls": [call(1, id="c2", name="Read", args=READ_A)]}),
            chunk({"tool_calls": [call(0, args=', "limit": 5}')]}),
            chunk({}, "tool_calls"),
        ]
    )
    events = check_anthropic_sse(run(raw))
    assert events[-1]["type"] == "error"
    assert "went on after its arguments were whole" in events[-1]["error"]["message"]
