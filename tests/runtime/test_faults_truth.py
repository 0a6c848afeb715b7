"""Truthful answers over real loopback HTTP: the gateway says an answer is complete only when the provider
said so, passes a tool call on only whole, turns a 200 that is not an answer into an error, and ends the
client's response as soon as the provider said it was done.

Bounds here are generous read timeouts (never performance assertions): a provider that holds its body open
for `HOLD` seconds must not hold the client's response for that long."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import anthropic
import httpx
import pytest
from faults import (
    FAST_TIMEOUTS,
    HELLO,
    MODEL,
    RawUpstream,
    chunk,
    completion,
    fake_provider,
    request_body,
    resilient_table,
    sse_response,
)
from loopback import DONE, FakeUpstream, Reply, sse
from responses_upstream import message, stream_events, usage
from translate.sse_check import check_anthropic_sse

from claude_any.runtime.call import stream_relay as streaming
from claude_any.table import Provider, RetryPolicy, Timeouts

Gateway = Callable[..., str]

HOLD = 6.0  # a provider holding its body open this long after its end marker
PATIENCE = httpx.Timeout(10, read=3.0)  # the client reads with this: less than HOLD
QUIET = replace(FAST_TIMEOUTS, ping_s=5.0, idle_s=30.0)  # neither a ping nor a stall would end it early
ONCE = RetryPolicy(attempts=1)
CUT = "the stream ended before the provider finished"
BASH = {
    "name": "Bash",
    "description": "Run a shell command",
    "input_schema": {
        "type": "object",
        "properties": {"command": {"type": "string"}},
        "required": ["command"],
    },
}


def responses_provider(url: str) -> Provider:
    return Provider("fake", "openai", "responses", fake_provider(url).settings)


def anthropic_provider(url: str) -> Provider:
    return Provider("claude", "anthropic", "chat", {"api_key": "${ANTHROPIC_API_KEY}", "base_url": url})


def stream(url: str, body: dict[str, Any] | None = None) -> tuple[httpx.Response, str]:
    with httpx.stream(
        "POST", url + "/v1/messages", json=body or request_body(stream=True), timeout=PATIENCE
    ) as response:
        return response, response.read().decode()


def post(url: str, body: dict[str, Any] | None = None) -> httpx.Response:
    return httpx.post(url + "/v1/messages", json=body or request_body(), timeout=PATIENCE)


def cut_error(provider: str = "fake") -> dict[str, Any]:
    return {"type": "error", "error": {"type": "api_error", "message": f"{provider}: {CUT}"}}


def anthropic_events(text: str = "Hello.", *, stop: bool = True) -> list[str]:
    """An Anthropic stream as the pass-through provider sends it, `event:` lines included."""

    def frame(data: dict[str, Any]) -> str:
        return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n"

    start = {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-6",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 5, "output_tokens": 1},
        },
    }
    frames = [
        frame(start),
        frame({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        frame({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}),
        frame({"type": "content_block_stop", "index": 0}),
        frame(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 3},
            }
        ),
    ]
    return frames + ([frame({"type": "message_stop"})] if stop else [])


@pytest.fixture
def raw() -> Iterator[Callable[[bytes], RawUpstream]]:
    servers: list[RawUpstream] = []

    def start(response: bytes) -> RawUpstream:
        servers.append(RawUpstream(response))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


# --- 1. a stream ends well only when the provider said it did ---------------------------------------------


def test_a_chat_stream_that_just_ends_is_an_error_not_an_answer(
    upstream: FakeUpstream, gateway: Gateway, caplog: pytest.LogCaptureFixture, propagating: None
) -> None:
    url = gateway(resilient_table([fake_provider(upstream.url)], retry=ONCE))
    upstream.script(
        Reply(chunks=[chunk({"role": "assistant", "content": ""}), chunk({"content": "It is 4"})])
    )
    with caplog.at_level(logging.WARNING, logger="claude_any"):
        response, text = stream(url)
    assert response.status_code == 200
    events = check_anthropic_sse(text)
    assert events[-1] == cut_error()
    assert "message_stop" not in text and "message_delta" not in text
    assert any(CUT in r.getMessage() and "fake" in r.getMessage() for r in caplog.records)
    # Claude Code's SDK sees an error, not a finished answer.
    upstream.script(Reply(chunks=[chunk({"content": "It is 4"})]))
    client = anthropic.Anthropic(base_url=url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.APIStatusError, match=CUT):
        for _ in client.messages.create(model=MODEL, max_tokens=20, messages=HELLO, stream=True):  # type: ignore[arg-type]
            pass


def test_an_empty_stream_is_an_error(upstream: FakeUpstream, gateway: Gateway) -> None:
    url = gateway(resilient_table([fake_provider(upstream.url)], retry=ONCE))
    upstream.script(Reply(chunks=[]))
    _, text = stream(url)
    assert check_anthropic_sse(text)[-1] == cut_error()


def test_a_close_delimited_body_that_ends_early_is_an_error(gateway: Gateway, raw: Any) -> None:
    server = raw(sse_response(sse(chunk({"content": "The path is /tmp/"}))))
    url = gateway(resilient_table([fake_provider(server.url, name="closer")], retry=ONCE))
    _, text = stream(url)
    assert check_anthropic_sse(text)[-1] == cut_error("closer")


def test_a_close_delimited_body_with_a_finish_is_an_answer(gateway: Gateway, raw: Any) -> None:
    server = raw(sse_response(sse(chunk({"content": "Done."})), sse(chunk({}, "stop"))))
    url = gateway(resilient_table([fake_provider(server.url, name="closer")], retry=ONCE))
    _, text = stream(url)
    assert check_anthropic_sse(text)[-1] == {"type": "message_stop"}


@pytest.mark.parametrize("tail", [[], [DONE]], ids=["eof", "done"])
def test_a_responses_stream_without_response_completed_is_an_error(
    upstream: FakeUpstream, gateway: Gateway, tail: list[str]
) -> None:
    url = gateway(resilient_table([responses_provider(upstream.url + "/v1")], retry=ONCE))
    upstream.script(Reply(chunks=stream_events([message("Half an answ")], usage(10, 3))[:-1] + tail))
    _, text = stream(url)
    assert check_anthropic_sse(text)[-1] == cut_error()


@pytest.mark.parametrize("chunks", [anthropic_events(stop=False), []], ids=["no_message_stop", "empty"])
def test_a_passthrough_stream_without_message_stop_is_an_error(
    upstream: FakeUpstream, gateway: Gateway, chunks: list[str]
) -> None:
    url = gateway(resilient_table([anthropic_provider(upstream.url)], retry=ONCE))
    upstream.script(Reply(chunks=chunks))
    _, text = stream(url)
    events = check_anthropic_sse(text)
    assert events[-1] == {**cut_error("claude"), "request_id": events[-1]["request_id"]}


def test_a_passthrough_stream_cut_inside_an_event_ends_with_a_parseable_error(
    upstream: FakeUpstream, gateway: Gateway
) -> None:
    url = gateway(resilient_table([anthropic_provider(upstream.url)], retry=ONCE))
    half = anthropic_events()[2][:40]
    upstream.script(Reply(chunks=[*anthropic_events()[:2], half]))
    _, text = stream(url)
    assert text.endswith("\n\n") and f'"message":"claude: {CUT}"' in text.rsplit("\n\n", 2)[-2]


# --- 2. a cut tool call is never presented as complete ---------------------------------------------------


def rm_call(arguments: str, finish: str) -> list[Any]:
    call = {"index": 0, "id": "call_rm", "type": "function", "function": {"name": "Bash", "arguments": ""}}
    return [
        chunk({"role": "assistant", "content": "Cleaning up."}),
        chunk({"tool_calls": [call]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments}}]}),
        chunk({}, finish),
        DONE,
    ]


def test_the_issues_cut_rm_command_is_never_run(upstream: FakeUpstream, gateway: Gateway) -> None:
    url = gateway(resilient_table([fake_provider(upstream.url)], retry=ONCE))
    body = request_body(stream=True, tools=[BASH])
    upstream.script(Reply(chunks=rm_call('{"command": "rm -rf /tmp/x', "tool_calls")))
    _, text = stream(url, body)
    events = check_anthropic_sse(text)
    assert not [e for e in events if e.get("content_block", {}).get("type") == "tool_use"]
    assert "rm -rf" not in text
    assert events[-1]["type"] == "error" and events[-1]["error"]["type"] == "api_error"
    assert events[-1]["error"]["message"].startswith("fake: tool call 'Bash'")
    # Through the SDK Claude Code uses: an error, never a tool_use to run.
    upstream.script(Reply(chunks=rm_call('{"command": "rm -rf /tmp/x', "tool_calls")))
    client = anthropic.Anthropic(base_url=url, api_key="k", max_retries=0)
    with (
        pytest.raises(anthropic.APIStatusError),
        client.messages.stream(model=MODEL, max_tokens=20, messages=HELLO, tools=[BASH]) as answer,  # type: ignore[list-item]
    ):
        answer.get_final_message()


def test_the_same_call_not_streamed_is_a_retryable_error_that_falls_back(
    upstream: FakeUpstream, gateway: Gateway
) -> None:
    provider = fake_provider(upstream.url)
    url = gateway(resilient_table([provider, provider], ("large", "small"), retry=ONCE))
    call = {
        "id": "call_rm",
        "type": "function",
        "function": {"name": "Bash", "arguments": '{"command": "rm -rf /t'},
    }
    cut = {"choices": [{"index": 0, "message": {"tool_calls": [call]}, "finish_reason": "tool_calls"}]}
    upstream.script(Reply(json=cut), Reply(json=completion("from small")))
    response = post(url, request_body(tools=[BASH]))
    assert response.status_code == 200 and response.json()["content"][0]["text"] == "from small"
    assert response.headers["x-claude-any-attempts"] == "large:invalid,small:200"


@pytest.mark.parametrize("streamed", [True, False], ids=["stream", "sync"])
def test_a_call_cut_by_max_tokens_is_withheld_and_the_text_kept(
    upstream: FakeUpstream,
    gateway: Gateway,
    streamed: bool,
    caplog: pytest.LogCaptureFixture,
    propagating: None,
) -> None:
    url = gateway(resilient_table([fake_provider(upstream.url)], retry=ONCE))
    arguments = '{"command": "rm -rf /tmp/x'
    if streamed:
        upstream.script(Reply(chunks=rm_call(arguments, "length")))
    else:
        call = {"id": "c", "type": "function", "function": {"name": "Bash", "arguments": arguments}}
        upstream.script(
            Reply(
                json={
                    "choices": [
                        {
                            "message": {"content": "Cleaning up.", "tool_calls": [call]},
                            "finish_reason": "length",
                        }
                    ]
                }
            )
        )
    client = anthropic.Anthropic(base_url=url, api_key="k", max_retries=0)
    with caplog.at_level(logging.WARNING):
        if streamed:
            with client.messages.stream(model=MODEL, max_tokens=20, messages=HELLO, tools=[BASH]) as answer:  # type: ignore[list-item]
                result = answer.get_final_message()
        else:
            result = client.messages.create(model=MODEL, max_tokens=20, messages=HELLO, tools=[BASH])  # type: ignore[list-item]
    assert result.stop_reason == "max_tokens"
    assert [(b.type, getattr(b, "text", None)) for b in result.content] == [("text", "Cleaning up.")]
    assert any("tool call 'Bash' was cut off" in r.getMessage() for r in caplog.records)


# --- 3. a 200 that is not an answer is an error ----------------------------------------------------------

HTML = b"<!doctype html><html><head><title>Sign in</title></head><body>Corporate proxy</body></html>"


@pytest.mark.parametrize("streamed", [True, False], ids=["stream", "sync"])
def test_an_html_page_with_200_is_a_502_before_the_first_byte_and_falls_back(
    upstream: FakeUpstream, gateway: Gateway, streamed: bool
) -> None:
    provider = fake_provider(upstream.url)
    url = gateway(resilient_table([provider, provider], ("large", "small"), retry=ONCE))
    html = Reply(raw=HTML, headers={"content-type": "text/html; charset=utf-8"})
    answer = (
        Reply(chunks=[chunk({"content": "from small"}), chunk({}, "stop"), DONE])
        if streamed
        else Reply(json=completion("from small"))
    )
    upstream.script(html, answer)
    response = httpx.post(url + "/v1/messages", json=request_body(stream=streamed), timeout=PATIENCE)
    assert response.status_code == 200 and "from small" in response.text
    assert response.headers["x-claude-any-attempts"] == "large:invalid,small:200"
    # Alone, the page is the client's error: a real HTTP status, not a 200 stream.
    url = gateway(resilient_table([provider], retry=ONCE))
    upstream.script(Reply(raw=HTML, headers={"content-type": "text/html"}))
    response = httpx.post(url + "/v1/messages", json=request_body(stream=streamed), timeout=PATIENCE)
    assert response.status_code == 502
    assert response.json()["error"]["type"] == "api_error"
    assert "fake: answered with an HTML page" in response.json()["error"]["message"]


@pytest.mark.parametrize("streamed", [True, False], ids=["stream", "sync"])
def test_an_error_object_in_a_200_maps_like_the_same_error_with_its_status(
    upstream: FakeUpstream, gateway: Gateway, streamed: bool
) -> None:
    url = gateway(resilient_table([fake_provider(upstream.url)], retry=ONCE))
    error = {"error": {"message": "Rate limit reached for gpt-4o", "type": "requests", "code": "429"}}
    upstream.script(Reply(json=error))
    response = httpx.post(url + "/v1/messages", json=request_body(stream=streamed), timeout=PATIENCE)
    assert response.status_code == 429
    assert response.json()["error"] == {
        "type": "rate_limit_error",
        "message": "fake: Rate limit reached for gpt-4o",
    }


def test_a_json_completion_for_a_stream_request_is_an_error(upstream: FakeUpstream, gateway: Gateway) -> None:
    url = gateway(resilient_table([fake_provider(upstream.url)], retry=ONCE))
    upstream.script(Reply(json=completion("not streamed")))
    response = httpx.post(url + "/v1/messages", json=request_body(stream=True), timeout=PATIENCE)
    assert response.status_code == 502
    assert response.json()["error"]["message"] == "fake: answered with application/json, not an event stream"


def test_an_event_stream_for_a_request_without_stream_is_an_error(
    upstream: FakeUpstream, gateway: Gateway
) -> None:
    url = gateway(resilient_table([fake_provider(upstream.url)], retry=ONCE))
    upstream.script(Reply(chunks=[chunk({"content": "streamed"}), chunk({}, "stop"), DONE]))
    response = post(url)
    assert response.status_code == 502
    assert response.json()["error"]["message"] == "fake: answered with text/event-stream, not JSON"


@pytest.mark.parametrize(
    "body",
    [
        {"id": "x", "object": "chat.completion", "choices": []},
        {
            "choices": [
                {
                    "message": {"tool_calls": [{"id": "c", "function": {"arguments": "{}"}}]},
                    "finish_reason": "tool_calls",
                }
            ]
        },
    ],
    ids=["no_choices", "nameless_tool_call"],
)
def test_a_200_that_is_not_a_completion_is_never_an_empty_or_made_up_answer(
    upstream: FakeUpstream, gateway: Gateway, body: dict[str, Any]
) -> None:
    url = gateway(resilient_table([fake_provider(upstream.url)], retry=ONCE))
    upstream.script(Reply(json=body))
    response = post(url)
    assert response.status_code == 502 and response.json()["error"]["type"] == "api_error"
    assert "unknown_tool" not in response.text


def test_a_passthrough_error_body_in_a_200_is_the_error(upstream: FakeUpstream, gateway: Gateway) -> None:
    url = gateway(resilient_table([anthropic_provider(upstream.url)], retry=ONCE))
    upstream.script(
        Reply(json={"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    )
    response = post(url)
    assert response.status_code == 529
    assert response.json()["error"] == {"type": "overloaded_error", "message": "claude: Overloaded"}


# --- 4. done means done ----------------------------------------------------------------------------------


def test_after_done_the_response_ends_even_when_the_provider_holds_its_body_open(
    upstream: FakeUpstream, gateway: Gateway, caplog: pytest.LogCaptureFixture, propagating: None
) -> None:
    url = gateway(resilient_table([fake_provider(upstream.url)], retry=ONCE, timeouts=QUIET))
    upstream.script(Reply(chunks=[chunk({"content": "Complete."}), chunk({}, "stop"), DONE, HOLD, DONE]))
    with caplog.at_level(logging.WARNING, logger="claude_any"):
        _, text = stream(url)  # a read timeout here: the client waited for the provider's body
    events = check_anthropic_sse(text)
    assert events[-1] == {"type": "message_stop"}
    assert not [r for r in caplog.records if "stalled" in r.getMessage()]


def test_after_response_completed_the_response_ends_at_once(upstream: FakeUpstream, gateway: Gateway) -> None:
    url = gateway(resilient_table([responses_provider(upstream.url + "/v1")], retry=ONCE, timeouts=QUIET))
    upstream.script(Reply(chunks=[*stream_events([message("Complete.")], usage(10, 2)), HOLD]))
    _, text = stream(url)
    assert check_anthropic_sse(text)[-1] == {"type": "message_stop"}


def test_after_message_stop_the_passthrough_ends_at_once_without_pings(
    upstream: FakeUpstream, gateway: Gateway
) -> None:
    pinging = replace(QUIET, ping_s=0.05)  # a silence after message_stop would be filled with pings
    url = gateway(resilient_table([anthropic_provider(upstream.url)], retry=ONCE, timeouts=pinging))
    upstream.script(Reply(chunks=[*anthropic_events(), HOLD]))
    _, text = stream(url)
    assert text.endswith('event: message_stop\ndata: {"type": "message_stop"}\n\n')


def test_a_silence_after_finish_reason_ends_the_answer_as_complete(
    upstream: FakeUpstream,
    gateway: Gateway,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    propagating: None,
) -> None:
    monkeypatch.setattr(streaming, "FINISH_GRACE_S", 0.2)
    url = gateway(resilient_table([fake_provider(upstream.url)], retry=ONCE, timeouts=QUIET))
    usage_chunk = {"id": "c", "choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 2}}
    upstream.script(Reply(chunks=[chunk({"content": "Complete."}), chunk({}, "stop"), usage_chunk, HOLD]))
    with caplog.at_level(logging.WARNING, logger="claude_any"):
        _, text = stream(url)
    events = check_anthropic_sse(text)
    assert events[-1] == {"type": "message_stop"}
    assert events[-2]["delta"]["stop_reason"] == "end_turn" and events[-2]["usage"]["output_tokens"] == 2
    assert not [r for r in caplog.records if "stalled" in r.getMessage()]


def test_data_after_finish_reason_keeps_the_answer_open(
    upstream: FakeUpstream, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The grace is a silence, not a deadline: a provider still sending is read to its end.
    monkeypatch.setattr(streaming, "FINISH_GRACE_S", 0.3)
    url = gateway(resilient_table([fake_provider(upstream.url)], retry=ONCE, timeouts=QUIET))
    late = [chunk({}), 0.15, chunk({}), 0.15, chunk({}), 0.15]
    usage_chunk = {"id": "c", "choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 5}}
    upstream.script(
        Reply(chunks=[chunk({"content": "Complete."}), chunk({}, "stop"), *late, usage_chunk, DONE])
    )
    _, text = stream(url)
    assert check_anthropic_sse(text)[-2]["usage"]["output_tokens"] == 5


def test_echo_still_answers(gateway: Gateway) -> None:
    echo = Provider("echo", "echo", "chat", {})
    url = gateway(resilient_table([echo], retry=ONCE, timeouts=Timeouts()))
    _, text = stream(url)
    assert check_anthropic_sse(text)[-1] == {"type": "message_stop"} and "echo from claude-any" in text
