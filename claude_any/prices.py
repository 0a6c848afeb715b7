"""What a request cost: the config's `prices:`, else the list prices of models whose price is public and
fixed, else unknown (never Claude's prices for a model that is not Claude).

Defaults apply only where the list price is what the user pays: OpenAI's own API, Anthropic's own API, and
the in-process echo provider (free). Azure (global, data-zone and regional deployments differ), Databricks
(DBUs), local servers and other OpenAI-compatible services have no default: their `prices:` entry says.
List prices leave out long-context surcharges and batch, flex and priority tiers.
"""

from __future__ import annotations

import re

from claude_any.table import Price, Provider, RoutingTable, Target

PER_MILLION = 1_000_000

# USD per million tokens (input, cached input, output[, cache write]), from the list prices in LiteLLM's
# model_prices_and_context_window.json of 2026-07-24. OpenAI charges nothing for cache writes.
_OPENAI: dict[str, Price] = {
    "gpt-5.6": Price(5.0, 30.0, 0.5),
    "gpt-5.5-pro": Price(30.0, 180.0, 3.0),
    "gpt-5.5": Price(5.0, 30.0, 0.5),
    "gpt-5.4-pro": Price(30.0, 180.0, 3.0),
    "gpt-5.4-mini": Price(0.75, 4.5, 0.075),
    "gpt-5.4-nano": Price(0.2, 1.25, 0.02),
    "gpt-5.4": Price(2.5, 15.0, 0.25),
    "gpt-5.3-codex": Price(1.75, 14.0, 0.175),
    "gpt-5.2-pro": Price(21.0, 168.0),
    "gpt-5.2-codex": Price(1.75, 14.0, 0.175),
    "gpt-5.2": Price(1.75, 14.0, 0.175),
    "gpt-5.1-codex-mini": Price(0.25, 2.0, 0.025),
    "gpt-5.1-codex-max": Price(1.25, 10.0, 0.125),
    "gpt-5.1-codex": Price(1.25, 10.0, 0.125),
    "gpt-5.1": Price(1.25, 10.0, 0.125),
    "gpt-5-pro": Price(15.0, 120.0),
    "gpt-5-codex": Price(1.25, 10.0, 0.125),
    "gpt-5-mini": Price(0.25, 2.0, 0.025),
    "gpt-5-nano": Price(0.05, 0.4, 0.005),
    "gpt-5": Price(1.25, 10.0, 0.125),
    "gpt-4.1-mini": Price(0.4, 1.6, 0.1),
    "gpt-4.1-nano": Price(0.1, 0.4, 0.025),
    "gpt-4.1": Price(2.0, 8.0, 0.5),
    "gpt-4o-mini": Price(0.15, 0.6, 0.075),
    "gpt-4o-2024-05-13": Price(5.0, 15.0),
    "gpt-4o": Price(2.5, 10.0, 1.25),
    "o4-mini": Price(1.1, 4.4, 0.275),
    "o3-pro": Price(20.0, 80.0),
    "o3-mini": Price(1.1, 4.4, 0.55),
    "o3": Price(2.0, 8.0, 0.5),
    "o1-pro": Price(150.0, 600.0),
    "o1": Price(15.0, 60.0, 7.5),
}
_ANTHROPIC: dict[str, Price] = {
    "claude-opus-4-8": Price(5.0, 25.0, 0.5, 6.25),
    "claude-opus-4-7": Price(5.0, 25.0, 0.5, 6.25),
    "claude-opus-4-6": Price(5.0, 25.0, 0.5, 6.25),
    "claude-opus-4-5": Price(5.0, 25.0, 0.5, 6.25),
    "claude-opus-4-1": Price(15.0, 75.0, 1.5, 18.75),
    "claude-opus-5": Price(5.0, 25.0, 0.5, 6.25),
    "claude-sonnet-5": Price(2.0, 10.0, 0.2, 2.5),
    "claude-sonnet-4-6": Price(3.0, 15.0, 0.3, 3.75),
    "claude-sonnet-4-5": Price(3.0, 15.0, 0.3, 3.75),
    "claude-haiku-4-5": Price(1.0, 5.0, 0.1, 1.25),
    "claude-fable-5": Price(10.0, 50.0, 1.0, 12.5),
}
FREE = Price(0.0, 0.0, 0.0, 0.0)

# Only the provider's own API charges its list price; a `base_url` elsewhere is another service.
_LIST_PRICED = {
    "openai": ("https://api.openai.com/v1", _OPENAI),
    "anthropic": ("https://api.anthropic.com", _ANTHROPIC),
}
_DATED = re.compile(r"-\d{4}-?\d{2}-?\d{2}$")  # gpt-4.1-2025-04-14, claude-sonnet-4-5-20250929


def list_price(provider: Provider, model: str) -> Price | None:
    """The default price of `model` (a base model) on `provider`, or None when there is none."""
    if provider.kind == "echo":
        return FREE
    known = _LIST_PRICED.get(provider.kind)
    if known is None or str(provider.settings.get("base_url", "")).rstrip("/") != known[0]:
        return None
    table = known[1]
    name = model.strip().lower()
    return table.get(name) or table.get(_DATED.sub("", name))


def price_for(table: RoutingTable, target: Target) -> Price | None:
    """The price of a request answered by `target`: `prices:` by target id, then by `provider/model`,
    then by provider name, else the list price of its base model; None when unknown."""
    provider = table.providers[target.provider]
    for key in (target.id, f"{provider.name}/{target.model}", provider.name):
        if key in table.prices:
            return table.prices[key]
    return list_price(provider, target.base_model)


def cost(price: Price, *, uncached: int, cache_read: int, cache_write: int, output: int) -> float:
    """US dollars for one request's tokens (Anthropic's accounting: `uncached` excludes the cache)."""
    read = price.input if price.cache_read is None else price.cache_read
    write = price.input if price.cache_write is None else price.cache_write
    total = uncached * price.input + cache_read * read + cache_write * write + output * price.output
    return total / PER_MILLION
