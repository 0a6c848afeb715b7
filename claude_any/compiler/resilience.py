"""The `retry:` (top level and per route) and `timeouts:` sections -> `RetryPolicy` / `Timeouts`.

Bounds are generous but finite: a typo such as `attempts: 1000` or `idle_s: 0` is a compile error, not a
gateway that hammers a provider or cuts every stream.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from claude_any.compiler.fields import Reader
from claude_any.compiler.yamlpos import Mapping, Node
from claude_any.table import RetryPolicy, Timeouts

# key -> (whole number?, low, high)
RETRY_FIELDS: dict[str, tuple[bool, float, float]] = {
    "attempts": (True, 1, 10),
    "initial_backoff_ms": (True, 0, 60_000),
    "max_backoff_ms": (True, 0, 600_000),
    "budget_s": (False, 0, 3600),
}
TIMEOUT_FIELDS: dict[str, tuple[bool, float, float]] = {
    "connect_s": (False, 0.001, 600),
    "first_byte_s": (False, 0.001, 3600),
    "idle_s": (False, 0.001, 3600),
    "ping_s": (False, 0.001, 600),
    "client_write_s": (False, 0.001, 3600),
    "queue_s": (False, 0.001, 3600),
}


def _read(
    reader: Reader, node: Node, path: str, fields: dict[str, tuple[bool, float, float]]
) -> dict[str, Any]:
    """The valid keys of a mapping of numbers; bad keys and values are reported and left out."""
    section = reader.mapping(node, path, tuple(fields))
    if section is None:
        return {}
    values: dict[str, Any] = {}
    for key, child in section.items:
        if key.text not in fields:
            continue  # already reported as an unknown key
        whole, low, high = fields[key.text]
        where = f"{path}.{key.text}"
        if whole:
            values[key.text] = reader.integer(child, where, int(low), int(high))
        else:
            number = reader.number(child, where, low, high)
            values[key.text] = float(number) if number is not None else None  # 60 and 60.0: one routes.json
    return {key: value for key, value in values.items() if value is not None}
    return values


def read_retry(reader: Reader, node: Node, path: str, base: RetryPolicy) -> RetryPolicy:
    """`base` with the keys given at `node` (top-level `retry:` over the defaults, a route's over that)."""
    policy = replace(base, **_read(reader, node, path, RETRY_FIELDS))
    if policy.max_backoff_ms < policy.initial_backoff_ms:
        where = node.get("max_backoff_ms") if isinstance(node, Mapping) else None
        reader.error(
            (where or node).pos,
            f"{path}.max_backoff_ms",
            f"{policy.max_backoff_ms} is below initial_backoff_ms ({policy.initial_backoff_ms})",
        )
    return policy


def read_timeouts(reader: Reader, node: Node) -> Timeouts:
    """The top-level `timeouts:` section over the defaults."""
    timeouts = replace(Timeouts(), **_read(reader, node, "timeouts", TIMEOUT_FIELDS))
    if timeouts.ping_s >= timeouts.idle_s:
        reader.warning(
            node.pos,
            "timeouts.ping_s",
            f"{timeouts.ping_s:g} s is not below idle_s ({timeouts.idle_s:g} s): "
            "no keep-alive ping is sent before a silent stream is cut",
        )
    return timeouts
