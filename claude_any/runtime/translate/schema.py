"""JSON-schema cleaning for tool parameters and structured output (docs/PROTOCOL.md "JSON schemas"), per
dialect.

OpenAI-style upstreams take ordinary JSON Schema for non-strict tools; the fixes here are the few that
real servers reject: a `$schema` keyword, and object schemas without `properties` (zero-argument MCP
tools). Cleaning is copy-on-write: an already clean schema is returned as is, never deep-copied; and it is
memoised by the schema's JSON, because the same tools come with every request of a session. A target whose
capabilities say `schema_dialect: gemini` gets the result rewritten to Gemini's subset (`schema_gemini.py`).
"""

from __future__ import annotations

from typing import Any

from claude_any.runtime.memo import JSONMemo
from claude_any.runtime.translate.schema_gemini import to_gemini

EMPTY_OBJECT_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}

# Keywords whose value is a schema (or a list of schemas), and those whose value maps names to schemas.
# Only these are walked, so a property *named* `$schema` or `type` (data, not a keyword) is never touched.
_SCHEMA, _MAP = 1, 2
_WALKED: dict[str, int] = {
    **dict.fromkeys(
        ("items", "additionalProperties", "not", "contains", "if", "then", "else", "propertyNames"), _SCHEMA
    ),
    **dict.fromkeys(("anyOf", "oneOf", "allOf", "prefixItems"), _SCHEMA),
    **dict.fromkeys(("properties", "patternProperties", "$defs", "definitions"), _MAP),
}
_DROPPED = frozenset({"$schema"})


def _clean(schema: Any) -> Any:
    """`schema` with nested fixes applied; the same object when nothing changed (the common case)."""
    if not isinstance(schema, dict):
        return schema
    changed: dict[str, Any] = {}
    drop = False
    for key, value in schema.items():
        how = _WALKED.get(key)
        if how is None:
            drop = drop or key in _DROPPED
        elif how == _MAP and isinstance(value, dict):
            mapped = {name: _clean(sub) for name, sub in value.items()}
            if any(mapped[name] is not sub for name, sub in value.items()):
                changed[key] = mapped
        elif isinstance(value, dict):
            new = _clean(value)
            if new is not value:
                changed[key] = new
        elif isinstance(value, list):
            items = [_clean(v) for v in value]
            if any(a is not b for a, b in zip(items, value, strict=True)):
                changed[key] = items
    kind = schema.get("type")
    if (kind == "object" or (isinstance(kind, list) and "object" in kind)) and not isinstance(
        schema.get("properties"), dict
    ):
        changed["properties"] = {}
    if not changed and not drop:
        return schema
    out = {k: v for k, v in schema.items() if k not in _DROPPED}
    out.update(changed)
    return out


def clean_schema(schema: Any, dialect: str = "openai") -> dict[str, Any]:
    """A tool's `input_schema` as OpenAI function `parameters`: always an object schema with `properties`,
    in the target's `dialect` (capabilities `schema_dialect`: "openai" or "gemini").

    Missing or non-object input gives `{"type": "object", "properties": {}}`; a root without `type` but
    with `properties` is typed as an object. The result may be shared with other requests: read-only.
    """
    if not isinstance(schema, dict) or not schema:
        return dict(EMPTY_OBJECT_SCHEMA, properties={})
    return _gemini_memo(schema) if dialect == "gemini" else _clean_memo(schema)


def _clean_root(schema: dict[str, Any]) -> dict[str, Any]:
    if "type" not in schema and ("properties" in schema or "required" in schema):
        schema = {**schema, "type": "object"}
    cleaned = _clean(schema)
    return cleaned if isinstance(cleaned, dict) else dict(EMPTY_OBJECT_SCHEMA, properties={})


_clean_memo: JSONMemo[dict[str, Any]] = JSONMemo(_clean_root)
_gemini_memo: JSONMemo[dict[str, Any]] = JSONMemo(lambda schema: to_gemini(_clean_root(schema)))
