"""Message and tool-use ids for translated responses.

Anthropic ids are `msg_…` / `toolu_…` followed by base62 characters. Upstream tool-call ids are kept when
Anthropic accepts them (Claude Code only needs them consistent within the conversation, and keeping them
means the request side can pass them back unchanged); missing, invalid or repeated ones are replaced.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable

IdFactory = Callable[[str], str]
"""Makes a fresh id from a prefix ("msg_", "toolu_"); injectable so tests get stable ids."""

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_VALID_TOOL_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


_ID_CHARS = 24
# Random bytes below 248 (4 x 62) map evenly onto the 62 characters; the rest are skipped.
_EVEN_BELOW = 248


def random_id(prefix: str) -> str:
    """`prefix` + 24 random base62 characters (about 143 bits)."""
    # One read of the OS random source (not one per character, as secrets.choice would do: 24 syscalls).
    chars: list[str] = []
    while len(chars) < _ID_CHARS:
        chars += [_BASE62[b % 62] for b in secrets.token_bytes(32) if b < _EVEN_BELOW]
    return prefix + "".join(chars[:_ID_CHARS])


class ToolIds:
    """Hands out the tool_use ids of one message: the upstream id when valid and unused, else a new one."""

    __slots__ = ("_make", "_used")

    def __init__(self, make: IdFactory) -> None:
        self._make = make
        self._used: set[str] = set()

    def assign(self, upstream_id: object) -> str:
        """The id to give a tool call whose upstream id is `upstream_id` (any JSON value, or None)."""
        if (
            isinstance(upstream_id, str)
            and upstream_id not in self._used
            and _VALID_TOOL_ID.match(upstream_id)
        ):
            chosen = upstream_id
        else:
            chosen = self._make("toolu_")
            while chosen in self._used:
                chosen = self._make("toolu_")
        self._used.add(chosen)
        return chosen
