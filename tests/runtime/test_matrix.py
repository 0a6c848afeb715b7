"""Provider kind × scenario, over real HTTP: the official `anthropic` SDK → claude-any → a scripted upstream.

For each case one snapshot file fixes the outgoing upstream request (method, path and query, headers with
secrets redacted, body) and what the client received: the message JSON (`create`) or the raw SSE transcript
(`stream`), with the random `msg_`/`toolu_`/`req_` ids replaced by stable placeholders. The snapshot is what
changed; the assertions beside it (through the SDK's own `messages.create()` and `messages.stream()`
accumulator) say what must stay true: text, tool input, thinking, stop_reason and usage.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import anthropic
import pytest
from loopback import TEST_ENV, FakeUpstream, Recorded, make_table
from matrix_cases import (
    KINDS,
    SCENARIOS,
    Answer,
    Kind,
    Scenario,
    openrouter_details,
    thought_signature,
    upstream_reply,
)
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode
from translate.sse_check import check_anthropic_sse

try:  # newer SDKs run on the `httpx2` fork and reject `httpx` objects
    import httpx2 as http
except ImportError:  # pragma: no cover - older SDKs
    import httpx as http  # type: ignore[no-redef]

# Headers that vary by machine or library version say nothing about the provider contract.
_UNSTABLE = {"host", "content-length", "accept-encoding", "connection"}
_RANDOM_IDS = re.compile(r"\b(msg|toolu|req)_[0-9A-Za-z]{16,}\b")


class TextSnapshot(SingleFileSnapshotExtension):
    """One plain-text file per case, so a reviewer reads the SSE transcript as it went over the wire."""

    _write_mode = WriteMode.TEXT
    file_extension = "txt"


@pytest.fixture
def snapshot_text(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(TextSnapshot)


class _Recording(http.SyncByteStream):
    def __init__(self, inner: Any, sink: bytearray) -> None:
        self._inner = inner
        self._sink = sink

    def __iter__(self) -> Iterator[bytes]:
        for part in self._inner:
            self._sink.extend(part)
            yield part

    def close(self) -> None:
        self._inner.close()


class TeeTransport(http.HTTPTransport):
    """Keeps a copy of the response bytes the SDK reads, so one real request gives both the SDK's view and
    the raw transcript."""

    def __init__(self) -> None:
        super().__init__()
        self.received = bytearray()

    def handle_request(self, request: Any) -> Any:
        response = super().handle_request(request)
        response.stream = _Recording(response.stream, self.received)
        return response


def stable_ids(text: str) -> str:
    """Random ids → `msg_1`, `toolu_2`, … in order of first appearance (equal ids stay equal)."""
    seen: dict[str, str] = {}

    def replace(match: re.Match[str]) -> str:
        return seen.setdefault(match.group(0), f"{match.group(1)}_<{len(seen) + 1}>")

    return _RANDOM_IDS.sub(replace, text)


def outgoing(sent: Recorded) -> str:
    lines = [f"{sent.method} {sent.path}" + (f"?{sent.query}" if sent.query else "")]
    secrets = {value: f"<{name}>" for name, value in TEST_ENV.items()}
    for name, value in sorted(sent.headers.items()):
        if name not in _UNSTABLE:
            for secret, placeholder in secrets.items():
                value = value.replace(secret, placeholder)
            lines.append(f"{name}: {value}")
    return "\n".join(lines) + "\n\n" + json.dumps(sent.body, indent=2, sort_keys=True, ensure_ascii=False)


def transcript(sent: Recorded, received: bytes, stream: bool) -> str:
    if stream:
        heading, answer = "client stream", received.decode("utf-8")
    else:
        pretty = json.dumps(json.loads(received), indent=2, sort_keys=True, ensure_ascii=False)
        heading, answer = "client JSON", pretty + "\n"
    return stable_ids(f"=== upstream request ===\n{outgoing(sent)}\n\n=== {heading} ===\n{answer}")


# --- the cases ---------------------------------------------------------------------------------------------


def _cases() -> Iterator[Any]:
    for kind in KINDS.values():
        for name in kind.scenarios:
            for mode in ("create", "stream"):
                yield pytest.param(kind, SCENARIOS[name], mode, id=f"{kind.name}-{name}-{mode}")


def _gateway_for(kind: Kind, upstream: FakeUpstream, gateway: Callable[..., str]) -> str:
    provider = kind.provider(upstream.url)
    return str(
        gateway(make_table([provider], [kind.target("large", provider), kind.target("small", provider)]))
    )


def _call(client: anthropic.Anthropic, scenario: Scenario, stream: bool) -> anthropic.types.Message:
    request = dict(scenario.request)
    required = {key: request.pop(key) for key in ("model", "max_tokens", "messages")}
    # Everything else rides in extra_body: the SDK's typed signature lags the fields Claude Code sends.
    options: dict[str, Any] = {
        "extra_body": request,
        "extra_headers": scenario.headers,
        "extra_query": scenario.query,
    }
    if stream:
        with client.messages.stream(**required, **options) as events:
            return events.get_final_message()
    message: anthropic.types.Message = client.messages.create(**required, **options)
    return message


@pytest.mark.parametrize(("kind", "scenario", "mode"), list(_cases()))
def test_matrix(
    kind: Kind,
    scenario: Scenario,
    mode: str,
    upstream: FakeUpstream,
    gateway: Callable[..., str],
    snapshot_text: SnapshotAssertion,
) -> None:
    stream = mode == "stream"
    url = _gateway_for(kind, upstream, gateway)
    upstream.script(upstream_reply(kind, scenario, stream))
    tee = TeeTransport()
    with http.Client(transport=tee) as http_client:
        client = anthropic.Anthropic(
            base_url=url, api_key="client-key", max_retries=0, timeout=10, http_client=http_client
        )
        if scenario.malformed:
            with pytest.raises(anthropic.APIError) as info:
                _call(client, scenario, stream)
            _check_clean_error(info.value, bytes(tee.received), stream)
        else:
            message = _call(client, scenario, stream)
            _check_message(message, kind, scenario)
            if stream:
                check_anthropic_sse(tee.received.decode("utf-8"))

    (sent,) = upstream.requests
    assert "client-key" not in repr(sent.headers), "the client's credential must not reach the provider"
    _check_upstream_request(sent, kind, stream)
    assert transcript(sent, bytes(tee.received), stream) == snapshot_text


# --- what must hold in every case --------------------------------------------------------------------------


def _check_message(message: anthropic.types.Message, kind: Kind, scenario: Scenario) -> None:
    a: Answer = scenario.answer
    blocks = {block.type: block for block in message.content}
    texts = [block.text for block in message.content if block.type == "text"]
    assert texts == ([a.text] if a.text else [])
    calls = [(block.name, block.input) for block in message.content if block.type == "tool_use"]
    assert calls == [(call.name, call.input) for call in a.calls]
    ids = [block.id for block in message.content if block.type == "tool_use"]
    assert len(set(ids)) == len(ids)
    if a.thinking and kind.shows_reasoning:
        thinking = blocks["thinking"]
        assert thinking.type == "thinking" and thinking.thinking == a.thinking and thinking.signature
        assert message.content[0] is thinking, "thinking comes first"
    else:
        assert "thinking" not in blocks
    assert message.stop_reason == a.stop_reason
    if kind.dialect == "anthropic":  # pass-through: the provider's message, untouched
        assert message.model == kind.model
    else:
        assert message.model == scenario.request["model"], "the requested model is echoed back"
    cached = a.cached_tokens if kind.reports_cache else 0
    assert message.usage.output_tokens == a.completion_tokens
    assert message.usage.input_tokens == a.prompt_tokens - cached
    assert (message.usage.cache_read_input_tokens or 0) == cached


def _check_upstream_request(sent: Recorded, kind: Kind, stream: bool) -> None:
    body = sent.body
    assert sent.method == "POST"
    if kind.dialect == "anthropic":
        assert sent.path == "/v1/messages" and body["model"] == kind.model
        assert body.get("stream", False) is stream
        return
    assert sent.path.endswith("/chat/completions")
    assert body["model"] == kind.model
    assert body.get("stream", False) is stream
    if stream:
        assert body["stream_options"] == {"include_usage": True}
    assert not [h for h in sent.headers if h.startswith(("anthropic", "x-claude-code", "x-stainless"))]


def _check_clean_error(error: anthropic.APIError, received: bytes, stream: bool) -> None:
    text = received.decode("utf-8")
    assert "Traceback" not in text and 'File "' not in text
    if stream:
        events = check_anthropic_sse(text)
        assert events[-1]["type"] == "error" and events[-1]["error"]["type"] == "api_error"
        assert "Partial" in text, "what arrived before the broken chunk was relayed"
    else:
        assert isinstance(error, anthropic.APIStatusError) and error.status_code == 502
        envelope = json.loads(text)
        assert envelope["type"] == "error" and envelope["error"]["type"] == "api_error"
        assert envelope["request_id"].startswith("req_")


# --- the next turn: what the provider gets back of its own answer -------------------------------------------


def _next_turn_cases() -> Iterator[Any]:
    for kind in KINDS.values():
        if kind.dialect != "anthropic":
            for mode in ("create", "stream"):
                yield pytest.param(kind, mode, id=f"{kind.name}-{mode}")


def _history(message: anthropic.types.Message) -> list[dict[str, Any]]:
    """The client's next messages after `message`: the answer as it stored it, then the tool results."""
    content = [block.model_dump(exclude_none=True) for block in message.content]
    results = [
        {"type": "tool_result", "tool_use_id": block.id, "content": f"output of {block.name}"}
        for block in message.content
        if block.type == "tool_use"
    ]
    return [{"role": "assistant", "content": content}, {"role": "user", "content": results}]


