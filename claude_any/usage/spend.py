"""What a user has spent, and the day it counts for: shared by the ledger and the budgets, and kept apart
from the database layer so that a gateway with the ledger off never imports SQLAlchemy (13 MB)."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class Spend:
    """What a user has spent: dollars (priced requests), tokens (input, cache included, + output), requests
    sent to a target whose cost is unknown, and priced requests whose tokens were the gateway's estimate."""

    usd: float = 0.0
    tokens: int = 0
    unpriced: int = 0
    estimated: int = 0

    def add(self, other: Spend, sign: int = 1) -> None:
        self.usd += sign * other.usd
        self.tokens += sign * other.tokens
        self.unpriced += sign * other.unpriced
        self.estimated += sign * other.estimated


def utc_day(at: float) -> str:
    """YYYY-MM-DD of the Unix time `at`, in UTC: the day a budget counts (and the report's `--by day`)."""
    return time.strftime("%Y-%m-%d", time.gmtime(at))
