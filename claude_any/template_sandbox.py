"""The Jinja sandbox request templates render in: no files, no loops, and no value past a bound.

Request templates (a provider kind's `templates/*.j2`, a config's own `kind: template` file, the `headers:`
and `body:` strings of a config) say what goes into a provider request, and render once, at compile time and
at start-up, never per request. On top of Jinja's sandbox (no private attributes, no unsafe calls) a request
template may not include, import or extend another template, loop or define macros; and every operation that
grows a value (`*`, `**`, `+`, `%`, `replace`, `join`, padding, `range`) refuses to pass `MAX_SIZE`. So a
slip like `range(10**9)` or `'x' * 10**9` is an error with a line number, never a hang or a crash.
"""

from __future__ import annotations

import functools
import json
import math
import re
import types
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.filters import FILTERS
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

MAX_SIZE = 64 * 1024  # characters of a string, items of a list, a template may make
MAX_RANGE = 1_000
_MAX_POWER_BITS = 4_096

# What a request template may contain besides expressions. Loops and macros could run without bound;
# include, import and extends would read other templates (there are none to read).
_ALLOWED_STATEMENTS = (nodes.Output, nodes.Assign, nodes.AssignBlock, nodes.If, nodes.With, nodes.Scope)
_KEYWORDS = {
    nodes.For: "for",
    nodes.Macro: "macro",
    nodes.CallBlock: "call",
    nodes.Include: "include",
    nodes.Import: "import",
    nodes.FromImport: "from",
    nodes.Extends: "extends",
    nodes.Block: "block",
    nodes.FilterBlock: "filter",
}

# Methods a template may call, by the type they belong to: reading and reshaping, nothing that mutates.
_METHODS: dict[type, frozenset[str]] = {
    str: frozenset(
        {
            *("lower", "upper", "title", "capitalize", "strip", "lstrip", "rstrip", "startswith", "endswith"),
            *("split", "rsplit", "replace", "removeprefix", "removesuffix", "partition", "rpartition"),
            *("find", "rfind", "count", "join", "isdigit", "isalnum", "isalpha"),
        }
    ),
    dict: frozenset({"get", "items", "keys", "values"}),
    list: frozenset({"index", "count"}),
    tuple: frozenset({"index", "count"}),
}


class TemplateProblem(Exception):
    """A request template that cannot be used: why, and where in it when known (the 1-based `line`, and a
    piece of text `near` the spot, to find the column)."""

    def __init__(self, message: str, line: int | None = None, near: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.near = near


class _Refused(SecurityError):
    """An operation the sandbox refuses; `near` is the operator or name to point at."""

    def __init__(self, message: str, near: str | None = None) -> None:
        super().__init__(message)
        self.near = near


def _too_big(what: str, near: str | None = None) -> _Refused:
    return _Refused(f"{what} would be longer than {MAX_SIZE:,}; request templates are kept small", near)


def _sized(value: Any) -> Any:
    if isinstance(value, str | list | tuple | dict) and len(value) > MAX_SIZE:
        raise _too_big("a value")
    return value


def bounded_range(*args: int) -> range:
    """`range`, refusing more than MAX_RANGE items."""
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise _Refused(f"range of {len(numbers):,} items; request templates allow {MAX_RANGE:,}", "range")
    return numbers


def _joined(parts: Iterable[Any]) -> str:
    """Template output and `~`, joined only when the result stays within MAX_SIZE."""
    texts = [str(part) for part in parts]
    if sum(len(text) for text in texts) > MAX_SIZE:
        raise _too_big("the text")
    return "".join(texts)


def _join_size(separator: str, items: list[str]) -> int:
    return sum(len(item) for item in items) + len(separator) * max(0, len(items) - 1)


def _join(value: Iterable[Any], d: str = "") -> str:
    items = [str(item) for item in value]
    if _join_size(str(d), items) > MAX_SIZE:
        raise _too_big("the joined text", "join")
    return str(d).join(items)


def _replace_size(text: str, old: str, new: str, count: int = -1) -> int:
    hits = text.count(old) if old else len(text) + 1
    if count is not None and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * (len(new) - len(old))


def _replace(value: Any, old: Any, new: Any, count: int | None = None) -> str:
    text, limit = str(value), -1 if count is None else count
    if _replace_size(text, str(old), str(new), limit) > MAX_SIZE:
        raise _too_big("the replaced text", "replace")
    return text.replace(str(old), str(new), limit)


def _tojson(value: Any, indent: int | None = None) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, indent=min(indent or 0, 8) or None)
    if len(text) > MAX_SIZE:
        raise _too_big("the JSON text", "tojson")
    return text


