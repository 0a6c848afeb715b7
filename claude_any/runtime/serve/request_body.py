"""The client's request body: read within the size limit, checked to be JSON, parsed once into an object.

What a hostile body cannot do here:
- be larger than `server.max_body_mb` (413 as soon as that is known, before it is read whole);
- be anything but `application/json` (400): a web page can post a form or `text/plain` to a loopback
  address without asking first, but not JSON, so this is also a CSRF guard;
- hold a lone surrogate escape (`"\\ud800"`) or nest deeper than MAX_DEPTH (400 naming the JSON path): the
  stdlib parser accepts both, and they failed later, as a 500, in the encoder or in a recursive walk.

The parse is one C-level pass (orjson, else the stdlib); so is the check, since orjson's encoder refuses
exactly lone surrogates and nesting beyond its limit. Only a body it refuses is walked, to name the path.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request

from claude_any.runtime import errors
from claude_any.runtime.serve.access_log import printable
from claude_any.runtime.translate import json_codec

MEGABYTE = 1024 * 1024

# orjson's encoder refuses values nested deeper than this (tests/runtime/test_hostile_json.py pins it).
# Every recursive walk of the gateway handles it with room to spare under Python's recursion limit.
MAX_DEPTH = 254

_SURROGATE = re.compile("[\ud800-\udfff]")
# A JSON text's tokens that matter for nesting: strings (skipped whole, brackets inside them included),
# brackets, colons and commas.
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}:,]')


def _orjson_encoder() -> Callable[[Any], bytes] | None:
    try:
        encode: Callable[[Any], bytes] = importlib.import_module("orjson").dumps
    except ImportError:
        return None
    return encode


_encode = _orjson_encoder()


def require_json(headers: Mapping[str, str]) -> None:
    """400 unless the body is declared `application/json` (parameters such as a charset are fine)."""
    declared = headers.get("content-type", "")
    if declared.partition(";")[0].strip().lower() == "application/json":
        return
    shown = f"'{printable(declared)}'" if declared else "none"
    raise errors.invalid_request(
        f"content-type must be application/json, got {shown}: send the header "
        "`content-type: application/json` (curl: -H 'content-type: application/json')"
    )


async def read(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed `limit` bytes (before reading it all)."""
    declared = request.headers.get("content-length", "")
    too_large = errors.request_too_large(
        f"request body is larger than {limit} bytes (server.max_body_mb: {limit // MEGABYTE})"
    )
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    parts: list[bytes] = []
    size = 0
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise too_large
        parts.append(part)
    return b"".join(parts)


