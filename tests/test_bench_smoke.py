"""The benchmark runs end to end in its tiny mode and checks what it receives; no timing is asserted.

`python -m bench.run --quick` starts the fake upstreams (instant and paced) and claude-any as real
processes, drives them over loopback and prints the table; here it must finish, print every part, validate
every response (the paced cells too), and its checker must reject responses that a broken gateway could
send. The paced upstream is also driven directly, in process, to see that it paces what it should.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the bench package lives beside claude_any, outside the installed package
    sys.path.append(str(ROOT))

from bench.check import Checker, InvalidResponse, validate_upstream_token_stream  # noqa: E402
from bench.load import Sample  # noqa: E402
from bench.payloads import (  # noqa: E402
    LONG_PATH,
    SHORT_PATH,
    TOKEN_MARK,
    TOKENS_PATH,
    canned_replies,
    token_event,
)
from bench.run import PACED_FIRST_BYTE_MS  # noqa: E402
from bench.upstream import start  # noqa: E402

SCENARIOS = ("cc-stream", "cc-json", "body-250k", "stream-2000")
PACED_SCENARIOS = ("cc-stream", "cc-json")


@pytest.fixture(scope="module")
def quick_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], list[dict]]:
    out = tmp_path_factory.mktemp("bench") / "rows.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    rows = json.loads(out.read_text()) if out.exists() else []
    return result, rows


def test_quick_benchmark_prints_the_table_and_validates_every_response(
    quick_run: tuple[subprocess.CompletedProcess[str], list[dict]],
) -> None:
    result, rows = quick_run
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    text = result.stdout
    for heading in ("req/s", "ttfb ms p50/p95/p99", "total ms p50/p95/p99", "cpu ms/req", "peak RSS"):
        assert heading in text
    assert "req/s vs upstream" in text  # the ratio table
    assert "responses checked and valid" in text and "INVALID" not in text
    cells = {(r["scenario"], r["concurrency"], r["side"], r["upstream"]) for r in rows}
    sides = ("upstream", "claude-any")
    expected = {(s, c, side, "instant") for s in SCENARIOS for c in (1, 2) for side in sides}
    expected |= {(s, c, side, "paced") for s in PACED_SCENARIOS for c in (1, 2) for side in sides}
    assert cells == expected
    for row in rows:
        assert row["bad"] == 0, row
        assert row["ok"] == row["requests"] + row["concurrency"]  # the timed ones plus one warm-up each
        assert row["requests"] == 3
        assert row["peak_rss_mb"] > 0


def test_quick_benchmark_measures_claude_any_not_the_upstream(
    quick_run: tuple[subprocess.CompletedProcess[str], list[dict]],
) -> None:
    _, rows = quick_run
    gateway = [r for r in rows if r["side"] == "claude-any"]
    upstream = [r for r in rows if r["side"] == "upstream"]
    # claude-any is a Python web app, the fake upstream a few lines of asyncio: their memory tells them apart.
    assert min(r["peak_rss_mb"] for r in gateway) > max(r["peak_rss_mb"] for r in upstream)


def test_quick_benchmark_runs_the_paced_profile_and_it_is_paced(
    quick_run: tuple[subprocess.CompletedProcess[str], list[dict]],
) -> None:
    result, rows = quick_run
    paced = [r for r in rows if r["upstream"] == "paced"]
    assert {r["scenario"] for r in paced} == set(PACED_SCENARIOS)
    assert all(r["bad"] == 0 and r["ok"] == r["requests"] + r["concurrency"] for r in paced), paced
    # Pacing happens: the upstream alone answers no sooner than its first-byte delay (not claude-any timing).
    for row in paced:
        if row["side"] == "upstream":
            assert row["ttfb_ms"][0] >= PACED_FIRST_BYTE_MS, row
    assert "paced" in result.stdout.split("req/s vs upstream", 1)[1]  # the ratio table shows the profile


def _bodies(wire: bytes) -> list[bytes]:
    """The bodies of consecutive HTTP/1.1 responses (content-length or chunked) in `wire`."""
    bodies: list[bytes] = []
    while wire:
        head, _, wire = wire.partition(b"\r\n\r\n")
        if b"chunked" in head:
            body = b""
            while True:
                size_line, _, wire = wire.partition(b"\r\n")
                size = int(size_line, 16)
                body, wire = body + wire[:size], wire[size + 2 :]
                if size == 0:
                    break
        else:
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            body, wire = wire[:length], wire[length:]
        bodies.append(body)
    return bodies


async def _exchange(port: int, path: str, stream: bool, count: int = 1) -> tuple[list[float], list[bytes]]:
    """Send `count` requests at once on one connection; the arrival times (s) of the reply bytes, and the
    response bodies."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    accept = "text/event-stream" if stream else "application/json"
    request = f"POST {path} HTTP/1.1\r\nhost: x\r\naccept: {accept}\r\ncontent-length: 2\r\n\r\n{{}}"
    sent = time.perf_counter()
    writer.write(request.encode() * count)
    replies = canned_replies()[path]
    last = b"0\r\n\r\n" if stream else replies.json
    times: list[float] = []
    received = b""
    while received.count(last) < count:
        data = await asyncio.wait_for(reader.read(65536), timeout=10)
        assert data, received
        times.append(time.perf_counter() - sent)
        received += data
    writer.close()
    expected = b"".join(replies.events) if stream else replies.json
    assert _bodies(received) == [expected] * count
    return times, _bodies(received)


