"""A bounded memo keyed by a value's JSON bytes, for work that repeats verbatim on every request.

Claude Code sends the same tool definitions (about 40 KB of them) with every request of a session. Encoding
a value with orjson takes a few microseconds and gives a key that is equal exactly when the JSON values are
equal (key order included), so a walk that costs far more (cleaning a schema, counting a tool's tokens) is
done once per distinct value instead of once per request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from claude_any.runtime.translate import json_codec

V = TypeVar("V")
_MISSING = object()


class JSONMemo(Generic[V]):
    """`compute(value)`, remembered by the JSON encoding of `value`; oldest entries go first when full.

    Results are shared between requests, so callers must treat them as read-only. Safe to call from the
    event loop and the large-body worker thread at once (runtime/offload.py): a hit is one atomic dict
    read; a miss computes unlocked and takes the lock only to evict and insert.
    """

    def __init__(self, compute: Callable[[Any], V], *, max_entries: int = 1024, max_key_bytes: int = 256_000):
        self._compute = compute
        self._max_entries = max_entries
        self._max_key_bytes = max_key_bytes  # a larger value is computed, not kept
        self._entries: dict[bytes, V] = {}
        self._lock = threading.Lock()

    def __call__(self, value: Any) -> V:
        try:
            key = json_codec.dumps(value)
        except (TypeError, ValueError):  # not JSON (cannot come from a parsed request): nothing to key on
            return self._compute(value)
        found = self._entries.get(key, _MISSING)
        if found is not _MISSING:
            return found  # type: ignore[return-value]
        result = self._compute(value)
        if len(key) <= self._max_key_bytes:
            with self._lock:
                if len(self._entries) >= self._max_entries:
                    del self._entries[next(iter(self._entries))]
                self._entries[key] = result
        return result

    def __len__(self) -> int:
        return len(self._entries)
