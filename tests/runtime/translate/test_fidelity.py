"""Answers as the providers people run really send them (vLLM, SGLang, DeepSeek, Kimi, OpenRouter, Gemini,
OpenAI refusals), streamed and not: what the anthropic SDK builds from the translation must say what the
provider said, no more and no less."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from fixed_ids import counter_ids
from sse_check import check_anthropic_sse, sdk_message
from test_stream import call, chunk, sse, usage_chunk

from claude_any.runtime.translate.chat.response import from_openai
from claude_any.runtime.translate.chat.stream import StreamTranslator
from claude_any.runtime.translate.context import Context
from claude_any.runtime.translate.ids import read_carried
from claude_any.runtime.translate.responses.response import ResponsesContext, from_responses
from claude_any.runtime.translate.responses.stream import ResponsesStreamTranslator
from claude_any.runtime.translate.signatures import read_signature

MODEL = "claude-sonnet-4-6"


def ctx(**fields: Any) -> Context:
    return Context(requested_model=MODEL, stream=True, estimated_input_tokens=100, provider="fake", **fields)


def streamed(chunks: list[dict[str, Any]], context: Context | None = None) -> Any:
    translator = StreamTranslator(context or ctx(), make_id=counter_ids())
    raw = translator.start() + translator.feed(sse(chunks)) + translator.finish()
    check_anthropic_sse(raw.decode())
    return sdk_message(raw)


def whole(
    message: dict[str, Any], finish: str | None = "stop", context: Context | None = None, **extra: Any
) -> Any:
    choice = {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish, **extra}
    body = {"id": "c", "choices": [choice], "usage": {"prompt_tokens": 10, "completion_tokens": 5}}
    return from_openai(body, context or ctx(), make_id=counter_ids())


def blocks(message: Any) -> list[tuple[str, Any]]:
    out = []
    for block in message.content:
        value = {"text": "text", "tool_use": "input", "thinking": "thinking"}[block.type]
        out.append((block.type, getattr(block, value)))
    return out


# --- 1. every part of a chunk, in the order that keeps each block whole -------------------------------------


def test_text_and_the_rest_of_a_calls_arguments_in_one_chunk() -> None:
    """vLLM's speculative decoding: the chunk that finishes a call's arguments also carries text."""
    message = streamed(
        [
            chunk({"tool_calls": [call(0, id="call_1", name="Read", args='{"path": "/tmp/f')]}),
            chunk({"content": "Reading it.", "tool_calls": [call(0, args='/notes.txt"}')]}),
            chunk({}, "tool_calls"),
        ]
    )
    assert blocks(message) == [("tool_use", {"path": "/tmp/f/notes.txt"}), ("text", "Reading it.")]


def test_text_with_the_first_real_fragment_after_a_placeholder() -> None:
    """Databricks streams `{}` before the real arguments; text in the next chunk must not send the `{}`."""
    message = streamed(
        [
            chunk({"tool_calls": [call(0, id="call_1", name="Read", args="{}")]}),
            chunk({"content": "Now.", "tool_calls": [call(0, args='{"path": "/tmp/f/notes.txt"}')]}),
            chunk({}, "tool_calls"),
        ]
    )
    assert blocks(message) == [("tool_use", {"path": "/tmp/f/notes.txt"}), ("text", "Now.")]


def test_reasoning_and_the_rest_of_a_call_in_one_chunk() -> None:
    message = streamed(
        [
            chunk({"tool_calls": [call(0, id="call_1", name="Read", args="{}")]}),
            chunk({"reasoning_content": "Then the next.", "tool_calls": [call(0, args='{"path": "/a"}')]}),
            chunk({}, "tool_calls"),
        ]
    )
    assert blocks(message) == [("tool_use", {"path": "/a"}), ("thinking", "Then the next.")]


def test_a_new_call_in_a_chunk_with_text_comes_after_the_text() -> None:
    message = streamed(
        [
            chunk(
                {"content": "Both.", "tool_calls": [call(0, id="call_1", name="Read", args='{"path": "/a"}')]}
            ),
            chunk({}, "tool_calls"),
        ]
    )
    assert blocks(message) == [("text", "Both."), ("tool_use", {"path": "/a"})]


# --- 3. stop sequences the provider enforced ----------------------------------------------------------------


@pytest.mark.parametrize("key", ["stop_reason", "matched_stop"])  # vLLM, SGLang
def test_a_stop_sequence_the_provider_names_is_reported(key: str) -> None:
    context = ctx(sent_stops=("</answer>", "END"))
    message = whole({"content": "42"}, context=context, **{key: "</answer>"})
    assert (message["stop_reason"], message["stop_sequence"]) == ("stop_sequence", "</answer>")
    final = {"index": 0, "delta": {}, "finish_reason": "stop", key: "</answer>"}
    got = streamed([chunk({"content": "42"}), {"id": "c", "choices": [final]}], context)
    assert (got.stop_reason, got.stop_sequence) == ("stop_sequence", "</answer>")


@pytest.mark.parametrize("value", [151645, None, "<|im_end|>"])  # an EOS token id, none, an unsent string
def test_other_stop_reasons_are_a_natural_end(value: Any) -> None:
    message = whole({"content": "42"}, context=ctx(sent_stops=("END",)), stop_reason=value)
    assert (message["stop_reason"], message["stop_sequence"]) == ("end_turn", None)


def test_a_call_cut_by_a_provider_stop_sequence_is_withheld() -> None:
    message = whole(
        {
            "content": "Run:",
            "tool_calls": [{"id": "c1", "function": {"name": "Bash", "arguments": '{"command": "rm'}}],
        },
        context=ctx(sent_stops=("END",)),
        stop_reason="END",
    )
    assert [b["type"] for b in message["content"]] == ["text"] and message["stop_reason"] == "stop_sequence"


# --- 8. refusals, cache counts, empty answers ---------------------------------------------------------------


def test_an_openai_refusal_is_a_refusal() -> None:
    text = "I'm sorry, I can't help with that."
    message = whole({"content": None, "refusal": text})
    assert message["stop_reason"] == "refusal" and message["content"] == [{"type": "text", "text": text}]
    got = streamed(
        [
            chunk({"role": "assistant", "content": None, "refusal": "I'm sorry, "}),
            chunk({"refusal": "I can't help with that."}),
            chunk({}, "stop"),
        ]
    )
    assert got.stop_reason == "refusal" and blocks(got) == [("text", text)]


def test_a_responses_api_refusal_is_a_refusal() -> None:
    text = "I can't help with that."
    response = {
        "status": "completed",
        "output": [
            {"type": "message", "role": "assistant", "content": [{"type": "refusal", "refusal": text}]}
        ],
        "usage": {"input_tokens": 10, "output_tokens": 5},
    }
    context = ResponsesContext(requested_model=MODEL, stream=False, provider="fake")
    assert from_responses(response, context)["stop_reason"] == "refusal"
    translator = ResponsesStreamTranslator(
        ResponsesContext(requested_model=MODEL, stream=True, provider="fake")
    )
    events = [
        {"type": "response.output_item.added", "output_index": 0, "item": {"type": "message", "id": "m1"}},
        {"type": "response.refusal.delta", "item_id": "m1", "delta": text},
        {"type": "response.completed", "response": response},
    ]
    raw = translator.start() + translator.feed(sse(events, done=False)) + translator.finish()
    assert sdk_message(raw).stop_reason == "refusal"


@pytest.mark.parametrize(
    "usage",
    [
        {"prompt_tokens": 5000, "completion_tokens": 9, "prompt_tokens_details": {"cached_tokens": 4096}},
        {
            "prompt_tokens": 5000,
            "completion_tokens": 9,
            "prompt_cache_hit_tokens": 4096,
            "prompt_cache_miss_tokens": 904,
        },
        {"prompt_tokens": 5000, "completion_tokens": 9, "cached_tokens": 4096},  # Kimi
    ],
    ids=["openai-vllm-glm-openrouter", "deepseek", "kimi"],
)
def test_cache_reads_land_in_cache_read_input_tokens(usage: dict[str, Any]) -> None:
    body = {"choices": [{"index": 0, "message": {"content": "ok"}, "finish_reason": "stop"}], "usage": usage}
    got = from_openai(body, ctx())["usage"]
    assert (got["input_tokens"], got["cache_read_input_tokens"], got["output_tokens"]) == (904, 4096, 9)
    message = streamed([chunk({"content": "ok"}), chunk({}, "stop"), {**usage_chunk(0, 0), "usage": usage}])
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens) == (904, 4096)


def test_kimi_streams_its_usage_inside_the_last_choice() -> None:
    usage = {"prompt_tokens": 5000, "completion_tokens": 9, "total_tokens": 5009, "cached_tokens": 4096}
    last = {"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop", "usage": usage}]}
    message = streamed([chunk({"content": "ok"}), last])
    assert (
        message.usage.input_tokens,
        message.usage.cache_read_input_tokens,
        message.usage.output_tokens,
    ) == (
        904,
        4096,
        9,
    )


@pytest.mark.parametrize("content", [None, "", []])
def test_an_empty_completion_is_what_anthropic_sends_for_one(content: Any) -> None:
    """Anthropic answers an empty generation with no content blocks and `end_turn`, streamed and not."""
    message = whole({"content": content})
    assert (message["content"], message["stop_reason"], message["stop_sequence"]) == ([], "end_turn", None)
    got = streamed([chunk({"role": "assistant", "content": content}), chunk({}, "stop")])
    assert (got.content, got.stop_reason, got.stop_sequence) == ([], "end_turn", None)


# --- 9. tool-call ids the providers issue -------------------------------------------------------------------


def test_kimi_ids_become_valid_anthropic_ids_that_carry_the_original() -> None:
    calls = [
        {
            "id": "functions.Bash:0",
            "type": "function",
            "function": {"name": "Bash", "arguments": '{"command": "ls"}'},
        },
        {
            "id": "functions.Read:1",
            "type": "function",
            "function": {"name": "Read", "arguments": '{"path": "a"}'},
        },
    ]
    message = whole({"content": None, "tool_calls": calls}, "tool_calls")
    ids = [b["id"] for b in message["content"]]
    assert all(i.startswith("toolu_") and i.replace("_", "").replace("-", "").isalnum() for i in ids)
    assert [read_carried(i).upstream_id for i in ids] == ["functions.Bash:0", "functions.Read:1"]  # type: ignore[union-attr]
    got = streamed(
        [
            chunk({"tool_calls": [call(0, id="functions.Bash:0", name="Bash", args='{"command": "ls"}')]}),
            chunk({}, "tool_calls"),
        ]
    )
    assert read_carried(got.content[0].id).upstream_id == "functions.Bash:0"  # type: ignore[union-attr]


def test_valid_ids_are_kept_as_they_are() -> None:
    calls = [{"id": "call_abc-123", "type": "function", "function": {"name": "Bash", "arguments": "{}"}}]
    assert whole({"tool_calls": calls}, "tool_calls")["content"][0]["id"] == "call_abc-123"


def test_gemini_thought_signatures_ride_in_the_tool_use_id() -> None:
    gemini_call = {
        "id": "function-call-1",
        "type": "function",
        "function": {"name": "Bash", "arguments": '{"command": "ls"}'},
        "extra_content": {"google": {"thought_signature": "CiQBVKhc7+sig/=="}},
    }
    message = whole({"content": None, "tool_calls": [gemini_call]}, "tool_calls")
    carried = read_carried(message["content"][0]["id"])
    assert carried is not None and (carried.upstream_id, carried.thought_signature) == (
        "function-call-1",
        "CiQBVKhc7+sig/==",
    )
    streamed_call = {**gemini_call, "index": 0}
    got = streamed([chunk({"tool_calls": [streamed_call]}), chunk({}, "tool_calls")])
    assert read_carried(got.content[0].id) == carried


# --- 6. OpenRouter's reasoning details ----------------------------------------------------------------------


DETAILS = [
    {
        "type": "reasoning.text",
        "text": "Check the file.",
        "signature": "EqoBCkgI-sig",
        "format": "anthropic-claude-v1",
        "index": 0,
    },
    {"type": "reasoning.encrypted", "data": "gAAAAB-opaque", "format": "openai-responses-v1", "index": 1},
]


def test_openrouter_reasoning_details_are_carried_in_the_signature() -> None:
    context = ctx(signer="tag1")
    message = whole(
        {"content": "Done.", "reasoning": "Check the file.", "reasoning_details": DETAILS}, context=context
    )
    thinking = message["content"][0]
    assert thinking["thinking"] == "Check the file."
    assert read_signature(thinking["signature"]) is not None
    assert read_signature(thinking["signature"]).carried == {"reasoning_details": DETAILS}  # type: ignore[union-attr]


def test_streamed_reasoning_details_are_merged_as_openrouter_sends_them() -> None:
    first = {"type": "reasoning.text", "text": "Check ", "format": "anthropic-claude-v1", "index": 0}
    got = streamed(
        [
            chunk({"reasoning": "Check ", "reasoning_details": [first]}),
            chunk(
                {
                    "reasoning": "the file.",
                    "reasoning_details": [{"type": "reasoning.text", "text": "the file.", "index": 0}],
                }
            ),
            chunk(
                {"reasoning_details": [{"type": "reasoning.text", "signature": "EqoBCkgI-sig", "index": 0}]}
            ),
            chunk({"reasoning_details": [DETAILS[1]]}),
            chunk({"content": "Done."}),
            chunk({}, "stop"),
        ],
        ctx(signer="tag1"),
    )
    thinking = got.content[0]
    assert thinking.thinking == "Check the file." and got.content[1].text == "Done."
    assert read_signature(thinking.signature).carried == {"reasoning_details": DETAILS}  # type: ignore[union-attr]


# --- 6. inline <think> tags (MiniMax, raw open weights) -----------------------------------------------------


@pytest.mark.parametrize("split", [1, 2, 3, 7, 100])
def test_the_newlines_inside_think_tags_are_layout(split: int) -> None:
    content = "<think>\nFirst this.\n\nThen that.\n</think>\n\nThe answer."
    pieces = [content[i : i + split] for i in range(0, len(content), split)]
    got = streamed([*(chunk({"content": piece}) for piece in pieces), chunk({}, "stop")])
    assert blocks(got) == [("thinking", "First this.\n\nThen that."), ("text", "The answer.")]
    assert blocks(sdk_like(whole({"content": content}))) == blocks(got)


def sdk_like(message: dict[str, Any]) -> Any:
    """A translated message as the SDK's types (for `blocks`)."""
    return anthropic.types.Message.model_validate(message)