def test_the_paced_upstream_delays_the_first_byte_spreads_the_stream_and_keeps_order() -> None:
    # Lower bounds on the fake upstream's own delays: a functional check that pacing happens, which a slow
    # machine cannot fail. Nothing in the suite asserts how fast claude-any is.
    first_ms, spread_ms = 60.0, 40.0

    async def scenario() -> None:
        server = await start(0, first_ms, spread_ms)
        port = server.sockets[0].getsockname()[1]
        try:
            # The canned replies come back intact (checked in _exchange), paced.
            times, _ = await _exchange(port, SHORT_PATH, stream=True)
            assert times[0] >= first_ms / 1000 and times[-1] >= (first_ms + spread_ms) / 1000
            assert times[-1] - times[0] >= spread_ms / 2000  # spread out, not one write
            times, _ = await _exchange(port, SHORT_PATH, stream=False)
            assert times[0] >= (first_ms + spread_ms) / 1000  # a JSON reply comes whole at F+S
            # Two requests at once on one connection: both answers, one after the other, intact.
            times, bodies = await _exchange(port, SHORT_PATH, stream=True, count=2)
            assert len(bodies) == 2
            # The long stream is served too (it is never paced: `_answer_one` paces SHORT_PATH only).
            await _exchange(port, LONG_PATH, stream=True)
        finally:
            server.close()
            await server.wait_closed()

    asyncio.run(scenario())


def _sample(body: bytes, status: int = 200) -> Sample:
    return Sample(ttfb=0.001, total=0.002, status=status, body=body)


def test_the_checker_accepts_the_canned_upstream_and_rejects_anything_else() -> None:
    canned = canned_replies()[SHORT_PATH]
    checker = Checker(gateway=False, stream=True, model="m", canned=canned)
    checker(_sample(b"".join(canned.events)))
    checker(_sample(b"".join(canned.events[:-1])))  # no [DONE]
    checker(_sample(b"".join(canned.events), status=500))
    assert (checker.ok, checker.bad) == (1, 2)
    assert "differs" in checker.first_error


