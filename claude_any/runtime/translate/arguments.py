"""Tool-call arguments from an upstream, turned into the JSON object Anthropic's `tool_use.input` must be,
or refused: a call is passed on only when its arguments are what the model wrote, whole.

Upstreams send arguments as a JSON string (the standard), as an object (some OSS servers), double-encoded,
with trailing garbage after a whole object, or behind a `{}` placeholder (Databricks streams `{}` then the
real fragments): all of these are read as the object they hold. Arguments that stop early are the danger:
`{"command": "rm -rf /tmp/x` (the rest of the path never arrived) closed into a valid object is a complete,
different, runnable command. So the only repair is closing the brackets of arguments that are otherwise
whole (`{"a": 1` or `{"a": "x"`, a server that dropped the last brace); a cut string, a half-written key or
value, or a container that was just opened is never completed and never cut back to an earlier boundary.

`settle_call` applies that to a call the provider has finished: the input to send, None when the output
limit cut the call (withheld, the text around it is kept), or an error when the provider said the call was
finished but it is not.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from claude_any.runtime import errors

log = logging.getLogger(__name__)

_decoder = json.JSONDecoder()


@dataclass(frozen=True, slots=True)
class Arguments:
    """Tool-call arguments as read: the object, or why there is none."""

    value: dict[str, Any] | None
    text: str | None = None  # the upstream's own JSON text, when it was exactly `value`
    closed: bool = False  # the JSON ended early and only closing brackets were added
    problem: str = ""  # why `value` is None, for the log and the error message

    @property
    def whole(self) -> bool:
        """The model's arguments, nothing added."""
        return self.value is not None and not self.closed

    def json(self) -> str:
        """`value` as JSON text: the upstream's own text when it was exactly the object."""
        if self.text is not None:
            return self.text
        return json.dumps(self.value, ensure_ascii=False, separators=(",", ":"))


def read_arguments(raw: Any) -> Arguments:
    """Read `raw` (a JSON text or an object); never raises, never invents a value."""
    if isinstance(raw, dict):
        return Arguments(raw)
    if raw is None:
        return Arguments({})
    if not isinstance(raw, str):
        return Arguments(None, problem=f"they are {errors.json_type(raw)}, not a JSON object")
    text = raw.strip()
    if not text:
        return Arguments({})  # a call without arguments
    if text.startswith("{}") and text[2:].strip():
        text = text[2:].strip()  # Databricks' placeholder before the real fragments
    try:
        value = json.loads(text)
    except ValueError:
        return _read_broken(text)
    if isinstance(value, dict):
        return Arguments(value, text)
    if isinstance(value, str) and value.strip().startswith("{"):
        inner = read_arguments(value)  # double-encoded ("{\"a\":1}"), seen from some gateways
        return Arguments(inner.value, None, inner.closed, inner.problem)
    return Arguments(None, problem="they are not a JSON object")


def _read_broken(text: str) -> Arguments:
    """Invalid JSON: a whole object followed by garbage, else one whose closing brackets are missing."""
    if not text.startswith("{"):
        return Arguments(None, problem="they are not a JSON object")
    try:
        value, _ = _decoder.raw_decode(text)
    except ValueError:
        return _close_brackets(text)
    return Arguments(value) if isinstance(value, dict) else Arguments(None, problem="they are not JSON")


def _close_brackets(text: str) -> Arguments:
    """Add the closing brackets an otherwise whole text lacks; anything else was cut and stays refused."""
    closers: list[str] = []
    in_string = False
    escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "{" or ch == "[":
            closers.append("}" if ch == "{" else "]")
        elif (ch == "}" or ch == "]") and closers:
            closers.pop()
    if in_string:
        return Arguments(None, problem="they end inside a string")
    body = text.rstrip()
    if body.endswith(("{", "[", ",", ":")):
        return Arguments(None, problem="they end before a value")
    try:
        value = json.loads(body + "".join(reversed(closers)))
    except ValueError:
        return Arguments(None, problem="they end inside a value" if closers else "they are not JSON")
    if not isinstance(value, dict):
        return Arguments(None, problem="they are not a JSON object")
    return Arguments(value, closed=True)


def settle_call(name: str, raw: Any, *, provider: str, truncated: bool) -> Arguments | None:
    """The arguments to send for a call the provider has finished, or None when it is withheld.

    `truncated`: the provider said its output was cut (`length`, a content filter) or the gateway cut it at
    a stop sequence; a call that is not whole then was cut with it, so it is withheld with a warning and
    the answer ends as the provider said (`max_tokens`). Otherwise the provider said the call is finished:
    arguments that are not a (bracket-closed) object, or a call without a name, are an error, never a
    made-up call. Raises AnthropicError (502 api_error).
    """
    arguments = read_arguments(raw)
    # No arguments at all is a call without any, unless the output was cut: they may never have come.
    empty = raw is None or (isinstance(raw, str) and not raw.strip())
    if truncated and (empty or not arguments.whole):
        why = arguments.problem or ("its JSON is unclosed" if arguments.closed else "no arguments yet")
        log.warning("tool call %r was cut off with the output (%s); not passed on", name or "(no name)", why)
        return None
    if not name:
        raise errors.not_an_answer(provider, "the answer has a tool call without a name")
    if arguments.value is None:
        raise errors.not_an_answer(
            provider,
            f"tool call {name!r} was finished with arguments that are not whole ({arguments.problem}); "
            "it was not passed on",
        )
    if arguments.closed:
        log.warning("tool call %r: the arguments' closing brackets were missing and were added", name)
    return arguments
