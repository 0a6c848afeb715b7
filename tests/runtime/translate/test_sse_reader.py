"""`sse.SSEReader` line ends: `\n`, `\r\n` and a lone `\r` all end a line (the SSE grammar allows the three),
wherever the stream is split, including between the `\r` and the `\n` of one line end; and its cost is
linear in its input, a long line sent in many reads included."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from claude_any.runtime.translate.sse import Event, SSEReader

STREAM = 'event: message\ndata: {"a": 1}\n\n: comment\n\ndata: line one\ndata: line two\n\ndata: [DONE]\n\n'
EXPECTED = [Event("message", '{"a": 1}'), Event("", "line one\nline two"), Event("", "[DONE]")]


def _read(pieces: list[bytes]) -> list[Event]:
    reader = SSEReader()
    events = [event for piece in pieces for event in reader.feed(piece)]
    return events + reader.close()


def _every_split(data: bytes) -> list[list[bytes]]:
    """The stream cut once at every position, and cut into single bytes."""
    return [[data[:i], data[i:]] for i in range(len(data) + 1)] + [[bytes([b]) for b in data]]


@pytest.mark.parametrize("line_end", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
def test_each_line_end_gives_the_same_events_however_the_stream_is_split(line_end: str) -> None:
    data = STREAM.replace("\n", line_end).encode()
    for pieces in _every_split(data):
        assert _read(pieces) == EXPECTED, pieces


def test_mixed_line_ends() -> None:
    data = b'event: message\rdata: {"a": 1}\r\n\ndata: line one\ndata: line two\r\rdata: [DONE]\n\r'
    for pieces in _every_split(data):
        assert _read(pieces) == EXPECTED, pieces


def test_a_cr_then_lf_in_the_next_read_is_one_line_end_not_two() -> None:
    reader = SSEReader()
    assert reader.feed(b"data: x\r") == []
    assert reader.feed(b"\ndata: y\r\n") == []  # one event of two data lines, not two events
    assert reader.feed(b"\r\n") == [Event("", "x\ny")]


def test_an_event_cut_by_eof_after_a_lone_cr_is_still_dispatched() -> None:
    reader = SSEReader()
    assert reader.feed(b"data: last\r") == []
    assert reader.close() == [Event("", "last")]


def test_an_empty_read_between_a_cr_and_its_lf_changes_nothing() -> None:
    reader = SSEReader()
    assert reader.feed(b"data: x\r") == []
    assert reader.feed(b"") == []
    assert reader.feed(b"\n\n") == [Event("", "x")]


def test_a_long_line_in_many_reads_is_one_line() -> None:
    reader = SSEReader()
    text = "".join(f"{i:05d}" for i in range(20_000))
    data = ("data: " + text + "\r\n\r\n").encode()
    events = [event for i in range(0, len(data), 7) for event in reader.feed(data[i : i + 7])]
    assert events == [Event("", text)]


def test_a_long_line_costs_time_linear_in_its_length() -> None:
    """A 32 MiB line in 2 KiB reads, then its end. Re-copying the line held so far on every read (what a
    quadratic reader does) is 16,384 copies of 16 MiB on average, 256 GiB of copying: hours. A linear
    reader needs well under a second. Run apart, so that a quadratic reader fails on the bound instead of
    holding the suite; nothing here measures speed."""
    script = textwrap.dedent(
        """
        from claude_any.runtime.translate.sse import Event, SSEReader
        reader = SSEReader()
        piece = b"x" * 2048
        assert reader.feed(b"data: ") == []
        for _ in range(16 * 1024):
            assert reader.feed(piece) == []
        (event,) = reader.feed(b"\\n\\n")
        assert event.data == "x" * (32 * 1024 * 1024)
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
