"""The hot-path JSON codec: the stdlib path and the orjson path (when installed) agree on every value and
every error, and the stream translator gives the same bytes on both."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from claude_any.runtime.translate import json_codec
from claude_any.runtime.translate.chat.stream import StreamTranslator
from claude_any.runtime.translate.context import Context

STD = json_codec.std_codec()
FAST = json_codec.fast_codec()
CODECS = [pytest.param(STD, id="json")]
CODECS.append(
    pytest.param(FAST, id="orjson")
    if FAST is not None
    else pytest.param(None, id="orjson", marks=pytest.mark.skip(reason="orjson is not installed"))
)

VALUES: list[Any] = [
    {"model": "gpt-4o", "messages": [{"role": "user", "content": "héllo 漢字 😀"}], "stream": True},
    {"nested": {"a": [1, 2.5, -3, None, True, False, "", {}]}, "escapes": 'quote " slash \\ nl \n tab \t'},
    {"control": "\x00\x01\x1f\x7f", "separators": "\u2028\u2029"},
    {"big": 2**70, "negative_big": -(2**70)},
    {1: "int keys become strings"},
    "plain string",
    [],
    0.1,
    1e-7,
]

TEXTS = [
    '{"a": 1, "b": [true, false, null], "c": "\\u00e9\\ud83d\\ude00"}',
    '{"lone": "\\ud800"}',  # a lone surrogate escape: orjson refuses it, the stdlib accepts it
    '{"n": NaN, "i": Infinity}',  # not JSON, but the stdlib reads it
    '{"big": 123456789012345678901234567890}',
    '{"below_i64": -9223372036854775809}',  # only 19 digits, yet past what orjson keeps exact
    '{"max_u64": 18446744073709551615}',
    '{"dup": 1, "dup": 2}',
]

BAD_TEXTS = ["", "{", '{"a": }', "[1, 2", "nul", '{"a": 1} trailing']


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("value", VALUES)
def test_dumps_matches_compact_stdlib_json(codec: json_codec.Codec, value: Any) -> None:
    _, dumps = codec
    expected = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    assert json.loads(dumps(value)) == json.loads(expected)
    if not isinstance(value, float):  # float spelling may differ (1e-07 / 1e-7); the value may not
        assert dumps(value) == expected


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("text", TEXTS)
def test_loads_gives_the_stdlib_value(codec: json_codec.Codec, text: str) -> None:
    loads, _ = codec
    expected = json.loads(text)
    for data in (text, text.encode()):
        got = loads(data)
        if "NaN" in text:
            assert math.isnan(got["n"]) and got["i"] == math.inf
        else:
            assert got == expected


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("text", BAD_TEXTS)
def test_loads_raises_the_stdlib_error(codec: json_codec.Codec, text: str) -> None:
    loads, _ = codec
    with pytest.raises(json.JSONDecodeError) as caught:
        loads(text)
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    assert (caught.value.msg, caught.value.pos) == (expected.value.msg, expected.value.pos)


def test_the_module_codec_is_the_fast_one_when_orjson_is_installed() -> None:
    assert ("orjson" if FAST is not None else "json") == json_codec.BACKEND


def _stream_bytes() -> bytes:
    chunks = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi é 😀"}}]},
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_1",
                                "function": {"name": "Read", "arguments": '{"path": "/a"}'},
                            }
                        ]
                    },
                }
            ]
        },
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        {"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 3}},
    ]
    raw = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"

    def translate() -> bytes:
        translator = StreamTranslator(
            Context(requested_model="claude-sonnet-4-6", stream=True), make_id=lambda prefix: prefix + "x"
        )
        return translator.feed(raw) + translator.finish()

    return translate()


@pytest.mark.parametrize("codec", CODECS)
def test_the_stream_translator_gives_the_same_bytes_on_either_codec(
    codec: json_codec.Codec, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(json_codec, "loads", STD[0])
    reference = _stream_bytes()
    assert b"tool_use" in reference and "Hi é 😀".encode() in reference
    monkeypatch.setattr(json_codec, "loads", codec[0])
    assert _stream_bytes() == reference
