"""The user-settable parts of a target: capability overrides and request parameters, with their types.

The capability keys mirror `capabilities.lookup` (docs/ARCHITECTURE.md); a config may override any of them
per category or per provider model, so each has a declared type here and an unknown key is an error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from claude_any.capabilities import REASONING_REPLAYS, SCHEMA_DIALECTS
from claude_any.compiler.fields import Reader
from claude_any.compiler.yamlpos import Mapping, Node, Scalar, Sequence

EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")


def _nullable_int(reader: Reader, node: Node, path: str) -> Any:
    if isinstance(node, Scalar) and node.value is None:
        return None
    return reader.integer(node, path, 1)


def _nullable_effort(reader: Reader, node: Node, path: str) -> Any:
    if isinstance(node, Scalar) and node.value is None:
        return None
    return reader.choice(node, path, EFFORTS)


def _efforts(reader: Reader, node: Node, path: str) -> Any:
    if not isinstance(node, Sequence):
        reader.wrong_type(node, path, "a list of effort names (use [] for none)")
        return None
    values = [reader.choice(item, f"{path}[{i}]", EFFORTS) for i, item in enumerate(node.items)]
    return None if None in values else values


def _one_of(*choices: str) -> Callable[[Reader, Node, str], Any]:
    return lambda reader, node, path: reader.choice(node, path, choices)


def _string(reader: Reader, node: Node, path: str) -> Any:
    return reader.string(node, path)


def _boolean(reader: Reader, node: Node, path: str) -> Any:
    return reader.boolean(node, path)


CAPABILITY_TYPES: dict[str, Callable[[Reader, Node, str], Any]] = {
    "family": _string,
    "token_param": _one_of("max_completion_tokens", "max_tokens"),
    "max_output": _nullable_int,
    "context": _nullable_int,
    "reasoning": _boolean,
    "sampling": _one_of("ok", "only_at_none", "drop"),
    "efforts": _efforts,
    "default_effort": _nullable_effort,
    "tools_effort": _one_of("any", "none_only"),
    "parallel_tool_calls": _one_of("send", "omit"),
    "stop": _one_of("send", "drop"),
    "vision": _boolean,
    "pdf": _boolean,
    "responses_only": _boolean,
    "reasoning_replay": _one_of(*REASONING_REPLAYS),
    "thought_signatures": _boolean,
    "schema_dialect": _one_of(*SCHEMA_DIALECTS),
    "prompt_cache_key": _boolean,
}


def read_capabilities(reader: Reader, node: Node, path: str) -> dict[str, Any]:
    """A `capabilities:` mapping: known keys with values of the right type (bad entries are left out)."""
    mapping = reader.mapping(node, path, CAPABILITY_TYPES)
    if mapping is None:
        return {}
    result: dict[str, Any] = {}
    for key, value in mapping.items:
        read = CAPABILITY_TYPES.get(key.text)
        if read is None:
            continue
        parsed = read(reader, value, f"{path}.{key.text}")
        explicit_null = isinstance(value, Scalar) and value.value is None
        if parsed is not None or explicit_null:
            result[key.text] = parsed
    return result


def read_params(reader: Reader, mapping: Mapping, path: str) -> dict[str, Any]:
    """A category's request parameters, in the routes.json `params` shape (absent ones are null/empty)."""
    params: dict[str, Any] = {"reasoning_effort": None, "max_tokens": None, "temperature": None}
    if (node := mapping.get("reasoning_effort")) is not None:
        params["reasoning_effort"] = reader.choice(node, f"{path}.reasoning_effort", EFFORTS)
    if (node := mapping.get("max_tokens")) is not None:
        params["max_tokens"] = reader.integer(node, f"{path}.max_tokens", 1)
    if (node := mapping.get("temperature")) is not None:
        params["temperature"] = reader.number(node, f"{path}.temperature", 0, 2)
    headers = mapping.get("headers")
    params["headers"] = reader.string_map(headers, f"{path}.headers") if headers is not None else {}
    body = mapping.get("body")
    params["body"] = reader.json_object(body, f"{path}.body") if body is not None else {}
    return params
