"""Tool-call arguments from an upstream, turned into the JSON object Anthropic's `tool_use.input` must be.

Upstreams send arguments as a JSON string (the standard), as an object (some OSS servers), truncated (a
`length` stop in the middle of a call), with trailing garbage, or behind a `{}` placeholder (Databricks
streams `{}` then the real fragments). The client's SDK throws on invalid JSON at `content_block_stop`,
so every path ends in a valid object; a hopeless one becomes `{}` with a warning in the log.
"""

from __future__ import annotations

import json
import logging
from typing import Any

log = logging.getLogger(__name__)

_decoder = json.JSONDecoder()
# Bounds the repair work on pathological input; real truncations are fixed by the first few candidates.
_MAX_CUTS = 64


def parse_arguments(raw: Any, *, tool: str = "") -> tuple[dict[str, Any], str | None]:
    """The arguments as an object, plus the upstream's JSON text when it was already exactly that object.

    The second value lets the stream pass the upstream's own text through in the common case instead of
    re-serialising; it is None whenever anything had to be repaired or converted. Never raises.
    """
    if isinstance(raw, dict):
        return raw, None
    if raw is None:
        return {}, None
    if not isinstance(raw, str):
        log.warning("tool call %r: arguments of type %s replaced by {}", tool, type(raw).__name__)
        return {}, None
    text = raw.strip()
    if not text:
        return {}, None
    if text.startswith("{}") and text[2:].strip():
        # Databricks sends a `{}` placeholder before the real fragments.
        text = text[2:].strip()
    try:
        value = json.loads(text)
    except ValueError:
        repaired = _repair(text)
        # A repair that kept nothing is as good as none: fall through to the warning.
        if repaired:
            log.debug("tool call %r: repaired invalid JSON arguments (%d chars)", tool, len(text))
            return repaired, None
    else:
        if isinstance(value, dict):
            return value, text
        if isinstance(value, str) and value.strip().startswith("{"):
            # Double-encoded arguments ("{\"a\":1}") seen from some gateways.
            return parse_arguments(value, tool=tool)[0], None
    log.warning("tool call %r: arguments are not a JSON object (%d chars); sent as {}", tool, len(text))
    return {}, None


def arguments_json(raw: Any, *, tool: str = "") -> str:
    """Valid JSON object text for `raw` (see `parse_arguments`), the upstream's own text when valid."""
    value, original = parse_arguments(raw, tool=tool)
    return original if original is not None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _repair(text: str) -> dict[str, Any] | None:
    """Best effort: cut trailing garbage after a complete object, else close a truncated one."""
    if not text.startswith("{"):
        return None
    try:
        value, _ = _decoder.raw_decode(text)
    except ValueError:
        pass
    else:
        return value if isinstance(value, dict) else None
    return _close_truncated(text)


def _close_truncated(text: str) -> dict[str, Any] | None:
    """Close open strings, objects and arrays; if that is not valid, back off to an earlier boundary.

    Boundaries are commas and opening brackets outside strings: cutting there drops a half-written key or
    value (`{"a": 1, "b": tru` becomes `{"a": 1}`), which is the most we can honestly recover. One scan
    records the closing brackets needed at each boundary, so each retry is a single `json.loads`.
    """
    cuts: list[tuple[int, str]] = []  # (cut position, closers needed there)
    closers: list[str] = []
    in_string = False
    escape_at = -1  # index of the backslash of an escape still being read, else -1
    for i, ch in enumerate(text):
        if in_string:
            if escape_at >= 0:
                # `\uXXXX` is complete after 4 hex digits; any other escape after one character.
                if text[escape_at + 1] != "u" or i - escape_at >= 5:
                    escape_at = -1
            elif ch == "\\":
                escape_at = i
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "{" or ch == "[":
            closers.append("}" if ch == "{" else "]")
            cuts.append((i + 1, "".join(reversed(closers))))
        elif (ch == "}" or ch == "]") and closers:
            closers.pop()
        elif ch == ",":
            cuts.append((i, "".join(reversed(closers))))
    body = text
    if in_string:
        body = (body[:escape_at] if escape_at >= 0 else body) + '"'
    candidate = _loads_object(body.rstrip().rstrip(",") + "".join(reversed(closers)))
    if candidate is not None:
        return candidate
    for cut, needed in reversed(cuts[-_MAX_CUTS:]):
        candidate = _loads_object(text[:cut].rstrip().rstrip(",") + needed)
        if candidate is not None:
            return candidate
    return None


def _loads_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
