"""The `prices:` section: what each model costs, for `claude-any statusline`.

Keys are a target (a category or `provider/model`) or a provider name (every model it serves); values are US
dollars per million tokens. The values are read here; whether each key names something declared is checked
by `build.py`, once everything is declared.
"""

from __future__ import annotations

from claude_any.compiler.fields import Reader
from claude_any.compiler.yamlpos import Mapping, Node, Scalar
from claude_any.table import Price

PRICE_KEYS = ("input", "output", "cache_read", "cache_write")
PRICE_REQUIRED = ("input", "output")
MAX_PRICE = 100_000.0  # dollars per million tokens: far above any price list, below any typo of a unit


def read_prices(reader: Reader, node: Node) -> dict[str, tuple[Scalar, Price]]:
    """Each entry's key node (its position, for `build`'s cross-check) and its price; bad ones are
    reported and left out."""
    if not isinstance(node, Mapping):
        reader.wrong_type(node, "prices", "a mapping of targets or providers to prices")
        return {}
    prices: dict[str, tuple[Scalar, Price]] = {}
    for key, value in node.items:
        path = f"prices.{key.text}"
        entry = reader.mapping(value, path, PRICE_KEYS, PRICE_REQUIRED, owner=key)
        if entry is None:
            continue
        amounts: dict[str, float | None] = dict.fromkeys(PRICE_KEYS)
        for name, child in entry.items:
            if name.text in PRICE_KEYS:
                number = reader.number(child, f"{path}.{name.text}", 0, MAX_PRICE)
                amounts[name.text] = float(number) if number is not None else None
        input_price, output_price = amounts["input"], amounts["output"]
        if input_price is None or output_price is None:
            continue  # missing or bad: already reported (and any error drops the whole table)
        price = Price(input_price, output_price, amounts["cache_read"], amounts["cache_write"])
        prices[key.text] = (key, price)
    return prices
