"""The many-session scenario (`python -m bench.run --scenario sessions`): many Claude Code sessions at once,
their tokens arriving one by one at a real provider's pace.

Each session is a keep-alive connection that sends Claude Code's first request (the ~49 KB fixture,
streaming) and reads the answer, `turns` times in a row. The fake upstream answers every request with a
stream of `tokens` tokens, one every `interval` ms (10 ms: a real provider's pace), each stamped with the
time it was written, so every token's delay is measured from the upstream's write to the client's read.
Session starts are spread evenly over one turn's length, so tokens arrive evenly rather than in bursts.

The same sessions run twice: straight at the upstream (the baseline: what the upstream, loopback and the
load generators cost) and through claude-any, from several load-generator processes so that the client is
not the limit (bench/session_client.py). Reported for both, and what claude-any adds:

- the wall time of all sessions and its ratio to the bare upstream's (issue #20: within 1.3x);
- turn time (request to last byte) and token delay, p50 and p99;
- tokens per second delivered, against the rate the upstream offers (sessions / interval);
- claude-any's CPU per token in microseconds (every cost of a turn, its 49 KB request included, divided by
  its tokens) and per turn;
- claude-any's memory per session: its resident set (all workers) at the peak of the run minus before, over
  the sessions.

A provider's connection pool in claude-any holds 100 connections per worker: sessions beyond that wait for a
free connection, which shows in the turn and wall times, not in the token delays. Every response is
checked; a bad one makes the exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

from bench import procstat
from bench.payloads import TOKENS_PATH, claude_code_request
from bench.processes import HOST, free_port, http_post, launch, start_module, start_upstream, stop
from bench.session_client import ClientPlan, ClientResult, run_client
from claude_any.capabilities import lookup
from claude_any.runtime.translate.chat.request import to_openai
from claude_any.runtime.translate.context import Upstream
from claude_any.table import empty_params

MODEL = "tokens"  # the category claude-any routes the sessions' requests by, to the token upstream
UPSTREAM_MODEL = "gpt-4o"
DEFAULT_SESSIONS = 100
DEFAULT_TOKENS = 100
DEFAULT_TURNS = 20
DEFAULT_INTERVAL_MS = 10.0
DEFAULT_CLIENTS = max(2, (os.cpu_count() or 2) // 2)
GOAL_WALL_RATIO = 1.3  # issue #20: all sessions finish within 1.3x the bare upstream's time
_RSS_SAMPLE_S = 0.05


@dataclass
class Side:
    """One run of all the sessions, straight at the upstream or through claude-any."""

    wall_s: float
    turn_p50_s: float
    turn_p99_s: float
    delay_p50_ms: float
    delay_p99_ms: float
    tokens: int
    tokens_per_s: float
    ok: int
    bad: int
    first_error: str
    server_cpu_s: float
    server_system_s: float  # the kernel's share of server_cpu_s
    server_peak_rss_mb: float
    client_cpu_pct: float  # of one core, per load-generator process on average


@dataclass
class Report:
    """The scenario's result, as printed and as written by --json."""

    sessions: int
    tokens_per_turn: int
    turns: int
    interval_ms: float
    request_bytes: int
    clients: int
    workers: int
    offered_tokens_per_s: float
    bare: Side
    gateway: Side
    relay: Side | None  # --floor: the bare byte relay (bench/relay.py) in front of the same upstream
    wall_ratio: float
    added_delay_p50_ms: float
    added_delay_p99_ms: float
    cpu_us_per_token: float
    system_us_per_token: float  # the kernel's share of cpu_us_per_token
    cpu_ms_per_turn: float
    relay_cpu_us_per_token: float | None  # --floor: what reading and writing a token costs here, at least
    rss_kb_per_session: float


def _percentile(ordered: list[float] | list[int], p: float) -> float:
    if not ordered:
        return 0.0
    return float(ordered[min(len(ordered) - 1, max(0, round(p * len(ordered) + 0.5) - 1))])


