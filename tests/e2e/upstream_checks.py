"""Assertions on what a fake upstream received during a Claude Code session.

Claude Code heals around proxy bugs (docs/PROTOCOL.md): after a malformed stream it silently re-sends
the request with `stream: false`, and after an error it re-sends without its `role: "system"` turn. A run
that "succeeded" proves little; these checks look at the upstream side for the traces of such retries.
"""

from __future__ import annotations

from typing import Any

from loopback import Recorded
from scripted import text_of


def chat_bodies(requests: list[Recorded]) -> list[dict[str, Any]]:
    """The Chat Completions request bodies, in order (asserting nothing else was called)."""
    for request in requests:
        assert request.method == "POST" and request.path.endswith("/chat/completions"), request.path
        assert isinstance(request.body, dict)
    return [r.body for r in requests if isinstance(r.body, dict)]


def system_turns(body: dict[str, Any]) -> list[str]:
    return [text_of(m.get("content")) for m in body.get("messages", []) if m.get("role") == "system"]


def assert_no_healing(bodies: list[dict[str, Any]], system_turn: bool = True) -> None:
    """Every request streamed, and every request kept the same system turns as the first one.

    `system_turn`: the first request must hold Claude Code's mid-conversation `role: "system"` turn besides
    the system prompt (it does for the current models; older ones, e.g. claude-sonnet-4-5, get none), so
    that the comparison can see it being dropped."""
    assert bodies, "the upstream received nothing"
    assert [b.get("stream") for b in bodies] == [True] * len(bodies), "a non-streaming retry was made"
    first = system_turns(bodies[0])
    expected = 2 if system_turn else 1
    assert len(first) == expected, f"expected {expected} system messages, got {len(first)}"
    for index, body in enumerate(bodies[1:], start=1):
        assert system_turns(body) == first, f"request {index} was re-sent without its system turn"
