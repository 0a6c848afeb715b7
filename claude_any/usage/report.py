"""`claude-any usage`: the ledger summed per user, target, model, session or day, as a table, CSV or JSON.

Cost is what the priced requests cost; a request sent to a target without a price (or without token
counts: a failure, a stream cut) is counted as unpriced and shown beside the sum ("$12.40 + 3 unpriced"),
never as if it cost nothing.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine, and_, case, func, select

from claude_any.usage.database import requests

DEFAULT_SINCE = "7d"
_SPAN = re.compile(r"(\d{1,6})([mhdw])")
_SPAN_SECONDS = {"m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
# A cell a spreadsheet would read as a formula (user and model names come from configs and clients).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class Group:
    """One line of the report: the requests of one user (target, model, session, day) since the start."""

    key: str | None
    requests: int = 0
    errors: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cache_read: int = 0
    cache_write: int = 0
    cost_usd: float = 0.0
    unpriced: int = 0  # requests sent to a target whose cost is not known (no price, or no token counts)

    def cost(self) -> str:
        """'$12.40', or '$12.40 + 3 unpriced'."""
        shown = f"${self.cost_usd:,.2f}"
        return f"{shown} + {self.unpriced} unpriced" if self.unpriced else shown


def parse_since(text: str, now: float | None = None) -> float:
    """The Unix time `--since` names: a span back from now (30m, 24h, 7d, 2w) or an ISO date or time (UTC
    unless it says otherwise). Raises ValueError with a message for the user."""
    now = time.time() if now is None else now
    if match := _SPAN.fullmatch(text.strip()):
        return now - int(match.group(1)) * _SPAN_SECONDS[match.group(2)]
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"--since {text!r}: expected a span (30m, 24h, 7d, 2w) or an ISO date (2026-05-01)"
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def read_groups(engine: Engine, by: str, since: float) -> list[Group]:
    """The ledger's requests since `since`, summed by `by` (one of `usage.GROUPS`): the costliest first
    (by day: in order of days)."""
    table = requests.c
    key = table[by]
    answered = table.status < 400
    # A failed request's tokens_in is the gateway's estimate of what it would have sent: not counted.
    counted = (table.tokens_in, table.tokens_out, table.cache_read, table.cache_write)
    query = (
        select(
            key,
            func.count(),
            func.sum(case((table.status >= 400, 1), else_=0)),
            *(func.sum(case((answered, func.coalesce(column, 0)), else_=0)) for column in counted),
            func.sum(func.coalesce(table.cost_usd, 0.0)),
            func.sum(case((and_(table.cost_usd.is_(None), table.target.is_not(None)), 1), else_=0)),
        )
        .where(table.at >= since)
        .group_by(key)
    )
    with engine.connect() as conn:
        groups = [_group(tuple(row)) for row in conn.execute(query)]
    if by == "day":
        return sorted(groups, key=lambda g: g.key or "")
    return sorted(groups, key=lambda g: (-g.cost_usd, -g.requests, g.key or ""))


def _group(row: tuple[Any, ...]) -> Group:
    requests_, errors, tokens_in, tokens_out, cache_read, cache_write = (int(n or 0) for n in row[1:7])
    return Group(
        row[0],
        requests=requests_,
        errors=errors,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cache_read=cache_read,
        cache_write=cache_write,
        cost_usd=float(row[7] or 0),
        unpriced=int(row[8] or 0),
    )


def total(groups: list[Group]) -> Group:
    """The sum of `groups`."""
    whole = Group("TOTAL")
    for group in groups:
        for name in (
            "requests",
            "errors",
            "tokens_in",
            "tokens_out",
            "cache_read",
            "cache_write",
            "unpriced",
        ):
            setattr(whole, name, getattr(whole, name) + getattr(group, name))
        whole.cost_usd += group.cost_usd
    return whole


_COLUMNS = ("REQUESTS", "ERRORS", "TOKENS IN", "TOKENS OUT", "CACHE READ", "CACHE WRITE", "COST")


def _cells(group: Group) -> list[str]:
    numbers = (group.requests, group.errors, group.tokens_in, group.tokens_out, group.cache_read)
    return [f"{n:,}" for n in (*numbers, group.cache_write)] + [group.cost()]


def render_table(groups: list[Group], by: str, heading: str) -> str:
    """Aligned columns, a line per group and a TOTAL line, under `heading`."""
    lines = [[by.upper(), *_COLUMNS]]
    lines += [[_key(group.key), *_cells(group)] for group in groups]
    lines.append(["TOTAL", *_cells(total(groups))])
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    text = [heading]
    for line in lines:
        first = line[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(line[1:], widths[1:], strict=True)]
        text.append("  ".join([first, *rest]).rstrip())
    if not groups:
        text.append("(no requests in this time)")
    return "\n".join(text) + "\n"


def render_csv(groups: list[Group], by: str) -> str:
    """A header, a row per group and a TOTAL row; cost in dollars and the unpriced count as numbers."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    fields = ["requests", "errors", "tokens_in", "tokens_out", "cache_read", "cache_write", "cost_usd"]
    writer.writerow([by, *fields, "unpriced"])
    for group in [*groups, total(groups)]:
        values = asdict(group)
        writer.writerow([_cell(_key(group.key)), *(values[f] for f in fields), group.unpriced])
    return out.getvalue()


def render_json(groups: list[Group], by: str, since: float) -> str:
    """{"by", "since", "groups": [...], "total": {...}}; a key is null for requests without one."""
    moment = datetime.fromtimestamp(since, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    document: dict[str, Any] = {
        "by": by,
        "since": moment,
        "groups": [asdict(group) for group in groups],
        "total": {k: v for k, v in asdict(total(groups)).items() if k != "key"},
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _key(key: str | None) -> str:
    return "-" if key is None else key  # the shared token or an open server: no one's


def _cell(text: str) -> str:
    """A CSV cell a spreadsheet shows as text, never runs as a formula."""
    return "'" + text if text.startswith(_FORMULA_START) else text
