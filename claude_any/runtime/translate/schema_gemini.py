"""JSON schemas rewritten for Gemini's OpenAI endpoint, which takes only its OpenAPI-style subset.

Google's endpoint rejects a tool whose parameters use a keyword outside its `Schema` type (`$schema`,
`additionalProperties`, `propertyNames`, `exclusiveMinimum`, `const`, `oneOf`, `$ref`, …: "Unknown name …"
or "Invalid JSON payload"). Claude Code's zod-generated schemas use several of them, so for such a target
every schema is rewritten to the subset, keeping as much of its meaning as the subset can say:

    $ref into $defs / definitions     inlined (a cycle, or a reference that does not resolve, becomes {})
    const                             a one-value enum (strings only, as Gemini's enum)
    type: [T, "null"]                 type T, nullable
    oneOf                             anyOf (it accepts a superset: the client validates the input anyway)
    allOf                             merged into the schema
    exclusiveMinimum / Maximum        minimum / maximum (a bound, not a strict one)
    format                            kept for date-time, enum and the number formats only
    enum of non-strings               dropped
    properties: {}                    left out (Gemini refuses an empty one; the object is free-form)
    anything else outside the subset  dropped

Only keywords are rewritten: the names under `properties` are data and stay exactly as they are (a property
named `additionalProperties` or `format` is kept).
"""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]

# Gemini's Schema fields (ai.google.dev, "Schema"): everything else is refused.
_KEPT = frozenset(
    {
        "type",
        "format",
        "title",
        "description",
        "nullable",
        "enum",
        "maxItems",
        "minItems",
        "properties",
        "required",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "example",
        "anyOf",
        "propertyOrdering",
        "default",
        "items",
        "minimum",
        "maximum",
    }
)
_FORMATS = frozenset({"date-time", "enum", "int32", "int64", "float", "double"})
_MAX_REF_DEPTH = 16  # nested $ref inlining stops here (and at a cycle)


def to_gemini(schema: Any) -> Any:
    """`schema` (already cleaned for OpenAI: an object schema at the root) in Gemini's subset."""
    if not isinstance(schema, dict):
        return schema
    definitions: JSON = {}
    for key in ("definitions", "$defs"):
        if isinstance(schema.get(key), dict):
            definitions.update(schema[key])
    return _node(schema, definitions, ())


def _node(schema: Any, definitions: JSON, refs: tuple[str, ...]) -> Any:
    if isinstance(schema, bool):  # `true` (anything) / `false` (nothing): the subset has neither
        return {}
    if not isinstance(schema, dict):
        return schema
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = _resolve(ref, definitions)
        if target is None or ref in refs or len(refs) >= _MAX_REF_DEPTH:
            return _node({k: v for k, v in schema.items() if k != "$ref"}, definitions, refs)
        merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        return _node(merged, definitions, (*refs, ref))
    schema = _merge_all_of(schema)
    out: JSON = {}
    for key, value in schema.items():
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _node(sub, definitions, refs) for name, sub in value.items()}
        elif key in ("anyOf", "oneOf") and isinstance(value, list):
            out["anyOf"] = [_node(sub, definitions, refs) for sub in value]
        elif key == "items":
            item = value[0] if isinstance(value, list) and value else value
            out[key] = _node(item, definitions, refs) if isinstance(item, (dict, bool)) else {}
        elif key in _KEPT:
            out[key] = value
    _types(out)
    _bounds(schema, out)
    if "const" in schema and isinstance(schema["const"], str):
        out["enum"] = [schema["const"]]
        out.setdefault("type", "string")
    if "enum" in out and not (isinstance(out["enum"], list) and all(isinstance(v, str) for v in out["enum"])):
        del out["enum"]
    if "format" in out and out["format"] not in _FORMATS:
        del out["format"]
    if isinstance(out.get("required"), list) and isinstance(out.get("properties"), dict):
        out["required"] = [name for name in out["required"] if name in out["properties"]]
    if "type" not in out and isinstance(out.get("properties"), dict):
        out["type"] = "object"
    if out.get("properties") == {}:
        del out["properties"]  # "should be non-empty for OBJECT type": a free-form object has none
    return out


def _resolve(ref: str, definitions: JSON) -> JSON | None:
    for prefix in ("#/$defs/", "#/definitions/"):
        if ref.startswith(prefix):
            found = definitions.get(ref[len(prefix) :])
            return found if isinstance(found, dict) else None
    return None


def _merge_all_of(schema: JSON) -> JSON:
    parts = schema.get("allOf")
    if not isinstance(parts, list):
        return schema
    merged: JSON = {k: v for k, v in schema.items() if k != "allOf"}
    for part in parts:
        if not isinstance(part, dict):
            continue
        for key, value in part.items():
            if key == "properties" and isinstance(value, dict):
                merged["properties"] = {**merged.get("properties", {}), **value}
            elif key == "required" and isinstance(value, list):
                merged["required"] = [*merged.get("required", []), *value]
            else:
                merged.setdefault(key, value)
    return merged


def _types(out: JSON) -> None:
    """`type: [T, "null"]` as `type: T, nullable: true`; a list of several types keeps the first."""
    kind = out.get("type")
    if not isinstance(kind, list):
        return
    rest = [t for t in kind if t != "null"]
    if len(rest) < len(kind):
        out["nullable"] = True
    if rest:
        out["type"] = rest[0]
    else:
        del out["type"]


def _bounds(schema: JSON, out: JSON) -> None:
    for exclusive, inclusive in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = schema.get(exclusive)
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if is_number and inclusive not in out:
            out[inclusive] = value