def _rss_kb(pid: int) -> int:
    """The resident set of `pid` and its descendants (every worker), in KiB."""
    total = 0
    for proc in procstat.tree(pid):
        try:
            for line in Path(f"/proc/{proc}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def raise_open_files(sessions: int) -> None:
    """Raise this process's descriptor limit (the children inherit it) to what `sessions` need: claude-any
    holds each session's connection and a pooled upstream one; stop with a clear message when it cannot."""
    needed = 2 * sessions + 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise SystemExit(
            f"{sessions} sessions need {needed} open files; the hard limit is {hard} (ulimit -Hn)"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def gateway_request(body: dict[str, Any], port: int) -> bytes:
    """Claude Code's request to claude-any."""
    headers = {"content-type": "application/json", "anthropic-version": "2023-06-01", "x-api-key": "bench"}
    return http_post("/v1/messages?beta=true", port, headers, json.dumps(body, ensure_ascii=False).encode())


def upstream_request(body: dict[str, Any], port: int) -> bytes:
    """What claude-any sends the upstream for the same request (its own translation), for the baseline."""
    translated, _ = to_openai(
        body, Upstream(UPSTREAM_MODEL, lookup("openai", UPSTREAM_MODEL), empty_params())
    )
    headers = {"content-type": "application/json", "accept": "text/event-stream", "authorization": "Bearer b"}
    return http_post(TOKENS_PATH, port, headers, json.dumps(translated, ensure_ascii=False).encode())


def gateway_config(upstream_port: int, port: int) -> str:
    """claude-any's config: the token upstream as provider `tokens`, reached through the category MODEL."""
    target = f"{MODEL}/{UPSTREAM_MODEL}"
    return (
        "providers:\n"
        f"  {MODEL}: {{kind: openai, base_url: 'http://{HOST}:{upstream_port}/tokens/v1'}}\n"
        f"model_categories: {{large: {target}, small: {target}, {MODEL}: {target}}}\n"
        f"server: {{host: {HOST}, port: {port}}}\n"
        # The usage ledger as a user has it (on, SQLite), in the run's own folder: not the user's ledger.
        "usage: {database: 'sqlite:///usage.sqlite3'}\n"
    )


async def _drive(
    pool: ProcessPoolExecutor,
    args: argparse.Namespace,
    *,
    raw: bytes,
    port: int,
    gateway: bool,
    sessions: int,
    turns: int,
    server_pid: int,
) -> tuple[Side, int]:
    """`sessions` sessions of `turns` turns, shared by the load processes; the measured side, and the peak
    resident set (KiB) of the server process tree `server_pid` meanwhile."""
    loop = asyncio.get_running_loop()
    clients = max(1, min(args.clients, sessions))
    ramp = args.tokens * args.token_interval_ms / 1000  # one turn's length: tokens spread evenly in phase
    begin = loop.time() + 1.0  # time for every process to open its connections
    starts = [begin + ramp * i / sessions for i in range(sessions)]
    plans = [
        ClientPlan(HOST, port, raw, gateway, MODEL, args.tokens, turns, tuple(starts[k::clients]))
        for k in range(clients)
    ]
    cpu_before = procstat.cpu_times(server_pid)
    rss_peak = _rss_kb(server_pid)
    futures = [loop.run_in_executor(pool, run_client, plan) for plan in plans]
    waiting = asyncio.gather(*futures)
    while not waiting.done():
        await asyncio.wait([waiting], timeout=_RSS_SAMPLE_S)
        rss_peak = max(rss_peak, _rss_kb(server_pid))
    results: list[ClientResult] = waiting.result()
    user_after, system_after = procstat.cpu_times(server_pid)
    user, system = user_after - cpu_before[0], system_after - cpu_before[1]
    delays = sorted(d for r in results for d in r.delays_us)
    turns_s = sorted(t for r in results for t in r.turns_s)
    wall = max(r.end for r in results) - begin
    errors = [r.first_error for r in results if r.first_error]
    side = Side(
        wall_s=wall,
        turn_p50_s=_percentile(turns_s, 0.50),
        turn_p99_s=_percentile(turns_s, 0.99),
        delay_p50_ms=_percentile(delays, 0.50) / 1000,
        delay_p99_ms=_percentile(delays, 0.99) / 1000,
        tokens=len(delays),
        tokens_per_s=len(delays) / wall if wall > 0 else 0.0,
        ok=sum(r.ok for r in results),
        bad=sum(r.bad for r in results),
        first_error=errors[0] if errors else "",
        server_cpu_s=user + system,
        server_system_s=system,
        server_peak_rss_mb=rss_peak / 1024,
        client_cpu_pct=100 * sum(r.cpu_s for r in results) / wall / len(results) if wall > 0 else 0.0,
    )
    return side, rss_peak


async def measure(args: argparse.Namespace) -> Report:
    """Start the token upstream and claude-any, run the sessions against each, stop them."""
    raise_open_files(args.sessions)
    body = {**claude_code_request(), "model": MODEL, "stream": True}
    size = len(json.dumps(body, ensure_ascii=False).encode())
    interval = ["--tokens", str(args.tokens), "--token-interval-ms", str(args.token_interval_ms)]
    upstream, upstream_port = start_upstream(extra=interval)
    gateway: subprocess.Popen[bytes] | None = None
    relay_process: subprocess.Popen[str] | None = None
    relay: Side | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="claude-any-bench-") as tmp:
            port = free_port()
            config = Path(tmp) / "sessions.yaml"
            config.write_text(gateway_config(upstream_port, port))
            command = [sys.executable, "-m", "claude_any", "run", str(config), "--port", str(port)]
            command += ["--workers", str(args.workers), "--log-level", args.log_level]
            gateway = await launch(command, port, Path(tmp) / "claude-any.log")
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=args.clients, mp_context=context) as pool:
                gw_raw = gateway_request(body, port)
                bare_raw = upstream_request(body, upstream_port)
                # Untimed: starts the load processes and the gateway's first-use costs (memoised tools, pool).
                warm = min(args.sessions, 2 * args.clients)
                await _drive(
                    pool,
                    args,
                    raw=gw_raw,
                    port=port,
                    gateway=True,
                    sessions=warm,
                    turns=1,
                    server_pid=gateway.pid,
                )
                measured = partial(_drive, pool, args, sessions=args.sessions, turns=args.turns)
                bare, _ = await measured(
                    raw=bare_raw, port=upstream_port, gateway=False, server_pid=upstream.pid
                )
                rss_before = _rss_kb(gateway.pid)
                through, rss_peak = await measured(
                    raw=gw_raw, port=port, gateway=True, server_pid=gateway.pid
                )
                if args.floor:  # the upstream's own request through the relay: it answers as it does bare
                    relay_arguments = ["--upstream-port", str(upstream_port)]
                    relay_process, relay_port = start_module("bench.relay", relay_arguments)
                    relay, _ = await measured(
                        raw=bare_raw, port=relay_port, gateway=False, server_pid=relay_process.pid
                    )
    finally:
        stop(relay_process)
        stop(gateway)
        stop(upstream)
    turns = args.sessions * args.turns
    return Report(
        sessions=args.sessions,
        tokens_per_turn=args.tokens,
        turns=args.turns,
        interval_ms=args.token_interval_ms,
        request_bytes=size,
        clients=min(args.clients, args.sessions),
        workers=args.workers,
        offered_tokens_per_s=args.sessions * 1000 / args.token_interval_ms,
        bare=bare,
        gateway=through,
        relay=relay,
        wall_ratio=through.wall_s / bare.wall_s if bare.wall_s else 0.0,
        added_delay_p50_ms=through.delay_p50_ms - bare.delay_p50_ms,
        added_delay_p99_ms=through.delay_p99_ms - bare.delay_p99_ms,
        cpu_us_per_token=through.server_cpu_s * 1e6 / through.tokens if through.tokens else 0.0,
        system_us_per_token=through.server_system_s * 1e6 / through.tokens if through.tokens else 0.0,
        cpu_ms_per_turn=through.server_cpu_s * 1000 / turns,
        relay_cpu_us_per_token=relay.server_cpu_s * 1e6 / relay.tokens if relay and relay.tokens else None,
        rss_kb_per_session=max(0, rss_peak - rss_before) / args.sessions,
    )


