"""Retry timing: exponential backoff with jitter, the provider's Retry-After, and the attempts header.

`relay.py` walks a chain in rounds (every target once per round, a fallback without waiting); between rounds
it waits `next_wait()`: the longest Retry-After the round's failures asked for, else the backoff.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime

from claude_any.table import RetryPolicy

# Above this a Retry-After is taken as a provider's "come back much later": the budget decides anyway.
MAX_SANE_RETRY_AFTER = 24 * 3600.0
# delta-seconds (RFC 9110 §10.2.3), with a fraction tolerated: no sign, exponent, NaN or infinity.
_SECONDS = re.compile(r"\s*(\d{1,12}(?:\.\d{1,9})?)\s*")


def backoff(round_: int, policy: RetryPolicy, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait after failed round `round_` (1-based): initial·2^(n-1), capped, with equal jitter.

    Half the delay is fixed and half random, so a crowd of clients spreads out without anyone retrying at
    once (full jitter would sometimes retry immediately).
    """
    ceiling = min(policy.max_backoff_ms, policy.initial_backoff_ms * 2.0 ** (round_ - 1)) / 1000
    return ceiling * (0.5 + 0.5 * rand())


def retry_after(headers: Mapping[str, str], now: Callable[[], float] = time.time) -> float | None:
    """Seconds a provider asked us to wait (`retry-after-ms`, else `retry-after` in seconds or as an
    HTTP date); None when it said nothing usable: not a number nor a date, negative, or beyond a day.
    Always finite and never negative (a date in the past is 0)."""
    millis = _number(headers.get("retry-after-ms"))
    if millis is not None and millis / 1000 <= MAX_SANE_RETRY_AFTER:
        return millis / 1000
    text = headers.get("retry-after")
    if not text:
        return None
    seconds = _number(text)
    if seconds is None:
        seconds = _until(text, now)
    return seconds if seconds is not None and seconds <= MAX_SANE_RETRY_AFTER else None


def _number(text: str | None) -> float | None:
    found = _SECONDS.fullmatch(text) if text else None
    return float(found[1]) if found else None


def _until(date: str, now: Callable[[], float]) -> float | None:
    """Seconds from now until an HTTP date; 0 when it is past, None when it is not a date."""
    try:
        when = parsedate_to_datetime(date)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000": UTC, says RFC 5322
        when = when.replace(tzinfo=UTC)
    try:
        return max(0.0, when.timestamp() - now())
    except (OverflowError, OSError, ValueError):
        return None


def next_wait(
    round_: int,
    policy: RetryPolicy,
    asked: Iterable[float | None],
    rand: Callable[[], float] = random.random,
) -> float:
    """The wait before round `round_ + 1`: the longest Retry-After asked for in round `round_`, else the
    backoff. A Retry-After is honoured as given (not capped by max_backoff_ms): the budget bounds it."""
    hints = [value for value in asked if value is not None]
    return max(hints) if hints else backoff(round_, policy, rand)


class Attempts:
    """What was tried, for the `x-claude-any-attempts` header: `large:429,large:timeout,small:200`."""

    HEADER = "x-claude-any-attempts"

    def __init__(self) -> None:
        self._entries: list[str] = []

    def add(self, target_id: str, outcome: str | int) -> None:
        """Record one try of `target_id` and how it ended (an HTTP status, `connect` or `timeout`)."""
        self._entries.append(f"{target_id}:{outcome}")

    def __len__(self) -> int:
        return len(self._entries)

    def header(self) -> str:
        """The header value, in the order the tries were made."""
        return ",".join(self._entries)
