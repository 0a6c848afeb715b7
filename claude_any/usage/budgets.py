"""`limits:`: a user past their daily budget is refused, with which limit it is and when it resets.

The refusal is 402 billing_error with `x-should-retry: false`, not 429: Claude Code (and Anthropic's SDKs)
retry a 429 with backoff, and no retry can succeed before UTC midnight.
"""

from __future__ import annotations

import time

from claude_any.runtime import errors
from claude_any.runtime.errors import AnthropicError
from claude_any.table import Limit
from claude_any.usage.spend import Spend

DAY_SECONDS = 86_400


def refusal(user: str, limit: Limit, spend: Spend, now: float | None = None) -> AnthropicError | None:
    """The error for `user` when `spend` has reached `limit`, else None."""
    if limit.usd_per_day is not None and spend.usd >= limit.usd_per_day:
        used = (
            f"{dollars(spend.usd)} of the {dollars(limit.usd_per_day)} a day "
            f"that limits.{user}.usd_per_day allows"
        )
    elif limit.tokens_per_day is not None and spend.tokens >= limit.tokens_per_day:
        used = (
            f"{spend.tokens:,} of the {limit.tokens_per_day:,} tokens a day "
            f"that limits.{user}.tokens_per_day allows"
        )
    else:
        return None
    return errors.billing(f"{user} has used {used}; it resets at 00:00 UTC, {resets_in(now)}")


def dollars(amount: float) -> str:
    """$20.00, $1,234.50; below a dollar up to four decimals ($0.015), so a small limit reads as written."""
    if amount >= 1:
        return f"${amount:,.2f}"
    digits = f"{amount:.4f}".rstrip("0")
    return "$" + (digits if len(digits.split(".")[1]) >= 2 else f"{amount:.2f}")


def resets_in(now: float | None = None) -> str:
    """ "in 3 h 12 min": the time to the next UTC midnight."""
    now = time.time() if now is None else now
    left = DAY_SECONDS - int(now) % DAY_SECONDS
    hours, minutes = divmod((left + 59) // 60, 60)
    if hours == 0:
        return f"in {minutes} min"
    return f"in {hours} h {minutes} min" if minutes else f"in {hours} h"
