"""The `prices:` section: checked at compile time with positions, written to routes.json and read back."""

from __future__ import annotations

import json

from claude_any.compiler import compile_text
from claude_any.table import Price, RoutingTable

BASE = """\
providers:
  openai: {api_key: "${OPENAI_API_KEY}"}
  ollama: {kind: openai, base_url: "http://127.0.0.1:11434/v1"}
model_categories:
  large: openai/gpt-4.1
  small: ollama/qwen3
"""


def test_prices_by_provider_category_and_provider_model_are_kept() -> None:
    text = BASE + (
        "prices:\n"
        "  ollama: {input: 0, output: 0}\n"
        "  large: {input: 2, output: 8, cache_read: 0.5}\n"
        "  openai/gpt-5: {input: 1.25, output: 10, cache_read: 0.125, cache_write: 1.25}\n"
    )
    result = compile_text(text, "p.yaml")
    assert result.table is not None, [d.render() for d in result.diagnostics]
    assert result.table.prices == {
        "ollama": Price(0.0, 0.0),
        "large": Price(2.0, 8.0, cache_read=0.5),
        "openai/gpt-5": Price(1.25, 10.0, cache_read=0.125, cache_write=1.25),
    }
    again = RoutingTable.from_json(json.loads(result.table.dumps()))
    assert again.prices == result.table.prices
    assert json.loads(result.table.dumps())["prices"]["large"] == {
        "input": 2.0,
        "output": 8.0,
        "cache_read": 0.5,
        "cache_write": None,
    }


def test_routes_json_without_prices_loads() -> None:
    result = compile_text(BASE, "p.yaml")
    assert result.table is not None
    data = json.loads(result.table.dumps())
    del data["prices"]  # written before `prices:` existed
    assert RoutingTable.from_json(data).prices == {}


def test_every_mistake_is_reported_at_its_position() -> None:
    text = BASE + (
        "prices:\n"  # line 7
        "  olama: {input: 0, output: 0}\n"
        "  small: {input: -1, outptu: 3}\n"
        "  openai/gpt-5: 3\n"
        "  large: {input: .inf, output: 2}\n"
    )
    result = compile_text(text, "p.yaml")
    assert result.table is None
    assert [d.render().splitlines()[0] for d in result.errors] == [
        "p.yaml:8:3: error: prices.olama: not a provider, a category or provider/model; "
        "did you mean 'ollama'?",
        "p.yaml:9:3: error: prices.small: missing required key 'output'",
        "p.yaml:9:18: error: prices.small.input: -1 is out of range; expected a number between 0 and 100000",
        "p.yaml:9:22: error: unknown key 'outptu' in prices.small; did you mean 'output'?",
        "p.yaml:10:17: error: prices.openai/gpt-5: expected a mapping, got a number",
        "p.yaml:11:18: error: prices.large.input: .inf is out of range; "
        "expected a number between 0 and 100000",
    ]


def test_prices_must_be_a_mapping() -> None:
    result = compile_text(BASE + "prices: [1, 2]\n", "p.yaml")
    assert [d.render() for d in result.errors] == [
        "p.yaml:7:9: error: prices: expected a mapping of targets or providers to prices, got a list"
    ]
