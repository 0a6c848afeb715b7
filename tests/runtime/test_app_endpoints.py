"""The API surface besides message translation: count_tokens, models, probes, errors, auth, limits."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

import anthropic
import httpx
import pytest
from anthropic.types import ModelInfo
from loopback import DONE, FakeUpstream, Reply, make_table, openai_provider, target

from claude_any.table import Route

HELLO = [{"role": "user", "content": "Count these words for me please."}]
JSON = {"content-type": "application/json"}


def client(url: str, api_key: str = "client-key") -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key=api_key, max_retries=0, timeout=10)


def ok_completion(text: str = "ok") -> dict[str, Any]:
    return {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }


def assert_envelope(response: httpx.Response, status: int, error_type: str) -> str:
    assert response.status_code == status
    body = response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == error_type
    assert body["request_id"] == response.headers["request-id"]
    assert body["request_id"].startswith("req_")
    message: str = body["error"]["message"]
    return message


def test_count_tokens(openai_gateway: str) -> None:
    small = client(openai_gateway).messages.count_tokens(model="claude-sonnet-4-6", messages=HELLO)  # type: ignore[arg-type]
    big = client(openai_gateway).messages.count_tokens(
        model="claude-sonnet-4-6",
        messages=[{"role": "user", "content": "Count these words for me please. " * 200}],
    )
    assert 0 < small.input_tokens < big.input_tokens


def test_models_lists_every_target_in_anthropics_shape(openai_gateway: str, upstream: FakeUpstream) -> None:
    page = httpx.get(openai_gateway + "/v1/models?limit=1000", timeout=5).json()
    assert [m["id"] for m in page["data"]] == ["claude-any/large", "claude-any/small"]
    assert [m["display_name"] for m in page["data"]] == ["large → fake/gpt-4o", "small → fake/gpt-4o-mini"]
    assert (page["has_more"], page["first_id"], page["last_id"]) == (
        False,
        "claude-any/large",
        "claude-any/small",
    )
    for entry in page["data"]:
        # Every field the SDK's ModelInfo requires, of the right type (the SDK itself does not validate).
        info = ModelInfo.model_validate(entry)
        assert (info.type, info.lifecycle) == ("model", "active")
        assert info.max_input_tokens == 128_000  # gpt-4o's context, from the capability table
    assert [m.id for m in client(openai_gateway).models.list()] == ["claude-any/large", "claude-any/small"]
    # Every listed id routes, to the target it names.
    upstream.script(Reply(json=ok_completion()), Reply(json=ok_completion()))
    for entry, target_id in zip(page["data"], ["large", "small"], strict=True):
        response = httpx.post(
            openai_gateway + "/v1/messages",
            json={"model": entry["id"], "max_tokens": 10, "messages": HELLO},
            timeout=5,
        )
        assert response.status_code == 200, response.text
        assert response.headers["x-claude-any-target"] == target_id


@pytest.fixture
def many_targets_gateway(upstream: FakeUpstream, gateway: Callable[..., str]) -> str:
    provider = openai_provider(upstream.url + "/v1", name="fake")
    names = ["large", "small", "t1", "t2", "t3"]
    return gateway(make_table([provider], [target(n, provider, "gpt-4o") for n in names]))


def ids(url: str, query: str) -> tuple[list[str], bool]:
    page = httpx.get(url + "/v1/models" + query, timeout=5).json()
    return [m["id"].removeprefix("claude-any/") for m in page["data"]], page["has_more"]


def test_models_pages_like_anthropics_api(many_targets_gateway: str) -> None:
    url = many_targets_gateway
    assert ids(url, "") == (["large", "small", "t1", "t2", "t3"], False)  # 20 by default
    assert ids(url, "?limit=2") == (["large", "small"], True)
    assert ids(url, "?limit=2&after_id=claude-any/small") == (["t1", "t2"], True)
    assert ids(url, "?limit=2&after_id=claude-any/t2") == (["t3"], False)
    assert ids(url, "?limit=2&before_id=claude-any/t3") == (["t1", "t2"], True)
    assert ids(url, "?limit=2&before_id=claude-any/t1") == (["large", "small"], False)
    assert ids(url, "?lifecycle[]=active&lifecycle[]=deprecated") == (
        ["large", "small", "t1", "t2", "t3"],
        False,
    )
    assert ids(url, "?lifecycle[]=retired") == ([], False)
    # The SDK follows the cursors itself.
    everything = [m.id for m in client(url).models.list(limit=2)]
    assert everything == [f"claude-any/{n}" for n in ["large", "small", "t1", "t2", "t3"]]


@pytest.mark.parametrize(
    ("query", "wording"),
    [
        ("?limit=0", "limit: expected an integer from 1 to 1000"),
        ("?limit=1001", "limit: expected an integer from 1 to 1000"),
        ("?limit=many", "limit: expected an integer from 1 to 1000"),
        ("?after_id=nope", "after_id: no model 'nope' in this list"),
        ("?before_id=nope", "before_id: no model 'nope' in this list"),
        (
            "?after_id=claude-any/large&before_id=claude-any/t3",
            "after_id and before_id cannot be given together",
        ),
        ("?lifecycle[]=ancient", "lifecycle: expected one of active, deprecated, retired"),
    ],
)
def test_models_refuses_bad_paging(many_targets_gateway: str, query: str, wording: str) -> None:
    message = assert_envelope(
        httpx.get(many_targets_gateway + "/v1/models" + query, timeout=5), 400, "invalid_request_error"
    )
    assert message.startswith(wording), message


def test_one_model_by_id(openai_gateway: str) -> None:
    info = client(openai_gateway).models.retrieve("claude-any/small")
    assert (info.id, info.display_name) == ("claude-any/small", "small → fake/gpt-4o-mini")
    response = httpx.get(openai_gateway + "/v1/models/claude-any%2Fsmall", timeout=5)
    assert response.json()["id"] == "claude-any/small"
    message = assert_envelope(
        httpx.get(openai_gateway + "/v1/models/gpt-9", timeout=5), 404, "not_found_error"
    )
    assert "gpt-9" in message


def test_count_tokens_learns_the_providers_count_per_session(
    openai_gateway: str, upstream: FakeUpstream
) -> None:
    session = {"x-claude-code-session-id": str(uuid.uuid4())}
    long = [{"role": "user", "content": "Count these words for me please. " * 400}]

    def count(headers: dict[str, str]) -> int:
        response = httpx.post(
            openai_gateway + "/v1/messages/count_tokens",
            json={"model": "claude-sonnet-4-6", "messages": long},
            headers=headers,
            timeout=5,
        )
        assert response.status_code == 200, response.text
        counted: int = response.json()["input_tokens"]
        return counted

    estimate = count(session)
    assert estimate > 1_000
    # The provider counts 1.4 times the estimate for this request: the session's next counts say so too.
    counted = round(estimate * 1.4)
    upstream.script(
        Reply(json={**ok_completion(), "usage": {"prompt_tokens": counted, "completion_tokens": 1}})
    )
    response = httpx.post(
        openai_gateway + "/v1/messages",
        json={"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": long},
        headers=session,
        timeout=5,
    )
    assert response.json()["usage"]["input_tokens"] == counted
    assert count(session) == counted
    assert count({"x-claude-code-session-id": str(uuid.uuid4())}) == estimate
    assert count({}) == estimate


def test_a_streamed_answer_teaches_the_session_too(openai_gateway: str, upstream: FakeUpstream) -> None:
    session = {"x-claude-code-session-id": str(uuid.uuid4())}
    long = [{"role": "user", "content": "Count these words for me please. " * 400}]
    body = {"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": long}
    before = httpx.post(openai_gateway + "/v1/messages/count_tokens", json=body, headers=session, timeout=5)
    estimate = before.json()["input_tokens"]
    usage = {"prompt_tokens": round(estimate * 0.8), "completion_tokens": 1, "total_tokens": 1}
    chunks = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "ok"}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {"choices": [], "usage": usage},
        DONE,
    ]
    upstream.script(Reply(chunks=chunks))
    with httpx.stream(
        "POST", openai_gateway + "/v1/messages", json={**body, "stream": True}, headers=session, timeout=5
    ) as response:
        assert response.status_code == 200
        response.read()
    after = httpx.post(openai_gateway + "/v1/messages/count_tokens", json=body, headers=session, timeout=5)
    assert after.json()["input_tokens"] == round(estimate * 0.8)


@pytest.mark.parametrize("path", ["/", "/api/hello", "/health"])
def test_probes(openai_gateway: str, path: str) -> None:
    assert httpx.get(openai_gateway + path, timeout=5).status_code == 200
    assert httpx.head(openai_gateway + path, timeout=5).status_code == 200


def test_health_body(openai_gateway: str) -> None:
    assert httpx.get(openai_gateway + "/health", timeout=5).json() == {"status": "ok"}


def test_unknown_path_is_a_404_envelope(openai_gateway: str) -> None:
    message = assert_envelope(httpx.get(openai_gateway + "/v2/nothing", timeout=5), 404, "not_found_error")
    assert "/v2/nothing" in message


def test_wrong_method_is_a_405_envelope(openai_gateway: str) -> None:
    response = httpx.get(openai_gateway + "/v1/messages", timeout=5)
    assert_envelope(response, 405, "invalid_request_error")
    assert "POST" in response.headers["allow"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"model": "claude-sonnet-4-6", "messages": [', "request body is not valid JSON: "),
        (b"", "request body is empty"),
        (b"[1, 2]", "request body must be a JSON object, got an array"),
        (b'{"messages": []}', "model: field required"),
        (b'{"model": "claude-sonnet-4-6"}', "messages: field required"),
        (b'{"model": 7, "messages": []}', "model: expected a string, got a number"),
        (b'{"model": "claude-sonnet-4-6", "messages": {}}', "messages: expected an array, got an object"),
        (
            b'{"model": "claude-sonnet-4-6", "messages": ["hi"]}',
            "messages.0: expected an object, got a string",
        ),
        (
            b'{"model": "claude-sonnet-4-6", "messages": [], "max_tokens": "9"}',
            "max_tokens: expected an integer",
        ),
        (b'{"model": "claude-sonnet-4-6", "messages": [], "stream": "yes"}', "stream: expected a boolean"),
        (b"\xff\xfe", "request body is not valid JSON"),
    ],
)
def test_bad_request_bodies(
    upstream: FakeUpstream, openai_gateway: str, content: bytes, expected: str
) -> None:
    response = httpx.post(openai_gateway + "/v1/messages", content=content, headers=JSON, timeout=5)
    assert assert_envelope(response, 400, "invalid_request_error").startswith(expected)
    assert upstream.requests == []


def test_malformed_json_names_the_position(openai_gateway: str) -> None:
    response = httpx.post(openai_gateway + "/v1/messages", content=b'{"model": }', headers=JSON, timeout=5)
    assert "line 1 column 11" in assert_envelope(response, 400, "invalid_request_error")


def test_body_over_32_mb_is_413(openai_gateway: str) -> None:
    big = b" " * (32 * 1024 * 1024 + 1)
    response = httpx.post(openai_gateway + "/v1/messages", content=big, headers=JSON, timeout=30)
    assert_envelope(response, 413, "request_too_large")


def test_unroutable_model_is_404_naming_it(upstream: FakeUpstream, openai_gateway: str) -> None:
    with pytest.raises(anthropic.NotFoundError) as info:
        client(openai_gateway).messages.create(model="gpt-9-turbo", max_tokens=5, messages=HELLO)  # type: ignore[arg-type]
    assert "gpt-9-turbo" in info.value.message
    assert upstream.requests == []


def test_a_target_id_and_an_ad_hoc_provider_model_are_routable(
    upstream: FakeUpstream, openai_gateway: str
) -> None:
    upstream.script(Reply(json=ok_completion()), Reply(json=ok_completion()))
    api = client(openai_gateway).messages.with_raw_response
    assert api.create(model="small", max_tokens=5, messages=HELLO).headers["x-claude-any-target"] == "small"  # type: ignore[arg-type]
    raw = api.create(model="fake/gpt-4.1", max_tokens=5, messages=HELLO)  # type: ignore[arg-type]
    assert raw.headers["x-claude-any-target"] == "fake/gpt-4.1"
    assert [r.body["model"] for r in upstream.requests] == ["gpt-4o-mini", "gpt-4.1"]


@pytest.fixture
def guarded_gateway(upstream: FakeUpstream, gateway: Callable[..., str]) -> str:
    provider = openai_provider(upstream.url + "/v1", name="fake")
    targets = [target("large", provider, "gpt-4o"), target("small", provider, "gpt-4o-mini")]
    return gateway(make_table([provider], targets, auth_token="${GATEWAY_TOKEN}"))


def test_auth_token_required_when_set(upstream: FakeUpstream, guarded_gateway: str) -> None:
    with pytest.raises(anthropic.AuthenticationError) as info:
        client(guarded_gateway, api_key="wrong").messages.create(
            model="claude-sonnet-4-6",
            max_tokens=5,
            messages=HELLO,  # type: ignore[arg-type]
        )
    assert info.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    assert "gw-secret" not in info.value.message
    body = {"model": "claude-sonnet-4-6", "max_tokens": 5, "messages": HELLO}
    for headers in ({}, {"authorization": "Basic gw-secret"}, {"authorization": "Bearer gw-secre"}):
        response = httpx.post(guarded_gateway + "/v1/messages", json=body, headers=headers, timeout=5)
        assert_envelope(response, 401, "authentication_error")
    assert upstream.requests == []
    # count_tokens and models are guarded too; the probes are not.
    assert httpx.get(guarded_gateway + "/v1/models", timeout=5).status_code == 401
    assert httpx.get(guarded_gateway + "/health", timeout=5).status_code == 200


def test_auth_token_accepted_as_x_api_key_or_bearer(upstream: FakeUpstream, guarded_gateway: str) -> None:
    upstream.script(Reply(json=ok_completion()), Reply(json=ok_completion()))
    client(guarded_gateway, api_key="gw-secret").messages.create(
        model="claude-sonnet-4-6",
        max_tokens=5,
        messages=HELLO,  # type: ignore[arg-type]
    )
    bearer = anthropic.Anthropic(base_url=guarded_gateway, auth_token="gw-secret", max_retries=0)
    bearer.messages.create(model="claude-sonnet-4-6", max_tokens=5, messages=HELLO)  # type: ignore[arg-type]
    for sent in upstream.requests:
        assert sent.headers["authorization"] == "Bearer sk-test-openai"  # the provider key, not the client's
        assert "gw-secret" not in repr(sent.headers)


def test_fallback_chain_moves_on_after_a_retryable_failure(
    upstream: FakeUpstream, gateway: Callable[..., str]
) -> None:
    provider = openai_provider(upstream.url + "/v1", name="fake")
    targets = [target("large", provider, "gpt-4o"), target("small", provider, "gpt-4o-mini")]
    always = Route(
        "routes[0]", "true", {"op": "lit", "value": True, "span": [0, 4]}, ("large", "small"), "config"
    )
    url = gateway(make_table([provider], targets, routes=(always,)))
    upstream.script(
        Reply(status=429, json={"error": {"message": "slow down", "code": "rate_limit_exceeded"}}),
        Reply(json=ok_completion("from the fallback")),
    )
    raw = client(url).messages.with_raw_response.create(
        model="claude-sonnet-4-6", max_tokens=5, messages=HELLO
    )  # type: ignore[arg-type]
    assert raw.headers["x-claude-any-target"] == "small"
    assert raw.parse().content[0].text == "from the fallback"  # type: ignore[union-attr]
    assert [r.body["model"] for r in upstream.requests] == ["gpt-4o", "gpt-4o-mini"]

    # A non-retryable failure is returned as it is: no second attempt.
    upstream.reset()
    upstream.script(
        Reply(status=400, json={"error": {"message": "bad request"}}), Reply(json=ok_completion())
    )
    with pytest.raises(anthropic.BadRequestError):
        client(url).messages.create(model="claude-sonnet-4-6", max_tokens=5, messages=HELLO)  # type: ignore[arg-type]
    assert len(upstream.requests) == 1


def test_one_log_line_per_request_without_secrets(
    upstream: FakeUpstream, openai_gateway: str, caplog: pytest.LogCaptureFixture
) -> None:
    upstream.script(Reply(json=ok_completion()))
    with caplog.at_level(logging.INFO, logger="claude_any"):
        client(openai_gateway).messages.create(model="claude-sonnet-4-6", max_tokens=5, messages=HELLO)  # type: ignore[arg-type]
    lines = [r.getMessage() for r in caplog.records if r.name == "claude_any" and r.levelno == logging.INFO]
    assert len(lines) == 1
    line = lines[0]
    assert "claude-sonnet-4-6 -> large (fake/gpt-4o)" in line
    assert "rule='default: sonnet/opus'" in line and "status=200" in line and "in=3 out=1" in line
    assert "sk-test-openai" not in line and "client-key" not in line


def test_claude_codes_new_and_background_requests_are_answered(
    openai_gateway: str, upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    upstream.script(Reply(json=ok_completion()), Reply(json=ok_completion()))
    session = {"x-claude-code-session-id": str(uuid.uuid4())}
    turn = {"max_tokens": 128000, "messages": HELLO, "thinking": {"type": "adaptive"}}
    # The model /model offers as Fable: no rule names its family, so the default sends it to large.
    with caplog.at_level(logging.WARNING, logger="claude_any"):
        fable = httpx.post(
            openai_gateway + "/v1/messages",
            json={"model": "claude-fable-5-2", **turn},
            headers=session,
            timeout=5,
        )
    assert fable.status_code == 200, fable.text
    assert fable.headers["x-claude-any-target"] == "large"
    assert any(
        "'claude-fable-5-2' (family 'fable') is named by no rule" in r.getMessage() for r in caplog.records
    )
    # Its session-title request (as opus, no tools, no thinking) goes to small.
    title = {"model": "claude-opus-5-5", "max_tokens": 128000, "messages": HELLO, "tools": []}
    response = httpx.post(openai_gateway + "/v1/messages", json=title, headers=session, timeout=5)
    assert response.headers["x-claude-any-target"] == "small"
    assert [r.body["model"] for r in upstream.requests] == ["gpt-4o", "gpt-4o-mini"]


def test_a_web_search_request_is_refused_before_the_provider_is_called(
    upstream: FakeUpstream, openai_gateway: str
) -> None:
    """Claude Code's WebSearch tool: dropping the server tool would get an answer that pretends to have
    searched; the client gets a 400 saying why, and the provider is not called."""
    body = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "Perform a web search for the query: uvloop release"}],
        "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 8}],
    }
    response = httpx.post(openai_gateway + "/v1/messages", json=body, timeout=5)
    message = assert_envelope(response, 400, "invalid_request_error")
    assert "web_search_20250305 is a server tool" in message
    assert upstream.requests == []
