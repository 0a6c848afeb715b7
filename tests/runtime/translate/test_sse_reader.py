"""`sse.SSEReader` line ends: `\n`, `\r\n` and a lone `\r` all end a line (the SSE grammar allows the three),
wherever the stream is split, including between the `\r` and the `\n` of one line end."""

from __future__ import annotations

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
