"""Bounded memory for what repeats between requests: `LRU`, and `JSONMemo`, keyed by a value's JSON bytes.

Anything kept across requests is keyed by what clients send (model names, tool definitions, prompts), so
every such cache is bounded twice: in entries, and in the total size of its keys, since a key's size is the
client's to choose. Least recently used entries go first.

Claude Code sends the same tool definitions (about 40 KB of them) with every request of a session. Encoding
a value with orjson takes a few microseconds and gives a key that is equal exactly when the JSON values are
equal (key order included), so a walk that costs far more (cleaning a schema, counting a tool's tokens) is
done once per distinct value instead of once per request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from claude_any.runtime.translate import json_codec

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRU(Generic[K, V]):
    """At most `max_entries` entries whose keys weigh at most `max_weight` in all (`weigh(key)`: a length);
    the least recently used go first. A key heavier than `max_weight` alone is not kept.

    A plain dict in use order (a hit moves its entry to the end), under a lock: large request bodies are
    worked on in a worker thread (runtime/serve/offload.py) that uses the same caches as the event loop.
    """

    def __init__(self, max_entries: int, max_weight: int, weigh: Callable[[K], int]) -> None:
        self.max_entries = max_entries
        self.max_weight = max_weight
        self._weigh = weigh
        self._entries: dict[K, tuple[V, int]] = {}
        self.weight = 0
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The value kept for `key` (now the most recently used), or None."""
        with self._lock:
            entry = self._entries.pop(key, None)
            if entry is None:
                return None
            self._entries[key] = entry
            return entry[0]

    def put(self, key: K, value: V) -> None:
        """Keep `value` for `key`, evicting the least recently used entries as needed."""
        weight = self._weigh(key)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.weight -= old[1]
            if weight > self.max_weight:
                return
            self._entries[key] = (value, weight)
            self.weight += weight
            while len(self._entries) > self.max_entries or self.weight > self.max_weight:
                oldest = next(iter(self._entries))
                self.weight -= self._entries.pop(oldest)[1]

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries


class JSONMemo(Generic[V]):
    """`compute(value)`, remembered by the JSON encoding of `value` in an `LRU`: at most `max_entries`
    values, none over `max_key_bytes` (computed, not kept), `max_total_bytes` of keys in all.

    Results are shared between requests, so callers must treat them as read-only. Safe to call from the
    event loop and the large-body worker thread at once (runtime/serve/offload.py): the LRU locks; a miss
    computes unlocked.
    """

    def __init__(
        self,
        compute: Callable[[Any], V],
        *,
        max_entries: int = 1024,
        max_key_bytes: int = 256_000,
        max_total_bytes: int = 8_000_000,
    ):
        self._compute = compute
        self._max_key_bytes = max_key_bytes
        self._entries: LRU[bytes, V] = LRU(max_entries, max_total_bytes, len)

    def __call__(self, value: Any) -> V:
        try:
            key = json_codec.dumps(value)
        except (TypeError, ValueError):  # not JSON (cannot come from a parsed request): nothing to key on
            return self._compute(value)
        found = self._entries.get(key)
        if found is not None:
            return found
        result = self._compute(value)
        if len(key) <= self._max_key_bytes:
            self._entries.put(key, result)
        return result

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def key_bytes(self) -> int:
        """The total size of the keys kept."""
        return self._entries.weight
