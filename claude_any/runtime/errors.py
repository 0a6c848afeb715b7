"""Anthropic-shaped errors and the mapping of upstream failures onto them (docs/PROTOCOL.md "Errors").

Every HTTP failure the gateway reports is an `AnthropicError`; one exception handler in `app.py` renders it
with `envelope()`. `from_upstream()` turns a provider's error response into the error Claude Code expects:
the SDK picks its exception class (and whether to retry) from the HTTP status, so the status matters most.
"""

from __future__ import annotations

import json
import math
import re
import secrets as _random
from typing import Any
from urllib.parse import urlsplit

from claude_any.runtime.call import retry

# Statuses the SDK retries on; a fallback chain moves on to the next target for the same set.
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})

# Messages are shown to the user; keep them readable, not a dump of a provider's HTML error page. The cut is
# made when the message is rendered (`envelope`), after the secrets were scrubbed from the whole text: cut
# first, a key straddling the cut would leave its prefix behind.
MAX_SHOWN_MESSAGE = 2000
# How much of an upstream message is read to classify it (context overflow, overloaded): bounded, so the
# patterns never run over a huge error page.
_CLASSIFIED_CHARS = 8000


class AnthropicError(Exception):
    """An error rendered as Anthropic's `{"type": "error", "error": {...}}` envelope with `status`."""

    def __init__(self, status: int, type: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.type = type
        self.message = message
        self.headers: dict[str, str] = dict(headers or {})
        # What the upstream really did, for x-claude-any-attempts: its HTTP status, or "connect"/"timeout".
        self.cause = ""

    @property
    def retryable(self) -> bool:
        """True when a client (or a fallback chain) may try again; honours an explicit x-should-retry."""
        explicit = self.headers.get("x-should-retry")
        if explicit is not None:
            return explicit == "true"
        return self.status in RETRYABLE_STATUSES

    def __repr__(self) -> str:
        return f"AnthropicError({self.status}, {self.type!r}, {self.message!r})"


def json_type(value: Any) -> str:
    """How a JSON value's type is named in a message ("an object", "a string", "null"), not Python's way."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def invalid_request(message: str) -> AnthropicError:
    """400 invalid_request_error."""
    return AnthropicError(400, "invalid_request_error", message)


def authentication(message: str) -> AnthropicError:
    """401 authentication_error."""
    return AnthropicError(401, "authentication_error", message)


def billing(message: str) -> AnthropicError:
    """402 billing_error; marked non-retryable so the SDK does not loop on a request that cannot succeed."""
    return AnthropicError(402, "billing_error", message, {"x-should-retry": "false"})


def permission(message: str) -> AnthropicError:
    """403 permission_error."""
    return AnthropicError(403, "permission_error", message)


def not_found(message: str) -> AnthropicError:
    """404 not_found_error."""
    return AnthropicError(404, "not_found_error", message)


def method_not_allowed(message: str) -> AnthropicError:
    """405; Anthropic has no dedicated type, so invalid_request_error with the right status."""
    return AnthropicError(405, "invalid_request_error", message)


def request_too_large(message: str) -> AnthropicError:
    """413 request_too_large."""
    return AnthropicError(413, "request_too_large", message)


def rate_limit(message: str, headers: dict[str, str] | None = None) -> AnthropicError:
    """429 rate_limit_error; `headers` carries retry-after / retry-after-ms for the SDK's backoff."""
    return AnthropicError(429, "rate_limit_error", message, headers)


def api_error(message: str, status: int = 500) -> AnthropicError:
    """500 api_error (or another 5xx status)."""
    return AnthropicError(status, "api_error", message)


def timeout(message: str) -> AnthropicError:
    """504 timeout_error."""
    return AnthropicError(504, "timeout_error", message)


def overloaded(message: str) -> AnthropicError:
    """529 overloaded_error."""
    return AnthropicError(529, "overloaded_error", message)


def stream_cut(provider_name: str) -> AnthropicError:
    """A stream whose body ended before the provider said its answer was complete (no finish_reason, no
    `[DONE]`, no `response.completed`, no `message_stop`): what arrived is not the whole answer."""
    return api_error(f"{provider_name}: the stream ended before the provider finished")


def not_an_answer(provider_name: str, what: str) -> AnthropicError:
    """502 api_error: the provider answered 2xx with something that is not an answer (an HTML page, the
    wrong shape, a tool call that cannot be passed on). Retryable: another try, or target, may answer."""
    err = api_error(f"{provider_name}: {what}", status=502)
    err.cause = "invalid"
    return err


# Error codes (OpenAI's, and Anthropic's error types) an error object may carry instead of a status, as the
# HTTP status the same failure comes with.
_CODE_STATUS = {
    "rate_limit_exceeded": 429,
    "server_error": 500,
    "vector_store_timeout": 504,
    "context_length_exceeded": 400,
    "insufficient_quota": 429,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def in_band(payload: dict[str, Any], provider_name: str) -> AnthropicError:
    """An error object the provider sent inside a 2xx answer (`{"error": …}` as a whole body or as a stream
    event), mapped exactly like the same error sent with its own HTTP status.

    The status is the one the object states (`status`, or a numeric `code`: OpenRouter sends the HTTP status
    there, Azure as a string), else the status its error code stands for, else 500.
    """
    err = payload.get("error")
    obj = err if isinstance(err, dict) else payload
    status = 0
    for value in (obj.get("status"), obj.get("code")):
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool) and 400 <= value <= 599:
            status = value
            break
    if not status:
        code = str(obj.get("code") or obj.get("type") or "")
        status = _CODE_STATUS.get(code, 400 if code.startswith(("invalid", "image", "unsupported")) else 500)
    body = payload if isinstance(err, dict | str) else {"error": obj}
    return from_upstream(status, json.dumps(body).encode(), {}, provider_name)


def prompt_too_long(tokens: int, maximum: int) -> AnthropicError:
    """400 in Anthropic's exact wording: Claude Code's compaction recovery matches on it."""
    return invalid_request(f"prompt is too long: {tokens} tokens > {maximum} maximum")


def url_host(url: str) -> str:
    """`host[:port]` of a URL, for messages: never the `user:password@` a URL may carry."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host:
        return "(a URL that does not parse)" if "@" in url else url
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port}" if port else host


def new_request_id() -> str:
    """A fresh `req_…` id for the request-id header and the envelope."""
    return "req_" + _random.token_hex(12)


def shown(message: str) -> str:
    """`message` cut to what a user is shown; the caller scrubs secrets first (`runtime/scrub.py`)."""
    if len(message) <= MAX_SHOWN_MESSAGE:
        return message
    return message[: MAX_SHOWN_MESSAGE - 1] + "…"


def envelope(err: AnthropicError, request_id: str) -> dict[str, Any]:
    """The JSON body of an error response (also the data of a mid-stream `event: error`), its message cut
    to `MAX_SHOWN_MESSAGE` characters."""
    return {
        "type": "error",
        "error": {"type": err.type, "message": shown(err.message)},
        "request_id": request_id,
    }


def sse_error(err: AnthropicError, request_id: str) -> bytes:
    """An `event: error` frame, for failures after a stream's headers are sent (PROTOCOL.md)."""
    data = json.dumps(envelope(err, request_id), ensure_ascii=False, separators=(",", ":"))
    return f"event: error\ndata: {data}\n\n".encode()


# --- upstream error mapping ------------------------------------------------------------------------------

_CONTEXT_PATTERNS = (
    # OpenAI: "maximum context length is 128000 tokens. However, your messages resulted in 130512 tokens"
    re.compile(r"maximum context length is (?P<max>\d+).*?resulted in (?P<tokens>\d+)", re.S),
    # vLLM and friends: "... (130512) exceeds the model's maximum context length (128000)"
    re.compile(r"\((?P<tokens>\d+)\)\s*exceeds?.*?maximum context length.*?\((?P<max>\d+)\)", re.S),
    # "prompt is too long: 130512 tokens > 128000 maximum" (Anthropic-compatible upstreams)
    re.compile(r"(?P<tokens>\d+) tokens > (?P<max>\d+)"),
    # Databricks: "Input is too long: 130512 tokens ... cannot exceed 128000"
    re.compile(r"(?P<tokens>\d+) tokens.*?cannot exceed (?P<max>\d+)", re.S),
)
_CONTEXT_WORDS = (
    "context_length_exceeded",
    "maximum context length",
    "context window",
    "prompt is too long",
    "input is too long",
    "too many tokens",
)
# Out of money or quota: retrying (here or in the client) cannot help until someone acts.
_BILLING_CODES = frozenset(
    {"insufficient_quota", "billing_hard_limit_reached", "billing_not_active", "quota_exceeded"}
)
_RETRY_AFTER_TEXT = re.compile(r"retry after (\d+(?:\.\d+)?) seconds?", re.I)


def _parse_body(body: bytes) -> tuple[str, str, dict[str, Any]]:
    """(message, code, error object) from an OpenAI-, Azure-, Databricks- or Anthropic-shaped error body.

    The message is whole: it is scrubbed of secrets before anything cuts it (`shown`)."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text) if text else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return text, "", {}
    err = data.get("error")
    if isinstance(err, dict):
        message = err.get("message")
        code = err.get("code") or err.get("type") or ""
        obj = err
    else:
        # Databricks: {"error_code": "BAD_REQUEST", "message": "..."}; some servers: {"error": "text"}
        message = data.get("message") or (err if isinstance(err, str) else None) or data.get("detail")
        code = data.get("error_code") or ""
        obj = data
    if not isinstance(message, str):
        message = json.dumps(message) if message is not None else text
    return message, str(code), obj


def _context_overflow(message: str, code: str) -> AnthropicError | None:
    head = message[:_CLASSIFIED_CHARS]
    lowered = head.lower()
    if code != "context_length_exceeded" and not any(w in lowered for w in _CONTEXT_WORDS):
        return None
    for pattern in _CONTEXT_PATTERNS:
        found = pattern.search(head)
        if found:
            return prompt_too_long(int(found["tokens"]), int(found["max"]))
    return invalid_request(f"prompt is too long: {message}")


def _retry_headers(headers: dict[str, str], message: str) -> dict[str, str]:
    """retry-after / retry-after-ms as the SDK reads them (docs/PROTOCOL.md): the provider's, sanitised
    (`retry.retry_after`: a number of seconds, finite, not negative, within a day; an HTTP date becomes
    the seconds until it), or derived from its message. None of them when it said nothing usable."""
    wait = retry.retry_after(headers)
    if wait is None:
        found = _RETRY_AFTER_TEXT.search(message)
        wait = retry.retry_after({"retry-after": found[1]}) if found else None
        if wait is None:
            return {}
        wait = max(1.0, wait)  # "retry after 0.2 seconds" in a message: the SDK reads whole seconds
    out = {"retry-after": str(math.ceil(wait))}
    if retry.retry_after({"retry-after-ms": headers.get("retry-after-ms", "")}) is not None:
        out["retry-after-ms"] = str(round(wait * 1000))
    return out


def from_upstream(
    status: int, body: bytes, headers: dict[str, str], provider_name: str, model: str | None = None
) -> AnthropicError:
    """Map a provider's non-2xx response (status, raw body, headers) to an AnthropicError.

    `model` is the model/deployment name sent upstream, used to name a missing deployment (Azure's
    DeploymentNotFound message does not).

    The upstream message is kept (prefixed with the provider name) because Claude Code shows it to the user;
    a provider that echoes a credential in it is scrubbed by the app (`runtime/scrub.py`) before it is shown.
    """
    err = _classify(status, body, headers, provider_name, model)
    err.cause = str(status)
    return err


def _final(err: AnthropicError) -> AnthropicError:
    """`err` marked `x-should-retry: false`: a bad key, no access, a model or deployment that does not
    exist. Claude Code would otherwise retry for minutes what only a change of config can fix."""
    err.headers["x-should-retry"] = "false"
    return err


def unreachable_or_last(last: AnthropicError, tried: dict[str, AnthropicError]) -> AnthropicError:
    """The error for a chain whose every try failed: when no target could even be connected to
    (connection refused, a host name that does not resolve), one that says so and names each target with
    its failure, not to be retried by the client (the gateway has retried already); else `last`."""
    if not tried or any(err.cause != "connect" for err in tried.values()):
        return last
    named = ", ".join(f"{target_id} ({err.message})" for target_id, err in tried.items())
    err = api_error(
        "no target could be reached (connection refused, or the host name does not resolve): " + named,
        status=502,
    )
    err.cause = "connect"
    return _final(err)


def _classify(
    status: int, body: bytes, headers: dict[str, str], provider_name: str, model: str | None
) -> AnthropicError:
    headers = {k.lower(): v for k, v in headers.items()}
    message, code, obj = _parse_body(body)
    head = message[:_CLASSIFIED_CHARS]
    lowered_code = code.lower()
    said = f"{provider_name}: {message}" if message else f"{provider_name}: HTTP {status}"

    if lowered_code in _BILLING_CODES or status == 402:
        return billing(said)
    if status in (400, 413, 422) or lowered_code == "context_length_exceeded":
        overflow = _context_overflow(message, lowered_code)
        if overflow is not None:
            return overflow
    if lowered_code == "content_filter" or "responsibleaipolicyviolation" in json.dumps(obj).lower():
        return AnthropicError(
            400,
            "invalid_request_error",
            f"{provider_name}: the request was filtered by the provider's content policy: {message}",
            {"x-should-retry": "false"},
        )
    if status == 404:
        if lowered_code == "deploymentnotfound":
            which = f" {model!r}" if model else ""
            return _final(not_found(f"{provider_name}: deployment{which} not found: {message}"))
        return _final(not_found(said))
    if status == 429 or lowered_code == "request_limit_exceeded":
        return rate_limit(said, _retry_headers(headers, head))
    if status == 401:
        return _final(authentication(said))
    if status == 403:
        return _final(permission(said))
    if status == 413:
        return request_too_large(said)
    if status == 504 or status == 408:
        return timeout(said)
    if status == 503 or status == 529 or "overloaded" in lowered_code or "overloaded" in head.lower():
        return overloaded(said)
    if status >= 500:
        return api_error(said)
    return invalid_request(said)
