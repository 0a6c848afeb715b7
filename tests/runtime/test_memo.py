"""The JSON-keyed memo behind schema cleaning and tool token counts: one computation per distinct JSON value,
exact keys (order and numeric type matter), bounded size, and results identical to computing afresh."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from loopback import FIXTURES

from claude_any.runtime.memo import JSONMemo
from claude_any.runtime.route import tokens
from claude_any.runtime.translate import schema


def counting_memo(**limits: int) -> tuple[JSONMemo[str], list[Any]]:
    seen: list[Any] = []

    def compute(value: Any) -> str:
        seen.append(value)
        return f"result {len(seen)}"

    return JSONMemo(compute, **limits), seen


def test_equal_json_values_from_different_objects_are_computed_once() -> None:
    memo, seen = counting_memo()
    first = {"type": "object", "properties": {"a": {"type": "string"}}}
    assert memo(first) == memo(copy.deepcopy(first)) == "result 1"
    assert len(seen) == 1


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}),  # key order reaches the upstream: not the same request
        ({"n": 1}, {"n": 1.0}),
        ({"n": 1}, {"n": True}),
        ({"s": "é"}, {"s": "e"}),
    ],
)
def test_values_that_encode_differently_are_not_confused(one: Any, other: Any) -> None:
    memo, seen = counting_memo()
    assert memo(one) != memo(other)
    assert len(seen) == 2


def test_values_without_a_json_encoding_are_computed_every_time() -> None:
    memo, seen = counting_memo()
    odd = {"x": {1, 2}}  # a set: neither orjson nor the stdlib encodes it
    memo(odd)
    memo(odd)
    assert len(seen) == 2
    assert len(memo) == 0


def test_the_oldest_entry_goes_first_when_full_and_big_keys_are_not_kept() -> None:
    memo, seen = counting_memo(max_entries=2, max_key_bytes=64)
    memo({"k": 1})
    memo({"k": 2})
    memo({"k": 3})  # evicts {"k": 1}
    assert len(memo) == 2
    memo({"k": 1})
    assert len(seen) == 4
    memo({"big": "x" * 100})
    memo({"big": "x" * 100})
    assert len(seen) == 6


def test_integers_beyond_64_bits_are_keys_too() -> None:
    memo, seen = counting_memo()
    big = {"n": 2**70}
    memo(big)
    memo({"n": 2**70})
    memo({"n": 2**70 + 1})
    assert len(seen) == 2


def _claude_code_tools() -> list[dict[str, Any]]:
    path = FIXTURES / "cc_first_request_say_hi.json"
    tools: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["tools"]
    return tools


def test_memoised_schema_cleaning_equals_cleaning_afresh() -> None:
    for tool in _claude_code_tools():
        raw = tool.get("input_schema")
        assert schema.clean_schema(copy.deepcopy(raw)) == schema._clean_root(copy.deepcopy(raw))
        assert schema.clean_schema(copy.deepcopy(raw)) is schema.clean_schema(copy.deepcopy(raw))


def test_memoised_tool_counts_equal_counting_afresh() -> None:
    tools = _claude_code_tools()
    body = {"model": "m", "messages": [], "tools": tools}
    without_memo = sum(tokens._count_tool(t) for t in tools)
    first = tokens.estimate(copy.deepcopy(body))
    assert tokens.estimate(copy.deepcopy(body)) == first
    empty = tokens.estimate({"model": "m", "messages": [], "tools": []})
    assert first - empty - tokens._TOOLS_PREAMBLE == without_memo