def path_segment(value: Any) -> str:
    """`value` as exactly one URL path segment: every reserved character percent-encoded (`/`, `?`, `#`,
    `%` included), so a model name can neither leave its place in the path nor add a query. `.` and `..`
    are refused: servers resolve them as steps up the path, encoded or not."""
    text = str(value)
    if text in ("", ".", ".."):
        raise _Refused(f"{text!r} cannot be a URL path segment", "segment")
    return quote(text, safe="")


# The filters a request template may use: Jinja's, without those that pad or repeat (`center`, `indent`,
# `format`, `batch`, `wordwrap`), produce markup or randomness; `join`, `replace`, `tojson` bounded.
_FILTERS: dict[str, Any] = {
    name: FILTERS[name]
    for name in (
        *("abs", "attr", "capitalize", "count", "d", "default", "dictsort", "first", "float", "int", "items"),
        *("last", "length", "list", "lower", "map", "max", "min", "reject", "rejectattr", "reverse", "round"),
        *("select", "selectattr", "sort", "string", "sum", "title", "trim", "truncate", "unique", "upper"),
        *("urlencode", "wordcount"),
    )
}
_FILTERS |= {"join": _join, "replace": _replace, "tojson": _tojson, "segment": path_segment}


class _BoundedCodeGenerator(CodeGenerator):
    """Jinja's code generator, with `~` joining through `_joined` (Jinja has no hook for it)."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.concat((")
        for part in node.nodes:
            self.visit(part, frame)
            self.write(", ")
        self.write("))")


class _BoundedSandbox(SandboxedEnvironment):
    """Jinja's sandbox with the operators and calls that grow values bounded (the module docstring)."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _BoundedCodeGenerator
    concat = staticmethod(_joined)  # the output of a template and of `{% set x %}...{% endset %}`

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "%" and isinstance(left, str):
            raise _Refused("`%` string formatting is not allowed; join strings with `~`", "%")
        if operator == "**" and _power_too_big(left, right):
            raise _Refused(f"{left!r} ** {right!r} is too large a number", "**")
        if operator == "*" and _repeats(left, right) > MAX_SIZE:
            raise _too_big("the repeated value", "*")
        if operator == "+" and _lengths(left, right) > MAX_SIZE:
            raise _too_big("the sum", "+")
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value: Any) -> None:
        """`str.format` is not offered at all (it pads without bound); Jinja would hand out a wrapper."""
        return None

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if not super().is_safe_attribute(obj, attr, value):
            return False
        if isinstance(value, types.BuiltinMethodType | types.MethodType):
            return any(isinstance(obj, kind) and attr in names for kind, names in _METHODS.items())
        return True

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        owner, name = getattr(__obj, "__self__", None), getattr(__obj, "__name__", "")
        if isinstance(owner, str) and name == "replace" and len(args) >= 2:
            if _replace_size(owner, str(args[0]), str(args[1]), *args[2:3]) > MAX_SIZE:
                raise _too_big("the replaced text", "replace")
        elif isinstance(owner, str) and name == "join" and args:
            items = [str(item) for item in args[0]]
            if _join_size(owner, items) > MAX_SIZE:
                raise _too_big("the joined text", "join")
            args = (items, *args[1:])
        return _sized(super().call(__context, __obj, *args, **kwargs))


