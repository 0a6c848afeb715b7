"""Message and tool-use ids for translated responses, and the way back from a tool_use id to the provider's.

Anthropic ids are `msg_…` / `toolu_…` followed by base62 characters, and a tool_use id must match
`^[a-zA-Z0-9_-]+$`. An upstream tool-call id Anthropic accepts is kept as it is (the request side then passes
it back unchanged). One it does not accept (Kimi's `functions.Bash:0`), and any id that comes with a Gemini
thought signature, is carried inside the tool_use id: `toolu_ca_` + base64url of the provider's id (and the
signature), so the next request, which quotes the tool_use id, can give the provider back exactly what it
issued, without the gateway keeping any state (`read_carried`). Missing or repeated ids are replaced.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

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


# A tool_use id that carries the provider's own id (and a thought signature): see the module docstring.
CARRIED_PREFIX = "toolu_ca_"
_SEPARATOR = "\0"  # between the provider's id and a thought signature (neither holds a NUL)


@dataclass(frozen=True, slots=True)
class Carried:
    """What a carried tool_use id holds: the provider's tool-call id and its thought signature, if any."""

    upstream_id: str
    thought_signature: str | None = None


def carry_id(upstream_id: str, thought_signature: str | None = None) -> str:
    """The tool_use id carrying `upstream_id` (and `thought_signature`) back to the provider."""
    payload = upstream_id if not thought_signature else upstream_id + _SEPARATOR + thought_signature
    encoded = base64.urlsafe_b64encode(payload.encode("utf-8")).rstrip(b"=").decode("ascii")
    return CARRIED_PREFIX + encoded


def read_carried(tool_use_id: object) -> Carried | None:
    """What a `carry_id` id holds; None for any other id (a client's own, an upstream's kept as it was)."""
    if not isinstance(tool_use_id, str) or not tool_use_id.startswith(CARRIED_PREFIX):
        return None
    encoded = tool_use_id[len(CARRIED_PREFIX) :]
    try:
        payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    upstream_id, _, thought_signature = payload.partition(_SEPARATOR)
    if not upstream_id:
        return None
    return Carried(upstream_id, thought_signature or None)


class ToolIds:
    """Hands out the tool_use ids of one message: the upstream id when Anthropic accepts it and it is
    unused, the upstream id carried (`carry_id`) when it is not or a thought signature comes with it, else
    a new one."""

    __slots__ = ("_make", "_used")

    def __init__(self, make: IdFactory) -> None:
        self._make = make
        self._used: set[str] = set()

    def assign(self, upstream_id: object, thought_signature: str | None = None) -> str:
        """The id to give a tool call whose upstream id is `upstream_id` (any JSON value, or None)."""
        given = upstream_id if isinstance(upstream_id, str) and upstream_id else None
        chosen: str | None = None
        if given is not None and given not in self._used:
            plain = not thought_signature and not given.startswith(CARRIED_PREFIX)
            chosen = given if plain and _VALID_TOOL_ID.match(given) else carry_id(given, thought_signature)
        if chosen is None or chosen in self._used:
            chosen = self._fresh()
            if thought_signature:
                chosen = carry_id(chosen, thought_signature)
        self._used.add(chosen)
        if given is not None:
            self._used.add(given)
        return chosen

    def _fresh(self) -> str:
        chosen = self._make("toolu_")
        while chosen in self._used:
            chosen = self._make("toolu_")
        return chosen
