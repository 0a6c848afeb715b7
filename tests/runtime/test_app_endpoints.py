"""The API surface besides message translation: count_tokens, models, probes, errors, auth, limits."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import anthropic
import httpx
import pytest
from loopback import FakeUpstream, Reply, make_table, openai_provider, target

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


def test_models_lists_families_and_targets(openai_gateway: str) -> None:
    page = httpx.get(openai_gateway + "/v1/models?limit=1000", timeout=5).json()
    ids = [m["id"] for m in page["data"]]
    assert ids == ["claude-opus-4-8", "claude-sonnet-4-6", "claude-haiku-4-5", "large", "small"]
    assert all(m["type"] == "model" and m["display_name"] for m in page["data"])
    assert "small" in page["data"][2]["display_name"]  # haiku goes to small
    assert page["has_more"] is False
    sdk_ids = [m.id for m in client(openai_gateway).models.list()]
    assert sdk_ids == ids


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