def _gateway_stream(text_pieces: list[str], *, stop: str = "end_turn", msg_id: str = "msg_abc") -> bytes:
    def frame(event: str, data: dict) -> str:
        return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"

    message = {"id": msg_id, "type": "message", "role": "assistant", "model": "m", "content": []}
    parts = [frame("message_start", {"type": "message_start", "message": message})]
    parts.append(frame("ping", {"type": "ping"}))
    block = {"type": "text", "text": ""}
    parts.append(
        frame("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block})
    )
    for piece in text_pieces:
        delta = {"type": "text_delta", "text": piece}
        parts.append(
            frame("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
        )
    parts.append(frame("content_block_stop", {"type": "content_block_stop", "index": 0}))
    usage = {"input_tokens": 12_345, "output_tokens": 10}
    delta = {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}, "usage": usage}
    parts.append(frame("message_delta", delta))
    parts.append(frame("message_stop", {"type": "message_stop"}))
    return "".join(parts).encode()


def test_the_checker_validates_a_gateway_stream_then_compares_the_rest_to_it() -> None:
    canned = canned_replies()[SHORT_PATH]
    checker = Checker(gateway=True, stream=True, model="m", canned=canned)
    checker(_sample(_gateway_stream([canned.text])))
    checker(_sample(_gateway_stream([canned.text], msg_id="msg_other")))  # only the id differs: fine
    checker(_sample(_gateway_stream([canned.text[:-1]])))  # a character lost
    assert (checker.ok, checker.bad) == (2, 1)

    wrong_first = Checker(gateway=True, stream=True, model="m", canned=canned)
    wrong_first(_sample(_gateway_stream([canned.text], stop="max_tokens")))
    wrong_first(_sample(_gateway_stream(["Hi"])))
    assert (wrong_first.ok, wrong_first.bad) == (0, 2)
    assert "stop_reason" in wrong_first.first_error


# --- the many-session scenario ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sessions_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict]:
    out = tmp_path_factory.mktemp("bench") / "sessions.json"
    command = ["bench.run", "--scenario", "sessions", "--quick", "--floor", "--json", str(out)]
    result = subprocess.run(
        [sys.executable, "-m", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(out.read_text()) if out.exists() else {}
    return result, report


def test_the_session_scenario_reports_every_measure_as_a_number(
    sessions_run: tuple[subprocess.CompletedProcess[str], dict],
) -> None:
    result, report = sessions_run
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for line in (
        "wall time",
        "token delay p50 / p99",
        "tokens/s delivered",
        "us per token",
        "KB per session",
    ):
        assert line in result.stdout
    assert "INVALID" not in result.stdout
    assert (report["sessions"], report["turns"], report["tokens_per_turn"]) == (4, 2, 5)
    numbers = ("offered_tokens_per_s", "wall_ratio", "added_delay_p50_ms", "added_delay_p99_ms")
    numbers += ("cpu_us_per_token", "system_us_per_token", "cpu_ms_per_turn", "rss_kb_per_session")
    numbers += ("relay_cpu_us_per_token",)  # --floor: the bare byte relay's
    for key in numbers:
        assert isinstance(report[key], int | float), key
    assert "byte relay (floor)" in result.stdout and "in the kernel" in result.stdout
    for side in (report["bare"], report["gateway"], report["relay"]):
        assert side["bad"] == 0 and side["ok"] == 4 * 2, side
        assert side["tokens"] == 4 * 2 * 5, side  # every token of every turn was seen, stamped
        for key in ("wall_s", "turn_p50_s", "turn_p99_s", "delay_p50_ms", "delay_p99_ms", "tokens_per_s"):
            assert isinstance(side[key], int | float) and side[key] >= 0, (key, side)
        assert side["server_peak_rss_mb"] > 0 and 0 <= side["server_system_s"] <= side["server_cpu_s"]


def test_the_token_upstream_streams_stamped_tokens_and_the_checks_catch_a_lost_one() -> None:
    async def scenario() -> bytes:
        server = await start(0, tokens=3, token_interval_ms=20.0)
        port = server.sockets[0].getsockname()[1]
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"POST {TOKENS_PATH} HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{{}}".encode())
            received = b""
            while not received.endswith(b"0\r\n\r\n"):
                data = await asyncio.wait_for(reader.read(65536), timeout=10)
                assert data, received
                received += data
            writer.close()
            return received
        finally:
            server.close()
            await server.wait_closed()

    (body,) = _bodies(asyncio.run(scenario()))
    validate_upstream_token_stream(body, 3)
    stamps = [int(stamp) for stamp in TOKEN_MARK.findall(body)]
    assert len(stamps) == 3 and stamps == sorted(stamps)
    assert stamps[-1] - stamps[0] >= 2 * 20_000_000 * 0.9  # paced, not written at once (a lower bound)
    with pytest.raises(InvalidResponse):
        validate_upstream_token_stream(body, 4)
    lost = body.replace(token_event(stamps[1]), b"")
    with pytest.raises(InvalidResponse):
        validate_upstream_token_stream(lost, 2)
