"""The offline token estimator: text sanity, monotonicity, every block kind, image headers, odd input."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from loopback import FIXTURES

from claude_any.runtime.route.tokens import (
    IMAGE_FALLBACK_TOKENS,
    count_text,
    estimate,
    image_size,
    image_tokens,
)

PROSE = (
    "The gateway reads one JSON document at start-up and never parses user text again. Each request is "
    "routed by a small rule language, translated, and sent to the provider over a pooled HTTP client. "
)
CODE = (
    "def route(table: RoutingTable, body: dict[str, Any]) -> Decision:\n"
    "    for rule in table.routes:\n"
    "        if rule.matches(body):\n"
    "            return Decision(rule.chain)\n"
    "    raise NoRoute(body.get('model', ''))\n"
)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def png(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk + b"\x00" * 32


def gif(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00" * 32


def jpeg(width: int, height: int, exif_bytes: int = 0) -> bytes:
    app1 = b"\xff\xe1" + struct.pack(">H", exif_bytes + 2) + b"E" * exif_bytes if exif_bytes else b""
    dqt = b"\xff\xdb" + struct.pack(">H", 67) + b"\x00" * 65
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x00" * 9
    return b"\xff\xd8" + app1 + dqt + sof + b"\x00" * 32


def webp_vp8x(width: int, height: int) -> bytes:
    payload = b"\x00" * 4 + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return (
        b"RIFF"
        + struct.pack("<I", 4 + 8 + len(payload))
        + b"WEBP"
        + b"VP8X"
        + struct.pack("<I", 10)
        + payload
    )


def webp_vp8l(width: int, height: int) -> bytes:
    bits = (width - 1) | ((height - 1) << 14)
    payload = b"\x2f" + bits.to_bytes(4, "little") + b"\x00" * 8
    return (
        b"RIFF" + struct.pack("<I", 4 + 8 + len(payload)) + b"WEBP" + b"VP8L" + struct.pack("<I", 5) + payload
    )


def webp_vp8(width: int, height: int) -> bytes:
    frame = b"\x00\x00\x00" + b"\x9d\x01\x2a" + struct.pack("<HH", width, height) + b"\x00" * 8
    return b"RIFF" + struct.pack("<I", 4 + 8 + len(frame)) + b"WEBP" + b"VP8 " + struct.pack("<I", 10) + frame


def image(data: bytes, media_type: str = "image/png") -> dict[str, Any]:
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": b64(data)}}


def request(*content: Any, **extra: Any) -> dict[str, Any]:
    return {"model": "claude-opus-4-6", "messages": [{"role": "user", "content": list(content)}], **extra}


# ---------------------------------------------------------------------------------------------------------
# Text


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("hello world", 1, 4),
        # Bands are cl100k's count (measured once, offline) ±20%: short snippets are noisier than the ±10% of
        # the calibration chunks.
        (PROSE, 32, 48),  # cl100k: 40
        (CODE, 38, 57),  # cl100k: 47
        ("今天天气很好，我们去公园散步吧。", 16, 24),  # cl100k: 20
        ("1234567890" * 10, 27, 41),  # cl100k groups digits by three: 34
    ],
)
def test_count_text_is_in_a_sane_range(text: str, low: int, high: int) -> None:
    assert low <= count_text(text) <= high


def test_count_text_scales_with_length() -> None:
    one = count_text(PROSE)
    ten = count_text(PROSE * 10)
    assert 9 * one <= ten <= 11 * one
    assert count_text("") == 0


def test_prose_is_about_four_characters_per_token() -> None:
    text = PROSE * 50
    assert 3.5 <= len(text) / count_text(text) <= 5.5


@settings(deadline=None)  # a loaded CI machine must not turn slowness into failure
@given(st.text(max_size=200), st.text(min_size=1, max_size=200))
def test_more_text_never_counts_less(a: str, b: str) -> None:
    assert estimate(request({"type": "text", "text": a + " " + b})) >= estimate(
        request({"type": "text", "text": a})
    )


@settings(deadline=None)  # a loaded CI machine must not turn slowness into failure
@given(st.text(max_size=300))
def test_any_text_counts_without_error(text: str) -> None:
    assert count_text(text) >= (1 if text else 0)


# ---------------------------------------------------------------------------------------------------------
# Request structure


def test_every_part_of_a_request_counts() -> None:
    base = request({"type": "text", "text": "hi"})
    with_system = {**base, "system": PROSE}
    with_tools = {
        **base,
        "tools": [{"name": "Bash", "description": PROSE, "input_schema": {"type": "object"}}],
    }
    assert estimate(with_system) > estimate(base) + 30
    assert estimate(with_tools) > estimate(base) + 30
    bigger_schema = {
        **base,
        "tools": [
            {
                "name": "Bash",
                "description": PROSE,
                "input_schema": {"properties": {"command": {"type": "string", "description": PROSE}}},
            }
        ],
    }
    assert estimate(bigger_schema) > estimate(with_tools) + 30


def test_tool_use_and_tool_result_count() -> None:
    use = request({"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": CODE}})
    result = request(
        {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": CODE}]}
    )
    result_str = request({"type": "tool_result", "tool_use_id": "t1", "content": CODE})
    empty = request()
    for body in (use, result, result_str):
        assert estimate(body) > estimate(empty) + 40


def test_thinking_and_unknown_blocks_are_not_free() -> None:
    empty = request()
    assert estimate(request({"type": "thinking", "thinking": PROSE, "signature": "s"})) > estimate(empty) + 30
    assert estimate(request({"type": "future_block", "payload": PROSE})) > estimate(empty) + 30


def test_messages_add_framing() -> None:
    one = {"messages": [{"role": "user", "content": "hi"}]}
    two = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hi"}]}
    assert estimate(two) > estimate(one)


@pytest.mark.parametrize("body", [None, [], "x", {}, {"messages": None, "tools": 3, "system": {"a": 1}}])
def test_odd_bodies(body: Any) -> None:
    assert isinstance(estimate(body), int)
    assert estimate(body) >= 0


def test_odd_blocks_do_not_raise() -> None:
    body = {
        "system": [None, 3, {"type": "text"}, "plain"],
        "messages": [None, {"content": [None, 1, {"type": 5}, {"type": "image"}, {"type": "document"}]}],
        "tools": [None, {"name": 5}, {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}],
    }
    assert estimate(body) > 0


# ---------------------------------------------------------------------------------------------------------
# Images and documents


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (png(640, 480), (640, 480)),
        (gif(320, 200), (320, 200)),
        (jpeg(1024, 768), (1024, 768)),
        (jpeg(800, 600, exif_bytes=20_000), (800, 600)),
        (webp_vp8x(1000, 500), (1000, 500)),
        (webp_vp8l(300, 150), (300, 150)),
        (webp_vp8(200, 100), (200, 100)),
    ],
)
def test_image_size_from_header(data: bytes, size: tuple[int, int]) -> None:
    assert image_size({"type": "base64", "data": b64(data)}) == size


@pytest.mark.parametrize(
    "source",
    [
        {"type": "url", "url": "https://example.com/cat.png"},
        {"type": "base64", "data": "not base64 at all!"},
        {"type": "base64", "data": b64(b"\x00" * 64)},
        {"type": "base64", "data": b64(b"\xff\xd8" + b"\x00" * 64)},  # JPEG without a frame header
        {"type": "base64"},
        None,
    ],
)
def test_unknown_image_size_costs_the_fallback(source: Any) -> None:
    assert image_size(source) is None
    assert image_tokens(source) == IMAGE_FALLBACK_TOKENS


def test_image_tokens_follow_pixels_and_cap() -> None:
    small = image_tokens({"type": "base64", "data": b64(png(200, 200))})
    medium = image_tokens({"type": "base64", "data": b64(png(750, 750))})
    huge = image_tokens({"type": "base64", "data": b64(png(8000, 6000))})
    assert small == pytest.approx(200 * 200 / 750, abs=1)
    assert medium == 750
    assert 1400 <= huge <= 1600  # downscaled to about 1.15 megapixels first


def test_images_count_in_messages_and_tool_results() -> None:
    empty = request()
    pic = image(png(750, 750))
    assert estimate(request(pic)) >= estimate(empty) + 750
    in_result = request({"type": "tool_result", "tool_use_id": "t", "content": [pic]})
    assert estimate(in_result) >= estimate(empty) + 750
    assert estimate(request(pic, pic)) >= estimate(request(pic)) + 750


def test_documents() -> None:
    empty = request()
    text_doc = {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": PROSE * 10},
    }
    assert estimate(request(text_doc)) > estimate(empty) + 300
    small_pdf = {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": "A" * 4000},
    }
    big_pdf = {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": "A" * 4_000_000},
    }
    assert estimate(request(small_pdf)) > estimate(empty) + 1000
    assert estimate(request(big_pdf)) > estimate(request(small_pdf)) * 10


# ---------------------------------------------------------------------------------------------------------
# Real Claude Code requests


@pytest.mark.parametrize("name", ["cc_first_request_say_hi.json", "cc_tool_turn2_with_tool_result.json"])
def test_claude_code_request_estimates(name: str) -> None:
    body = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    size = len(json.dumps(body, ensure_ascii=False))
    # JSON-heavy prompts run 3.5-5 characters per token; a wide band, the calibration lives in the docstring.
    assert size / 5.5 < estimate(body) < size / 3
    assert estimate(body) == estimate(json.loads(json.dumps(body)))  # memo hits agree with fresh counts
