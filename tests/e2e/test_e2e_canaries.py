"""The healing checks can fail: break the gateway the two ways Claude Code silently heals around, and
`assert_no_healing` must see it, although Claude Code reports success both times."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from conftest import RunClaude
from loopback import FakeUpstream, ThreadServer
from scripted import Model, error_reply
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from upstream_checks import assert_no_healing, chat_bodies

# The Messages API's answer to a `role: "system"` turn (older API versions): Claude Code's cue to fold the
# turn into the user message and send again.
SYSTEM_ROLE_REJECTED = (
    'messages.2.role: Unexpected role "system". The Messages API accepts a top-level `system` parameter, '
    'not "system" as an input message role.'
)


def test_a_retry_without_the_system_turn_is_caught(
    upstream: FakeUpstream, openai_gateway: str, run_claude: RunClaude
) -> None:
    upstream.responder = Model(failures=[error_reply(400, SYSTEM_ROLE_REJECTED)], answer="healed")
    session = run_claude(openai_gateway, "hello")

    assert session.result["is_error"] is False and session.result["result"] == "healed"
    with pytest.raises(AssertionError, match="re-sent without its system turn"):
        assert_no_healing(chat_bodies(upstream.requests))


def _without_message_start(upstream_url: str) -> Starlette:
    """A broken gateway: a proxy in front of claude-any that drops `message_start` from every stream."""

    async def forward(request: Request) -> Response:
        client = httpx.AsyncClient(timeout=30)
        headers = {k: v for k, v in request.headers.items() if k not in ("host", "content-length")}
        sent = client.build_request(
            request.method,
            upstream_url + request.url.path,
            params=request.url.query,
            headers=headers,
            content=await request.body(),
        )
        answer = await client.send(sent, stream=True)

        async def frames() -> AsyncIterator[bytes]:
            buffer = b""
            async for data in answer.aiter_bytes():
                buffer += data
                *complete, buffer = buffer.split(b"\n\n")
                for frame in complete:
                    if not frame.startswith(b"event: message_start"):
                        yield frame + b"\n\n"
            yield buffer
            await answer.aclose()
            await client.aclose()

        media = answer.headers.get("content-type", "")
        return StreamingResponse(frames(), status_code=answer.status_code, media_type=media)

    return Starlette(routes=[Route("/{path:path}", forward, methods=["GET", "POST", "HEAD"])])


def test_a_non_streaming_retry_is_caught(
    upstream: FakeUpstream, openai_gateway: str, run_claude: RunClaude
) -> None:
    broken = ThreadServer(_without_message_start(openai_gateway)).start()
    upstream.responder = Model(answer="healed")
    try:
        session = run_claude(broken.url, "hello")
    finally:
        broken.stop()

    assert session.result["is_error"] is False and session.result["result"] == "healed"
    with pytest.raises(AssertionError, match="non-streaming retry"):
        assert_no_healing(chat_bodies(upstream.requests))
