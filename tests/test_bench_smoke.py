"""The benchmark runs end to end in its tiny mode and checks what it receives; no timing is asserted.

`python -m bench.run --quick` starts the fake upstream and claude-any as real processes, drives both over
loopback and prints the table; here it must finish, print every part, validate every response, and its
checker must reject responses that a broken gateway could send.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the bench package lives beside claude_any, outside the installed package
    sys.path.append(str(ROOT))

from bench.check import Checker  # noqa: E402
from bench.load import Sample  # noqa: E402
from bench.payloads import SHORT_PATH, canned_replies  # noqa: E402

SCENARIOS = ("cc-stream", "cc-json", "body-250k", "stream-2000")


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
    cells = {(r["scenario"], r["concurrency"], r["side"]) for r in rows}
    assert cells == {(s, c, side) for s in SCENARIOS for c in (1, 2) for side in ("upstream", "claude-any")}
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