@pytest.mark.parametrize(("kind", "mode"), list(_next_turn_cases()))
def test_matrix_next_turn(kind: Kind, mode: str, upstream: FakeUpstream, gateway: Callable[..., str]) -> None:
    """A Claude Code turn (thinking, text, a tool call), then the turn with the tool's result: the provider
    gets its own tool-call ids back, its reasoning in the form it reads (or none), its thought signatures."""
    stream = mode == "stream"
    scenario = SCENARIOS["claude_code_shaped"]
    answer = scenario.answer
    done = Scenario("done", {}, Answer(text="Done."))
    url = _gateway_for(kind, upstream, gateway)
    upstream.script(upstream_reply(kind, scenario, stream), upstream_reply(kind, done, stream))
    with anthropic.Anthropic(base_url=url, api_key="client-key", max_retries=0, timeout=10) as client:
        first = _call(client, scenario, stream)
        request = {**scenario.request, "messages": [*scenario.request["messages"], *_history(first)]}
        second = _call(client, replace(scenario, request=request), stream)
    assert [block.type for block in second.content] == ["text"] and second.stop_reason == "end_turn"

    caps = kind.capabilities(kind.provider(upstream.url).kind)
    sent = upstream.requests[1].body
    (assistant,) = [m for m in sent["messages"] if m["role"] == "assistant"]
    assert [c["id"] for c in assistant["tool_calls"]] == kind.upstream_ids(answer), "the provider's own ids"
    assert [m["tool_call_id"] for m in sent["messages"] if m["role"] == "tool"] == kind.upstream_ids(answer)
    for body in (upstream.requests[0].body, sent):
        assert ("prompt_cache_key" in body) is caps["prompt_cache_key"]

    replay = caps["reasoning_replay"] if kind.shows_reasoning and kind.dialect != "databricks" else "drop"
    fields = {"reasoning_content", "reasoning", "reasoning_details"}
    if replay in fields:
        assert set(assistant) & fields == {replay}
        expected = openrouter_details(answer) if replay == "reasoning_details" else answer.thinking
        assert assistant[replay] == expected
    elif replay == "think_tags":
        assert assistant["content"] == f"<think>\n{answer.thinking}\n</think>\n\n{answer.text}"
    else:
        assert not set(assistant) & fields and answer.thinking not in json.dumps(sent)
    if caps["thought_signatures"]:
        signature = {"google": {"thought_signature": thought_signature(answer.calls[0])}}
        assert assistant["tool_calls"][0]["extra_content"] == signature
    else:
        assert "extra_content" not in assistant["tool_calls"][0]
