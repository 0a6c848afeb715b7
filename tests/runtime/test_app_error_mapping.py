"""errors.from_upstream: provider failures → the Anthropic error Claude Code and its SDK expect (§14)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from claude_any.runtime import errors
from claude_any.runtime.call.upstream import transport_error
from claude_any.runtime.errors import AnthropicError, from_upstream
from claude_any.runtime.scrub import Scrubber


def mapped(status: int, body: Any, headers: dict[str, str] | None = None, **kw: Any) -> AnthropicError:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return from_upstream(status, raw, headers or {}, "prov", **kw)


def openai_error(message: str, code: str | None = None, type_: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def test_context_length_becomes_anthropic_wording() -> None:
    err = mapped(
        400,
        openai_error(
            "This model's maximum context length is 128000 tokens. However, your messages resulted in "
            "130512 tokens. Please reduce the length of the messages.",
            code="context_length_exceeded",
        ),
    )
    assert (err.status, err.type) == (400, "invalid_request_error")
    assert err.message == "prompt is too long: 130512 tokens > 128000 maximum"


def test_context_length_without_numbers_still_says_prompt_is_too_long() -> None:
    err = mapped(400, openai_error("context window exceeded", code="context_length_exceeded"))
    assert err.message.startswith("prompt is too long")


def test_databricks_cannot_exceed() -> None:
    body = {"error_code": "BAD_REQUEST", "message": "Input is too long: 9000 tokens, cannot exceed 8192"}
    assert mapped(400, body).message == "prompt is too long: 9000 tokens > 8192 maximum"


@pytest.mark.parametrize("status", [429, 402])
def test_insufficient_quota_is_billing_and_not_retryable(status: int) -> None:
    err = mapped(status, openai_error("You exceeded your current quota", code="insufficient_quota"))
    assert (err.status, err.type) == (402, "billing_error")
    assert err.headers["x-should-retry"] == "false"
    assert not err.retryable


def test_rate_limit_keeps_retry_headers() -> None:
    err = mapped(429, openai_error("slow down"), {"Retry-After": "12", "retry-after-ms": "12000"})
    assert (err.status, err.type) == (429, "rate_limit_error")
    assert err.headers == {"retry-after": "12", "retry-after-ms": "12000"}
    assert err.retryable


def test_azure_rate_limit_derives_retry_after_from_text() -> None:
    body = {
        "error": {
            "code": "429",
            "message": "Requests ... exceeded token rate limit. Please retry after 33 seconds.",
        }
    }
    assert mapped(429, body).headers == {"retry-after": "33"}


def test_databricks_request_limit() -> None:
    err = mapped(429, {"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "QPS exceeded"})
    assert err.type == "rate_limit_error"
    assert err.message == "prov: QPS exceeded"


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (503, openai_error("Service Unavailable"), (529, "overloaded_error")),
        (500, openai_error("The server is overloaded", code="server_overloaded"), (529, "overloaded_error")),
        (504, b"<html>Gateway Timeout</html>", (504, "timeout_error")),
        (500, openai_error("internal"), (500, "api_error")),
        (502, b"bad gateway", (500, "api_error")),
        (401, openai_error("Incorrect API key", code="invalid_api_key"), (401, "authentication_error")),
        (403, openai_error("forbidden"), (403, "permission_error")),
        (413, b"too big", (413, "request_too_large")),
        (422, {"detail": "unprocessable"}, (400, "invalid_request_error")),
        (400, openai_error("Unsupported parameter: 'max_tokens'", code="unsupported_parameter"),
         (400, "invalid_request_error")),
    ],
)  # fmt: skip
def test_status_mapping(status: int, body: Any, expected: tuple[int, str]) -> None:
    err = mapped(status, body)
    assert (err.status, err.type) == expected


def test_other_400_keeps_the_upstream_message_with_the_provider_name() -> None:
    err = mapped(400, openai_error("Invalid schema for function 'Read'", code="invalid_function_parameters"))
    assert err.message == "prov: Invalid schema for function 'Read'"


def test_azure_content_filter() -> None:
    body = {
        "error": {
            "message": "The response was filtered due to the prompt triggering the content policy.",
            "type": None,
            "param": "prompt",
            "code": "content_filter",
            "status": 400,
            "innererror": {"code": "ResponsibleAIPolicyViolation"},
        }
    }
    err = mapped(400, body)
    assert (err.status, err.type) == (400, "invalid_request_error")
    assert "filtered" in err.message
    assert not err.retryable


def test_deployment_not_found_names_the_deployment() -> None:
    body = {
        "error": {
            "code": "DeploymentNotFound",
            "message": "The API deployment for this resource does not exist.",
        }
    }
    err = mapped(404, body, model="gpt4o-prod")
    assert (err.status, err.type) == (404, "not_found_error")
    assert "'gpt4o-prod'" in err.message


def test_anthropic_shaped_upstream_error() -> None:
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    err = mapped(529, body)
    assert (err.status, err.type, err.message) == (529, "overloaded_error", "prov: Overloaded")


def test_empty_and_huge_bodies() -> None:
    assert mapped(500, b"").message == "prov: HTTP 500"
    huge = mapped(400, b"x" * 100_000)
    shown = errors.envelope(huge, "req_1")["error"]["message"]
    assert len(shown) == errors.MAX_SHOWN_MESSAGE and shown.endswith("…")


def test_a_message_is_cut_only_when_shown_so_it_is_scrubbed_whole() -> None:
    key = "sk-straddle-0123456789abcdef"
    err = mapped(401, openai_error("x" * 1980 + key + " is wrong"))
    assert key in err.message  # whole: the app scrubs it before the envelope cuts it
    err.message = Scrubber([key])(err.message)
    assert errors.envelope(err, "req_1")["error"]["message"].endswith("x***" + " is wrong")


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://user:pw-secret-1@127.0.0.1:8000/v1", "127.0.0.1:8000"),
        ("https://pw-secret-1@api.example.com/v1", "api.example.com"),
        ("https://[::1]:8443/v1", "[::1]:8443"),
        ("https://api.openai.com/v1", "api.openai.com"),
        ("https://user:pw-secret-1@[bad/v1", "(a URL that does not parse)"),
    ],
)
def test_messages_name_a_url_by_host_never_by_its_credentials(url: str, host: str) -> None:
    assert errors.url_host(url) == host
    for exc in (httpx.ConnectError("refused"), httpx.ReadError("reset"), httpx.ReadTimeout("slow")):
        message = transport_error(exc, "prov", url).message
        assert "pw-secret-1" not in message and host in message


def test_envelope_and_sse_error() -> None:
    err = errors.rate_limit("slow")
    assert errors.envelope(err, "req_1") == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "slow"},
        "request_id": "req_1",
    }
    frame = errors.sse_error(err, "req_1").decode()
    assert frame.startswith("event: error\ndata: ") and frame.endswith("\n\n")
    assert json.loads(frame.split("data: ", 1)[1])["error"]["type"] == "rate_limit_error"


def test_request_ids_are_unique() -> None:
    ids = {errors.new_request_id() for _ in range(100)}
    assert len(ids) == 100 and all(i.startswith("req_") for i in ids)


@pytest.mark.parametrize("status", [401, 403, 404])
def test_what_only_a_config_change_can_fix_says_not_to_retry(status: int) -> None:
    assert mapped(status, openai_error("no")).headers == {"x-should-retry": "false"}
    assert mapped(status, openai_error("no", code="DeploymentNotFound")).headers == {
        "x-should-retry": "false"
    }


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 529])
def test_what_may_pass_leaves_the_client_free_to_retry(status: int) -> None:
    assert "x-should-retry" not in mapped(status, openai_error("busy")).headers


@pytest.mark.parametrize(
    ("exc", "said"),
    [
        (httpx.ConnectTimeout("x"), "prov: upstream api.example.com timed out while connecting"),
        (httpx.ReadTimeout("x"), "prov: upstream api.example.com timed out while its answer was read"),
        (
            httpx.PoolTimeout("x"),
            "prov: upstream api.example.com timed out while waiting for a free connection",
        ),
        (httpx.ReadError("x"), "prov: upstream api.example.com failed: the connection was broken"),
        (
            httpx.RemoteProtocolError("x"),
            "prov: upstream api.example.com failed: its answer broke the HTTP protocol, or the connection "
            "closed mid-answer",
        ),
    ],
)
def test_transport_failures_are_said_in_words_not_class_names(exc: Exception, said: str) -> None:
    # Before, a client read "timed out (ReadTimeout)" and "failed: RemoteProtocolError".
    assert transport_error(exc, "prov", "https://api.example.com/v1").message == said
