"""`prices.py`: the price of a request's target (the config's `prices:` first, list prices only where they
are what is paid, never Claude's for another model) and the cost of its tokens."""

from __future__ import annotations

from dataclasses import replace

import pytest

from claude_any.compiler import compile_text
from claude_any.prices import FREE, cost, list_price, price_for
from claude_any.table import Price, RoutingTable

CONFIG = """\
providers:
  openai: {api_key: "${OPENAI_API_KEY}"}
  proxy: {kind: openai, base_url: "https://openrouter.example/api/v1", api_key: "${KEY}"}
  azure: {api_key: "${AZ}", endpoint: res.openai.azure.com, api_version: 2024-10-21}
  anthropic: {api_key: "${ANTHROPIC_API_KEY}"}
  echo: {kind: echo}
model_categories:
  large: openai/gpt-4.1
  small: openai/gpt-4o-mini-2024-07-18
  routed: proxy/gpt-4.1
  deployment: {target: azure/team-4o, base_model: gpt-4o}
  claude: anthropic/claude-sonnet-4-5-20250929
  free: echo/anything
  mystery: openai/gpt-77
"""


@pytest.fixture(scope="module")
def table() -> RoutingTable:
    result = compile_text(CONFIG, "prices.yaml")
    assert result.table is not None, [d.render() for d in result.diagnostics]
    return result.table


def test_list_prices_only_where_they_are_what_is_paid(table: RoutingTable) -> None:
    assert price_for(table, table.targets["large"]) == Price(2.0, 8.0, 0.5)
    assert price_for(table, table.targets["small"]) == Price(0.15, 0.6, 0.075)  # a dated id
    assert price_for(table, table.targets["claude"]) == Price(3.0, 15.0, 0.3, 3.75)
    assert price_for(table, table.targets["free"]) == FREE
    assert price_for(table, table.targets["routed"]) is None  # gpt-4.1, but not on OpenAI's own API
    assert price_for(table, table.targets["deployment"]) is None  # Azure: deployment types differ
    assert price_for(table, table.targets["mystery"]) is None  # unknown: never guessed, never Claude's


def test_the_config_wins_by_target_then_provider_model_then_provider(table: RoutingTable) -> None:
    mine = replace(
        table,
        prices={
            "deployment": Price(1.0, 2.0),
            "proxy/gpt-4.1": Price(3.0, 4.0),
            "proxy": Price(5.0, 6.0),
            "large": Price(7.0, 8.0),
        },
    )
    assert price_for(mine, mine.targets["deployment"]) == Price(1.0, 2.0)
    assert price_for(mine, mine.targets["routed"]) == Price(3.0, 4.0)
    assert price_for(mine, replace(mine.targets["routed"], id="x", model="other")) == Price(5.0, 6.0)
    assert price_for(mine, mine.targets["large"]) == Price(7.0, 8.0)


def test_cost_uses_the_cache_prices_or_else_the_input_price() -> None:
    tokens = {"uncached": 1_000, "cache_read": 2_000, "cache_write": 3_000, "output": 500}
    assert cost(Price(2.0, 8.0, 0.5, 2.5), **tokens) == pytest.approx(
        (1_000 * 2.0 + 2_000 * 0.5 + 3_000 * 2.5 + 500 * 8.0) / 1e6
    )
    assert cost(Price(2.0, 8.0), **tokens) == pytest.approx((6_000 * 2.0 + 500 * 8.0) / 1e6)


def test_a_base_url_elsewhere_has_no_list_price(table: RoutingTable) -> None:
    openai = table.providers["openai"]
    assert list_price(openai, "o3") == Price(2.0, 8.0, 0.5)
    elsewhere = replace(openai, settings={**openai.settings, "base_url": "http://127.0.0.1:11434/v1"})
    assert list_price(elsewhere, "o3") is None
