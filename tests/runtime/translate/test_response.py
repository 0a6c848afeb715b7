"""Non-streaming translation: an OpenAI chat completion -> the Anthropic message the client sees."""

from __future__ import annotations

import logging
from typing import Any

import anthropic
import pytest
from fixed_ids import counter_ids
from syrupy.assertion import SnapshotAssertion

from claude_any.runtime.errors import AnthropicError
from claude_any.runtime.translate.chat.response import from_openai
from claude_any.runtime.translate.context import Context
from claude_any.runtime.translate.ids import random_id
from claude_any.runtime.translate.tools import ToolNameMap

MODEL = "claude-opus-4-6"


def ctx(*, stops: tuple[str, ...] = (), names: ToolNameMap | None = None, provider: str = "fake") -> Context:
    return Context(
        requested_model=MODEL,
        stream=False,
        tool_names=names or ToolNameMap(),
        estimated_input_tokens=2000,
        stop_sequences=stops,
        provider=provider,
    )


def completion(
    message: dict[str, Any], finish: str | None = "stop", usage: dict[str, Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-9",
        "object": "chat.completion",
        "created": 1728073417,
        "model": "gpt-5-2025-08-07",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}],
    }
    if usage is not None:
        body["usage"] = usage
    return body


def tool_call(id: Any, name: str, arguments: Any) -> dict[str, Any]:
    return {"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}


USAGE = {
    "prompt_tokens": 16000,
    "completion_tokens": 310,
    "total_tokens": 16310,
    "prompt_tokens_details": {"cached_tokens": 15872, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 256, "audio_tokens": 0},
}

CASES: dict[str, dict[str, Any]] = {
    "plain_text": completion({"content": "The scripts are build and test."}, usage=USAGE),
    "text_and_tool_call": completion(
        {
            "content": "I'll list the scripts.",
            "tool_calls": [tool_call("call_abc", "Bash", '{"command": "jq .scripts package.json"}')],
        },
        finish="tool_calls",
        usage=USAGE,
    ),
    "tool_only_null_content": completion(
        {"content": None, "refusal": None, "tool_calls": [tool_call("call_abc", "Bash", '{"command":"ls"}')]},
        finish="tool_calls",
    ),
    "parallel_tool_calls": completion(
        {
            "content": "Reading both.",
            "tool_calls": [
                tool_call("call_a", "Read", '{"file_path": "/repo/a.py"}'),
                tool_call("call_b", "Read", {"file_path": "/repo/b.py"}),
            ],
        },
        finish="tool_calls",
    ),
    "reasoning_content": completion({"reasoning_content": "Think first.", "content": "Answer."}, usage=USAGE),
    "reasoning_field": completion({"reasoning": "Think differently.", "content": "Answer."}),
    "databricks_list_content": completion(
        {
            "content": [
                {
                    "type": "reasoning",
                    "summary": [{"type": "summary_text", "text": "Short plan.", "signature": "db-sig"}],
                },
                {"type": "text", "text": "Result."},
            ]
        }
    ),
    "think_tags": completion({"content": "<think>\nweighing options\n</think>\n\nGo with B."}),
    "refusal": completion({"content": None, "refusal": "I can't help with that."}, finish="content_filter"),
    "length_with_truncated_tool_json": completion(
        {
            "content": "Writing it.",
            "tool_calls": [tool_call("call_w", "Write", '{"file_path": "/a.txt", "content": "line one\\nli')],
        },
        finish="length",
    ),
    "stop_with_tool_calls": completion({"tool_calls": [tool_call("call_1", "Bash", '{"command":"pwd"}')]}),
    "empty_content": completion({"content": ""}),
    "whitespace_only_content_with_tool": completion(
        {"content": "\n\n", "tool_calls": [tool_call("call_1", "Bash", '{"command":"pwd"}')]},
        finish="tool_calls",
    ),
    "invalid_and_duplicate_tool_ids": completion(
        {
            "tool_calls": [
                tool_call(12345, "Read", "{}"),
                tool_call("call_same", "Read", "{}"),
                tool_call("call_same", "Read", "{}"),
                tool_call("bad id!", "Read", "{}"),
            ]
        },
        finish="tool_calls",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_case_snapshot(name: str, snapshot: SnapshotAssertion) -> None:
    message = from_openai(CASES[name], ctx(), make_id=counter_ids())
    assert message == snapshot
    # The official SDK's model must accept it as a Message.
    parsed = anthropic.types.Message.model_validate(message)
    assert parsed.model == MODEL and parsed.stop_reason is not None


@pytest.mark.parametrize("name", sorted(CASES))
def test_never_an_empty_text_block(name: str) -> None:
    message = from_openai(CASES[name], ctx(), make_id=counter_ids())
    for block in message["content"]:
        if block["type"] == "text":
            assert block["text"].strip()
        if block["type"] == "thinking":
            assert block["signature"]


def test_usage_subtracts_cached_tokens() -> None:
    usage = from_openai(CASES["plain_text"], ctx())["usage"]
    assert usage == {
        "input_tokens": 128,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 15872,
        "output_tokens": 310,
        "output_tokens_details": {"thinking_tokens": 256},
    }


def test_missing_usage_is_estimated() -> None:
    body = completion({"content": "y" * 81})
    usage = from_openai(body, ctx())["usage"]
    assert usage["input_tokens"] == 2000 and usage["output_tokens"] == 21


def test_all_zero_usage_is_estimated() -> None:
    body = completion(
        {"content": "y" * 8}, usage={"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    )
    usage = from_openai(body, ctx())["usage"]
    assert usage["input_tokens"] == 2000 and usage["output_tokens"] == 2


@pytest.mark.parametrize(
    ("finish", "with_tool", "expected"),
    [
        ("stop", False, "end_turn"),
        ("stop", True, "tool_use"),
        (None, True, "tool_use"),
        ("eos", False, "end_turn"),
        ("tool_calls", True, "tool_use"),
        ("function_call", True, "tool_use"),
        ("length", False, "max_tokens"),
        ("length", True, "max_tokens"),
        ("content_filter", False, "refusal"),
    ],
)
def test_finish_reason_mapping(finish: str | None, with_tool: bool, expected: str) -> None:
    message: dict[str, Any] = {"content": "x"}
    if with_tool:
        message["tool_calls"] = [tool_call("call_1", "Bash", "{}")]
    assert from_openai(completion(message, finish), ctx())["stop_reason"] == expected


def test_legacy_function_call() -> None:
    body = completion(
        {"function_call": {"name": "Bash", "arguments": '{"command":"ls"}'}}, finish="function_call"
    )
    message = from_openai(body, ctx(), make_id=counter_ids())
    assert message["content"][0]["name"] == "Bash" and message["content"][0]["input"] == {"command": "ls"}
    assert message["stop_reason"] == "tool_use"


def test_ids_are_kept_when_valid_else_replaced_and_unique() -> None:
    content = from_openai(CASES["invalid_and_duplicate_tool_ids"], ctx())["content"]
    ids = [block["id"] for block in content]
    assert ids[1] == "call_same"
    assert all(i.startswith("toolu_") for i in (ids[0], ids[2], ids[3]))
    assert len(set(ids)) == 4


def test_message_id_shape() -> None:
    message = from_openai(CASES["plain_text"], ctx())
    assert message["id"].startswith("msg_") and len(message["id"]) == 28
    assert random_id("msg_") != random_id("msg_")
    assert set(random_id("")) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def test_tool_names_are_mapped_back() -> None:
    names = ToolNameMap()
    long_name = "mcp__" + "very_long_server_name__" * 3 + "create.pull.request"
    upstream = names.to_upstream(long_name)
    assert upstream != long_name
    body = completion({"tool_calls": [tool_call("call_1", upstream, "{}")]}, finish="tool_calls")
    assert from_openai(body, ctx(names=names))["content"][0]["name"] == long_name


def test_stop_sequence_enforced_and_reported() -> None:
    body = completion({"content": "First part. <END> ignored", "tool_calls": [tool_call("c", "Bash", "{}")]})
    message = from_openai(body, ctx(stops=("<END>",)))
    assert message["content"] == [{"type": "text", "text": "First part. "}]
    assert (message["stop_reason"], message["stop_sequence"]) == ("stop_sequence", "<END>")


def test_stop_sequence_not_present_is_end_turn() -> None:
    message = from_openai(completion({"content": "no marker"}), ctx(stops=("<END>",)))
    assert (message["stop_reason"], message["stop_sequence"]) == ("end_turn", None)


# --- tool arguments: passed on whole, or not at all ----------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ({"a": 1}, {"a": 1}),
        ("", {}),
        (None, {}),
        ('{"a": 1} trailing garbage', {"a": 1}),
        ('{}{"a": 1}', {"a": 1}),
        ('"{\\"a\\": 1}"', {"a": 1}),
        ('  {"a": 1}\n', {"a": 1}),
        # Otherwise whole, only the closing brackets missing: closed.
        ('{"a": 1', {"a": 1}),
        ('{"a": "x"', {"a": "x"}),
        ('{"a": 1, "b": [1, 2', {"a": 1, "b": [1, 2]}),
        ('{"a": {"b": true}', {"a": {"b": True}}),
    ],
)
def test_arguments_read_as_written_or_closed(arguments: Any, expected: dict[str, Any]) -> None:
    body = completion({"tool_calls": [tool_call("call_1", "T", arguments)]}, finish="tool_calls")
    assert from_openai(body, ctx())["content"][0]["input"] == expected


# Arguments the provider did not finish writing: completing them, or cutting them back to an earlier
# boundary, would make a different call (the first is the issue's `rm -rf` whose path was cut).
CUT = [
    '{"command": "rm -rf /tmp/x',
    '{"a": "trunc',
    '{"a": 1, "b": tru',
    '{"a": "x\\',
    '{"a": "\\u00e9\\u00',
    '{"a": 1,',
    '{"a": 1, "b"',
    '{"a": 1, "b": ',
    '{"a": [',
    "{",
]
# The last one is double-encoded, and cut inside.
NOT_AN_OBJECT = ["not json at all", "[1, 2]", "42", "{nope", 7, '"{\\"a\\": \\"x"']


@pytest.mark.parametrize("finish", ["tool_calls", "stop", None])
@pytest.mark.parametrize("arguments", CUT + NOT_AN_OBJECT)
def test_a_finished_call_that_is_not_whole_is_an_error(arguments: Any, finish: str | None) -> None:
    body = completion({"content": "Running it.", "tool_calls": [tool_call("c", "Bash", arguments)]}, finish)
    with pytest.raises(AnthropicError) as caught:
        from_openai(body, ctx(provider="acme"))
    assert (caught.value.status, caught.value.type) == (502, "api_error")
    assert caught.value.retryable
    assert caught.value.message.startswith("acme: tool call 'Bash'")


@pytest.mark.parametrize("arguments", [*CUT, '{"a": 1', '{"a": "x"'])
def test_a_call_cut_by_the_length_limit_is_withheld_and_the_text_kept(
    arguments: str, caplog: pytest.LogCaptureFixture
) -> None:
    calls = [tool_call("c1", "Read", '{"file_path": "/a"}'), tool_call("c2", "Bash", arguments)]
    body = completion({"content": "Two calls.", "tool_calls": calls}, finish="length")
    with caplog.at_level(logging.WARNING):
        message = from_openai(body, ctx())
    assert message["stop_reason"] == "max_tokens"
    assert [(b["type"], b.get("name")) for b in message["content"]] == [("text", None), ("tool_use", "Read")]
    assert any("tool call 'Bash' was cut off" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("name", [None, ""])
def test_a_tool_call_without_a_name_is_an_error_not_a_made_up_tool(name: str | None) -> None:
    call = {"id": "c", "type": "function", "function": {"name": name, "arguments": "{}"}}
    with pytest.raises(AnthropicError) as caught:
        from_openai(completion({"tool_calls": [call]}, "tool_calls"), ctx(provider="acme"))
    assert caught.value.message == "acme: the answer has a tool call without a name"
    assert caught.value.status == 502


# --- a 200 that is not an answer ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"id": "x", "object": "chat.completion", "choices": []},
        {"id": "x", "object": "chat.completion"},
        {"choices": [{"index": 0, "finish_reason": "stop"}]},
        {"choices": ["text"]},
        {"choices": {"0": {"message": {"content": "hi"}}}},
        {"output": [{"type": "message", "content": [{"type": "output_text", "text": "wrong API"}]}]},
    ],
)
def test_a_body_that_is_not_a_completion_is_an_error_not_an_empty_message(body: dict[str, Any]) -> None:
    with pytest.raises(AnthropicError) as caught:
        from_openai(body, ctx(provider="acme"))
    assert (caught.value.status, caught.value.type) == (502, "api_error")
    assert caught.value.message.startswith("acme: the answer is not a chat completion")


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        ({"message": "Rate limit reached", "code": "429"}, 429, "rate_limit_error"),
        ({"message": "Slow down", "code": "rate_limit_exceeded"}, 429, "rate_limit_error"),
        ({"message": "You exceeded your quota", "code": "insufficient_quota"}, 402, "billing_error"),
        ({"message": "Overloaded, try later", "code": 503}, 529, "overloaded_error"),
        ({"message": "bad field", "type": "invalid_request_error"}, 400, "invalid_request_error"),
        ({"message": "boom"}, 500, "api_error"),
        ("plain text error", 500, "api_error"),
    ],
)
def test_an_error_object_in_a_200_maps_like_the_same_error_with_its_status(
    error: Any, status: int, kind: str
) -> None:
    with pytest.raises(AnthropicError) as caught:
        from_openai({"error": error}, ctx(provider="acme"))
    assert (caught.value.status, caught.value.type) == (status, kind)
    assert caught.value.message.startswith("acme: ")


def test_openrouter_error_finish_raises() -> None:
    with pytest.raises(AnthropicError) as caught:
        from_openai(completion({"content": "x"}, finish="error"), ctx())
    assert caught.value.type == "api_error"


def test_only_first_choice_is_used() -> None:
    body = completion({"content": "first"})
    body["choices"].append(
        {"index": 1, "message": {"role": "assistant", "content": "second"}, "finish_reason": "stop"}
    )
    assert [b["text"] for b in from_openai(body, ctx())["content"]] == ["first"]
