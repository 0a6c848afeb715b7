"""Structured output: the JSON schema of `output_config.format`, and whether it qualifies for OpenAI's
strict mode, where the provider guarantees the answer matches it (as Anthropic does).

Strict mode accepts a subset (docs/PROTOCOL.md "JSON schemas", OpenAI's "Structured Outputs" guide, Azure's
list of unsupported keywords): every object closed (`additionalProperties: false`) with all its properties
required, an object at the root, only the keywords below, at most 5 levels of nesting and 100 properties.
A schema outside it is sent without `strict` (the provider then tries, but does not guarantee), as
rewriting it would change what the client asked for.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from claude_any.runtime.translate.schema import clean_schema

log = logging.getLogger(__name__)

# Keywords every strict-mode implementation takes (string, number and array constraints are left out:
# Azure refuses them).
_STRICT_KEYWORDS = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "enum",
        "const",
        "anyOf",
        "description",
        "title",
        "$defs",
        "definitions",
        "$ref",
    }
)
_MAX_DEPTH = 5
_MAX_PROPERTIES = 100


def output_schema(body: Mapping[str, Any]) -> Any:
    """The JSON schema the client wants the answer to follow (`{}` when its format names none), or None:
    `output_config.format`, or the top-level `output_format` of the structured-outputs beta before it."""
    config = body.get("output_config")
    for fmt in (config.get("format") if isinstance(config, dict) else None, body.get("output_format")):
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            return fmt.get("schema") or {}
    return None


def structured_output(body: Mapping[str, Any], dialect: str) -> tuple[dict[str, Any], bool] | None:
    """(schema, strict) for the answer format the client asked for, cleaned for `dialect`; None when it
    asked for none. Strict only where the dialect has OpenAI's strict mode and the schema qualifies."""
    raw = output_schema(body)
    if raw is None:
        return None
    schema = clean_schema(raw, dialect)
    if dialect != "openai":
        return schema, False
    problem = strict_problem(schema)
    if problem is not None:
        log.info("structured output sent without strict mode (not guaranteed): %s", problem)
    return schema, problem is None


def strict_problem(schema: Any) -> str | None:
    """Why `schema` does not qualify for strict mode, or None when it does."""
    if not isinstance(schema, dict) or schema.get("type") != "object":
        return "the root is not an object schema"
    counter = [0]
    return _problem(schema, "", 1, counter)


def _problem(node: Any, path: str, depth: int, counter: list[int]) -> str | None:
    if not isinstance(node, dict):
        return f"{path or 'the root'} is not a schema object"
    extra = sorted(set(node) - _STRICT_KEYWORDS)
    if extra:
        return f"{path or 'the root'} uses {', '.join(extra)}"
    properties = node.get("properties")
    kind = node.get("type")
    is_object = kind == "object" or (isinstance(kind, list) and "object" in kind) or properties is not None
    if is_object:
        if depth > _MAX_DEPTH:
            return f"objects nest deeper than {_MAX_DEPTH} levels"
        if node.get("additionalProperties") is not False:
            return f"{path or 'the root'} allows additional properties"
        properties = properties if isinstance(properties, dict) else {}
        required = node.get("required", [])
        if not isinstance(required, list) or set(required) != set(properties):
            return f"{path or 'the root'} has optional properties"
        counter[0] += len(properties)
        if counter[0] > _MAX_PROPERTIES:
            return f"more than {_MAX_PROPERTIES} properties"
        for name, sub in properties.items():
            found = _problem(sub, f"{path}.{name}" if path else name, depth + 1, counter)
            if found:
                return found
    children: list[tuple[str, Any]] = []
    if "items" in node:
        children.append((f"{path}[]", node["items"]))
    if isinstance(node.get("anyOf"), list):
        children += [(f"{path}.anyOf", sub) for sub in node["anyOf"]]
    for key in ("$defs", "definitions"):
        if isinstance(node.get(key), dict):
            children += [(f"{key}.{name}", sub) for name, sub in node[key].items()]
    for where, sub in children:
        found = _problem(sub, where, depth, counter)
        if found:
            return found
    return None
