"""A provider's 2xx is an answer only if it is of the kind asked for; these checks run before anything is
sent to the client, so a 200 that is not an answer becomes a real HTTP error (and is retried, or falls back,
exactly as that error would be).

- Right after the status line (`check_content_type`): a content type that shows the body is not an event
  stream (for a stream request: an HTML page, a JSON body) or not JSON (for one without stream: an HTML page,
  an event stream) is read (a bounded prefix) and mapped: an error object (`{"error": …}`) exactly as if it
  had come with its own status (`errors.in_band`), anything else as a 502. A missing or unusual content type
  is left to the body's own checks (the translators end a stream that holds no answer with an error).
- The body of a non-streamed Anthropic pass-through (`check_anthropic_message`): a message, or the error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import httpx

from claude_any.runtime import errors
from claude_any.runtime.call.upstream import body_source, close
from claude_any.runtime.errors import AnthropicError

# How much of a body that is not an answer is read to say what it is (an error object is small).
_PREFIX_BYTES = 64 * 1024
_NOT_A_STREAM = ("text/html", "application/json", "application/problem+json", "text/xml", "application/xml")
_NOT_JSON = ("text/html", "text/event-stream", "text/xml", "application/xml")


def media_type(response: httpx.Response) -> str:
    """The response's media type, lower-cased, without parameters ("" when it has none)."""
    value: str = response.headers.get("content-type", "")
    return value.partition(";")[0].strip().lower()


async def check_content_type(
    response: httpx.Response, *, stream: bool, provider_name: str, read_s: float
) -> None:
    """Raise the mapped AnthropicError (the response read and closed) when the content type shows the 2xx
    is not the answer asked for; return at once otherwise, the body unread."""
    kind = media_type(response)
    if kind not in (_NOT_A_STREAM if stream else _NOT_JSON):
        return
    try:
        body = await _prefix(response, read_s)
    finally:
        await close(response)
    raise _not_an_answer(kind, body, stream=stream, provider_name=provider_name)


def check_anthropic_message(body: dict[str, Any], provider_name: str) -> None:
    """Raise the mapped AnthropicError when a pass-through's non-streamed body is not a message."""
    if body.get("type") == "error" or body.get("error") is not None:
        raise errors.in_band(body, provider_name)
    if body.get("type") != "message" or not isinstance(body.get("content"), list):
        raise errors.not_an_answer(provider_name, "the answer is not an Anthropic message")


async def _prefix(response: httpx.Response, read_s: float) -> bytes:
    """Up to `_PREFIX_BYTES` of the body, whatever arrived within `read_s` seconds (a failed read: b"")."""
    parts: list[bytes] = []
    size = 0
    with contextlib.suppress(httpx.HTTPError, TimeoutError):
        async with asyncio.timeout(read_s):
            source = body_source(response)
            while chunk := await source.read():
                parts.append(chunk)
                size += len(chunk)
                if size >= _PREFIX_BYTES:
                    break
    return b"".join(parts)[:_PREFIX_BYTES]


def _not_an_answer(kind: str, body: bytes, *, stream: bool, provider_name: str) -> AnthropicError:
    if "json" in kind:
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if isinstance(payload, dict) and (payload.get("error") is not None or payload.get("type") == "error"):
            return errors.in_band(payload, provider_name)
    wanted = "an event stream" if stream else "JSON"
    if kind == "text/html":
        return errors.not_an_answer(
            provider_name, f"answered with an HTML page, not {wanted} (is the provider's URL right?)"
        )
    return errors.not_an_answer(provider_name, f"answered with {kind}, not {wanted}")