def _power_too_big(base: Any, exponent: Any) -> bool:
    if not isinstance(base, int | float) or not isinstance(exponent, int | float):
        return False
    if abs(base) <= 1 or exponent <= 0:
        return False
    return exponent * math.log2(abs(base)) > _MAX_POWER_BITS


def _repeats(left: Any, right: Any) -> int:
    for seq, times in ((left, right), (right, left)):
        if isinstance(seq, str | list | tuple) and isinstance(times, int) and not isinstance(times, bool):
            return len(seq) * times
    return 0


def _lengths(left: Any, right: Any) -> int:
    if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
        return len(left) + len(right)
    return 0


def _environment() -> _BoundedSandbox:
    env = _BoundedSandbox(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.filters = dict(_FILTERS)
    env.globals = {"range": bounded_range, "dict": dict}
    return env


ENV = _environment()


@functools.lru_cache(maxsize=512)
def compile_template(source: str) -> jinja2.Template:
    """`source` checked and compiled (once per distinct text); raises TemplateProblem."""
    try:
        tree = ENV.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateProblem(exc.message or "syntax error", exc.lineno, _quoted_name(str(exc))) from None
    except RecursionError:
        raise TemplateProblem("nested too deeply") from None
    for statement in tree.find_all(nodes.Stmt):
        if not isinstance(statement, _ALLOWED_STATEMENTS):
            keyword = _KEYWORDS.get(type(statement), type(statement).__name__.lower())
            raise TemplateProblem(
                f"`{{% {keyword} %}}` is not allowed in a request template "
                "(no loops, macros, include, import or extends)",
                statement.lineno,
                keyword,
            )
    try:
        return ENV.from_string(tree)
    except jinja2.TemplateSyntaxError as exc:  # e.g. an unknown filter
        raise TemplateProblem(exc.message or "syntax error", exc.lineno, _quoted_name(str(exc))) from None


def render_text(template: jinja2.Template, variables: dict[str, Any]) -> str:
    """The template's output; raises TemplateProblem."""
    text = str(_rendered(lambda: template.render(variables)))
    if len(text) > MAX_SIZE:
        raise TemplateProblem(f"renders to more than {MAX_SIZE:,} characters")
    return text


def render_module(template: jinja2.Template, variables: dict[str, Any]) -> dict[str, Any]:
    """The values a template sets at its top level (`{% set url = ... %}`); raises TemplateProblem."""
    module = _rendered(lambda: template.make_module(variables))
    exported = {name: value for name, value in vars(module).items() if not name.startswith("_")}
    return {name: concrete(value) for name, value in exported.items()}


def concrete(value: Any) -> Any:
    """`value` with no undefined left inside (a strict undefined in a dict literal only fails when used)."""
    if isinstance(value, jinja2.Undefined):
        try:
            str(value)
        except jinja2.UndefinedError as exc:
            raise TemplateProblem(exc.message or "undefined value", None, _quoted_name(str(exc))) from None
    if isinstance(value, dict):
        return {key: concrete(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [concrete(item) for item in value]
    return value


def _rendered(run: Any) -> Any:
    try:
        return run()
    except Exception:
        try:
            ENV.handle_exception()  # raises it again, its traceback rewritten to template lines
        except Exception as exc:
            near = exc.near if isinstance(exc, _Refused) else _quoted_name(str(exc))
            raise TemplateProblem(_describe(exc), _template_line(exc), near) from None
        raise  # unreachable: handle_exception always raises


def _describe(exc: BaseException) -> str:
    if isinstance(exc, jinja2.TemplateError | SecurityError):
        return exc.message or type(exc).__name__
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if isinstance(exc, MemoryError):
        return "needs too much memory"
    return f"{type(exc).__name__}: {exc}"


def _template_line(exc: BaseException) -> int | None:
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _quoted_name(message: str) -> str | None:
    """The first quoted name in a Jinja message (`'nope' is undefined`), to find the column by."""
    found = re.search(r"'([A-Za-z_][A-Za-z0-9_]*)'", message)
    return found.group(1) if found else None
