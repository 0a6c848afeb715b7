"""GET /status (an HTML page) and /status.json (the same data): the running table's targets and their health
over the last minutes, this process's last requests, and today's spend per user.

The data comes from `RecentRequests` (recent_requests.py) and the spend report `ProcessState.spend` (this
process's own sums until the usage ledger is connected, whose scope the page states). The page is rendered
on the server from `templates/status.html` with autoescaping on: every string on it (a model name, a user, a
target id built from a model name) may come from a client. It loads nothing else and runs no script; its
Content-Security-Policy allows only its own inline style, by nonce.
"""

from __future__ import annotations

import functools
import math
import os
import secrets
import time
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import jinja2
from starlette.datastructures import QueryParams
from starlette.responses import JSONResponse, Response

from claude_any.runtime import errors
from claude_any.runtime.serve.access_log import printable
from claude_any.runtime.serve.recent_requests import WINDOW_S, RecentRequests, SpendReport
from claude_any.table import RoutingTable

LAST = 50  # requests listed
REFRESH_S = 10  # the page reloads itself this often unless `?refresh=` says otherwise (0: never)
_MAX_REFRESH_S = 3600
# Nothing but the page's own inline style: no script, no other resource, no form, no framing.
_CSP = (
    "default-src 'none'; style-src 'nonce-{nonce}'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
_HEADERS = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


async def snapshot(table: RoutingTable, recent: RecentRequests, spend: SpendReport) -> dict[str, Any]:
    """What the page shows, as JSON: client-chosen strings escaped and cut by `printable` (the page escapes
    them again for HTML); times in UTC; unknown numbers as null."""
    now = time.time()
    targets = []
    for target_id, health in recent.health(table.targets, now).items():
        target = table.targets.get(target_id)
        targets.append(
            {
                "id": printable(target_id),
                "upstream": f"{target.provider}/{target.model}" if target is not None else None,
                "configured": target is not None,  # False: named by a request, or gone in a reload
                "requests": health.requests,
                "errors": health.errors,
                "error_rate": health.error_rate,
                "p50_ms": _round(health.p50_ms),
                "p95_ms": _round(health.p95_ms),
                "last": _time(health.last_at) if health.last_at is not None else None,
            }
        )
    requests = [
        {
            "time": _time(seen.at),
            "user": seen.user or None,
            "model": printable(seen.model) if seen.model != "-" else None,
            "target": printable(seen.target) if seen.target != "-" else None,
            "upstream": printable(seen.upstream) if seen.upstream != "-" else None,
            "status": seen.status,
            "stream": seen.stream,
            "latency_ms": _round(seen.latency_ms),
            "tokens_in": seen.tokens_in,
            "tokens_out": seen.tokens_out,
            "tokens_estimated": seen.tokens_estimated,  # then the cost is an estimate too
            "cost_usd": seen.cost_usd,
        }
        for seen in recent.last(LAST)
    ]
    spent = await spend.today()
    return {
        "instance": {"pid": os.getpid(), "started": _time(recent.started), "now": _time(now)},
        "window_s": WINDOW_S,
        "targets": targets,
        "requests": requests,
        "spend_today": {
            "day": datetime.fromtimestamp(now, UTC).date().isoformat(),
            "scope": spend.scope,
            "users": [
                {
                    "user": user or None,
                    "usd": entry.usd,
                    "unpriced": entry.unpriced,
                    "estimated": entry.estimated,
                }
                for user, entry in sorted(spent.items())
            ],
        },
    }


def json_response(data: dict[str, Any], request_id: str) -> Response:
    """/status.json."""
    return JSONResponse(data, headers={**_HEADERS, "request-id": request_id})


def html_response(data: dict[str, Any], query: QueryParams, request_id: str) -> Response:
    """/status: the page, with its Content-Security-Policy. `?refresh=SECONDS` (0 to 3600) sets how often it
    reloads itself; 0 never."""
    refresh = _refresh(query.get("refresh"))
    nonce = secrets.token_urlsafe(16)
    page = _template().render(data=data, refresh=refresh, nonce=nonce)
    headers = {**_HEADERS, "content-security-policy": _CSP.format(nonce=nonce), "request-id": request_id}
    return Response(page, media_type="text/html; charset=utf-8", headers=headers)


def _refresh(raw: str | None) -> int:
    if raw is None:
        return REFRESH_S
    if not raw.isdigit() or int(raw) > _MAX_REFRESH_S:
        raise errors.invalid_request(
            f"refresh: expected seconds from 0 to {_MAX_REFRESH_S}, got {printable(raw, 40)!r}"
        )
    return int(raw)


@functools.cache
def _template() -> jinja2.Template:
    source = resources.files("claude_any").joinpath("templates", "status.html").read_text(encoding="utf-8")
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    environment.filters["usd"] = usd
    return environment.from_string(source)


def usd(amount: float) -> str:
    """Dollars to the cent, and a smaller amount to two significant digits, so that no cost known to be
    more than nothing reads as $0."""
    if amount == 0 or amount >= 0.01:
        return f"${amount:,.2f}"
    return f"${amount:.{1 - math.floor(math.log10(amount))}f}"


def _time(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