def parse_object(raw: bytes) -> dict[str, Any]:
    """The body parsed as a JSON object; 400 with the parser's position or the JSON path otherwise."""
    if not raw.strip():
        raise errors.invalid_request("request body is empty; expected a JSON object")
    try:
        body = json_codec.loads(raw)
    except UnicodeDecodeError:
        raise errors.invalid_request("request body is not valid JSON: it is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise errors.invalid_request(f"request body is not valid JSON: {exc.msg} at {where}") from None
    except RecursionError:  # deeper than orjson reads (1,024 levels), too deep for the stdlib parser
        raise errors.invalid_request(_too_deep(_deep_path_in_text(raw))) from None
    if not isinstance(body, dict):
        raise errors.invalid_request(f"request body must be a JSON object, got {errors.json_type(body)}")
    _check_strings_and_depth(body)
    return body


def require(body: dict[str, Any], path: str, kind: type, required: bool = True) -> None:
    """400 naming the JSON path when a top-level field is missing or of the wrong type."""
    if path not in body:
        if required:
            raise errors.invalid_request(f"{path}: field required")
        return
    value = body[path]
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if not ok:
        expected = {str: "a string", list: "an array", int: "an integer", bool: "a boolean"}[kind]
        raise errors.invalid_request(f"{path}: expected {expected}, got {errors.json_type(value)}")


def check_messages_request(body: dict[str, Any]) -> None:
    """The fields every /v1/messages request needs before routing (the translators check the rest)."""
    require(body, "model", str)
    if not body["model"]:
        raise errors.invalid_request("model: must not be empty")
    require(body, "messages", list)
    for i, message in enumerate(body["messages"]):
        if not isinstance(message, dict):
            raise errors.invalid_request(f"messages.{i}: expected an object, got {errors.json_type(message)}")
    require(body, "max_tokens", int, required=False)
    require(body, "stream", bool, required=False)


# --- lone surrogates and nesting ----------------------------------------------------------------------------


def _check_strings_and_depth(body: dict[str, Any]) -> None:
    if _encode is not None:
        try:
            _encode(body)
            return
        except TypeError:  # a lone surrogate, too deep, or merely an integer beyond 64 bits: walk to see
            pass
    problem = _first_problem(body)
    if problem is not None:
        raise errors.invalid_request(problem)


# Where a value sits, as a chain of (parent, key) pairs: built per value only on the rare walk, and cheap.
_Where = tuple["_Where", str] | None


def _first_problem(body: dict[str, Any]) -> str | None:
    """The first lone surrogate (in a key or a string) or nesting beyond MAX_DEPTH, in document order."""
    stack: list[tuple[Any, int, _Where]] = [(body, 1, None)]  # value, its depth if a container, where
    while stack:
        value, depth, where = stack.pop()
        if isinstance(value, str):
            if not value.isascii() and (found := _SURROGATE.search(value)):
                return _surrogate(_path(where), found.group(), "string")
        elif isinstance(value, dict):
            if depth > MAX_DEPTH:
                return _too_deep(_path(where))
            for key in value:
                if not key.isascii() and (found := _SURROGATE.search(key)):
                    return _surrogate(_path((where, key)), found.group(), "key")
            stack.extend((item, depth + 1, (where, key)) for key, item in reversed(value.items()))
        elif isinstance(value, list):
            if depth > MAX_DEPTH:
                return _too_deep(_path(where))
            stack.extend((value[i], depth + 1, (where, str(i))) for i in range(len(value) - 1, -1, -1))
    return None


def _path(where: _Where) -> tuple[str, ...]:
    keys: list[str] = []
    while where is not None:
        where, key = where
        keys.append(key)
    return tuple(reversed(keys))


def _deep_path_in_text(raw: bytes) -> tuple[str, ...]:
    """The path of the first container nested deeper than MAX_DEPTH, read from the JSON text (for bodies
    too deep to parse at all)."""
    inside: list[bytes] = []  # the open containers, outermost first
    path: list[str] = []  # per open container, the key or index of the value being read in it
    key = ""
    for match in _TOKEN.finditer(raw):
        token = match.group()
        if token in (b"{", b"["):
            if len(inside) >= MAX_DEPTH:
                break
            inside.append(token)
            path.append("0" if token == b"[" else "")
        elif token in (b"}", b"]"):
            if inside:
                inside.pop()
                path.pop()
        elif token == b",":
            if inside and inside[-1] == b"[":
                path[-1] = str(int(path[-1]) + 1)
        elif token == b":":
            if path:
                path[-1] = key
        else:
            key = token[1:-1].decode("utf-8", "replace")
    return tuple(path)


def _shown(path: tuple[str, ...]) -> str:
    return printable(".".join(path)) if path else "request body"


def _too_deep(path: tuple[str, ...]) -> str:
    return f"{_shown(path)}: JSON nested more than {MAX_DEPTH} levels deep"


def _surrogate(path: tuple[str, ...], char: str, where: str) -> str:
    return (
        f"{_shown(path)}: a lone surrogate escape ({printable(char)}) in a {where}; it is not a Unicode "
        "character (escape characters beyond U+FFFF as a surrogate pair, or send them as UTF-8)"
    )