def render(report: Report) -> str:
    """The report as the table `bench.run` prints: a column per side, the byte relay's last (--floor)."""
    gw = report.gateway
    sides = [("bare upstream", report.bare), ("claude-any", gw)]
    if report.relay is not None:
        sides.append(("byte relay (floor)", report.relay))

    def row(name: str, cell: Callable[[Side], str], note: str = "") -> str:
        cells = "".join(f" {cell(side):>20}" for _, side in sides)
        return f"  {name:<24}{cells}   {note}".rstrip()

    verdict = "met" if report.wall_ratio <= GOAL_WALL_RATIO else "MISSED"
    cpu_note = (
        f"claude-any: {report.cpu_us_per_token:.1f} us per token ({report.system_us_per_token:.1f} in the "
        f"kernel), {report.cpu_ms_per_turn:.2f} ms/turn"
    )
    if report.relay_cpu_us_per_token is not None:
        cpu_note += f"; relay: {report.relay_cpu_us_per_token:.1f} us per token"
    lines = [
        f"many sessions: {report.sessions} at once, {report.turns} turns each of {report.tokens_per_turn} "
        f"tokens {report.interval_ms:g} ms apart; Claude Code request ({report.request_bytes:,} bytes)",
        f"{report.clients} load-generator processes, {report.workers} claude-any worker(s), "
        f"{os.cpu_count()} CPUs",
        row("", lambda side: next(name for name, s in sides if s is side)),
        row(
            "wall time",
            lambda side: f"{side.wall_s:.2f} s",
            f"{report.wall_ratio:.2f}x (goal <= {GOAL_WALL_RATIO:g}x: {verdict})",
        ),
        row("turn time p50 / p99", lambda side: f"{side.turn_p50_s:.3f} / {side.turn_p99_s:.3f} s"),
        row(
            "token delay p50 / p99",
            lambda side: f"{side.delay_p50_ms:.2f} / {side.delay_p99_ms:.2f} ms",
            f"added: {report.added_delay_p50_ms:.2f} / {report.added_delay_p99_ms:.2f} ms",
        ),
        row(
            "tokens/s delivered",
            lambda side: f"{side.tokens_per_s:,.0f}",
            f"offered: {report.offered_tokens_per_s:,.0f}",
        ),
        row("server CPU", lambda side: f"{side.server_cpu_s:.2f} s", cpu_note),
        row(
            "server peak RSS",
            lambda side: f"{side.server_peak_rss_mb:.1f} MB",
            f"claude-any: {report.rss_kb_per_session:.1f} KB per session",
        ),
        row("load generator CPU", lambda side: f"{side.client_cpu_pct:.0f}%", "per process"),
        row("responses checked", lambda side: f"{side.ok} ok" if not side.bad else f"{side.bad} BAD"),
    ]
    for name, side in sides:
        if side.bad:
            lines.append(f"INVALID: {name}: {side.bad} bad; first: {side.first_error}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Measure, print, optionally write --json; the exit status (1 when a response was bad)."""
    report = asyncio.run(measure(args))
    print(render(report))
    if args.json:
        Path(args.json).write_text(json.dumps(asdict(report), indent=2) + "\n")
    relay_bad = report.relay is not None and report.relay.bad
    return 1 if report.bare.bad or report.gateway.bad or relay_bad else 0
