"""The scrubber: known secrets become *** in text, bytes, JSON values and streams split anywhere."""

from __future__ import annotations

import asyncio

from chunk_sources import OnePerRead, read_all
from hypothesis import given, settings
from hypothesis import strategies as st

from claude_any.runtime.call.chunk_source import scrubbed
from claude_any.runtime.scrub import Scrubber

KEY = "sk-scrub-5e1d07c3a9"
QUOTED = 'pa"ss\\wörd-91'  # a secret with characters JSON escapes
SCRUB = Scrubber([KEY, QUOTED, "short"])  # under six characters: not a credential, left alone


def test_text_and_bytes() -> None:
    assert SCRUB(f"bad key {KEY}!") == "bad key ***!"
    assert SCRUB.bytes(f"bad key {KEY}, é".encode()) == "bad key ***, é".encode()
    assert SCRUB("a short word") == "a short word"


def test_a_secret_quoted_inside_json_is_found_in_its_escaped_forms() -> None:
    assert SCRUB('{"message": "pa\\"ss\\\\w\\u00f6rd-91"}') == '{"message": "***"}'
    assert SCRUB('{"message": "pa\\"ss\\\\wörd-91"}') == '{"message": "***"}'


def test_clean_bytes_and_values_are_not_copied() -> None:
    data = b"nothing to hide here"
    assert SCRUB.bytes(data) is data
    value = {"content": [{"type": "text", "text": "fine"}], "usage": {"input_tokens": 1}}
    assert SCRUB.value(value) is value
    leaked = {"content": [{"type": "text", "text": f"key {KEY}"}], "usage": {"input_tokens": 1}}
    assert SCRUB.value(leaked) == {
        "content": [{"type": "text", "text": "key ***"}],
        "usage": {"input_tokens": 1},
    }
    assert leaked["content"][0]["text"] == f"key {KEY}"  # the input is left as it was


async def _collect(pieces: list[bytes]) -> list[bytes]:
    source = scrubbed(OnePerRead(pieces), SCRUB)
    return [chunk async for chunk in read_all(source)]


STREAM = f'data: {{"text": "{KEY} and {KEY[:7]} then é and {QUOTED}"}}\n\nevent: error\n{KEY}'.encode()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, len(STREAM)), max_size=12))
def test_a_stream_split_anywhere_is_scrubbed_as_if_whole(cuts: list[int]) -> None:
    points = sorted(set(cuts))
    pieces = [STREAM[a:b] for a, b in zip([0, *points], [*points, len(STREAM)], strict=True)]
    out = asyncio.run(_collect(pieces))
    assert b"".join(out) == SCRUB.bytes(STREAM)
    assert all(KEY[:10].encode() not in piece for piece in out)


def test_a_stream_holds_back_only_what_could_start_a_secret() -> None:
    out = asyncio.run(_collect([b"data: one\n\n", b"data: two sk-scr", b"ub-5e1d07c3a9\n\n", b"end"]))
    assert out == [b"data: one\n\n", b"data: two ", b"***\n\n", b"end"]


def test_a_stream_that_ends_on_a_prefix_sends_it() -> None:
    assert asyncio.run(_collect([b"it was sk-scr"])) == [b"it was ", b"sk-scr"]


def test_no_secrets_no_wrapper() -> None:
    source = OnePerRead([b"x"])
    assert scrubbed(source, Scrubber([])) is source
