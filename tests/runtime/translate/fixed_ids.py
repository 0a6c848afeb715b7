"""Deterministic ids for translator tests: msg_000…1, toolu_000…2, … so snapshots are stable."""

from __future__ import annotations

from collections.abc import Callable


def counter_ids() -> Callable[[str], str]:
    """An id factory for `make_id=`: the prefix, then a counter padded to 24 digits."""
    count = 0

    def make(prefix: str) -> str:
        nonlocal count
        count += 1
        return f"{prefix}{count:024d}"

    return make
