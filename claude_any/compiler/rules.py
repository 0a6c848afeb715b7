"""Rule expressions in the config: parse and check each `when`, placing every problem at its real file
line and column (inside the YAML scalar) with the expression's caret lines under the message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from claude_any import grammar
from claude_any.compiler.diagnostics import Diagnostics
from claude_any.compiler.yamlpos import Scalar
from claude_any.table import OTHER_CLAUDE_DEFAULT


@dataclass(frozen=True)
class DefaultRule:
    """A built-in route, tried after the config's own. `when` is `source` as the parser reads it, written out:
    a config without rules then never loads the parser (lark, 1.5 MB in every gateway process).
    tests/compiler/test_default_rules.py checks that the two agree."""

    name: str
    source: str
    category: str
    when: dict[str, Any]


def _fact(name: str, start: int) -> dict[str, Any]:
    return {"op": "fact", "name": name, "span": [start, start + len(name)]}


def _equals(fact: str, value: str, start: int = 0) -> dict[str, Any]:
    """`fact == "value"`, starting at `start` in the source."""
    literal_start = start + len(fact) + 4
    literal_end = literal_start + len(value) + 2
    return {
        "op": "==",
        "left": _fact(fact, start),
        "right": {"op": "lit", "value": value, "span": [literal_start, literal_end]},
        "span": [start, literal_end],
    }


DEFAULT_RULES = (
    # Claude Code's titles, summaries and quick classifications come as the main model (opus), not haiku.
    DefaultRule("default: background", "background", "small", _fact("background", 0)),
    DefaultRule("default: haiku", 'family == "haiku"', "small", _equals("family", "haiku")),
    DefaultRule(
        "default: sonnet/opus",
        'family == "sonnet" or family == "opus"',
        "large",
        {"op": "or", "args": [_equals("family", "sonnet"), _equals("family", "opus", 22)], "span": [0, 38]},
    ),
    # fable today, whatever comes next: a Claude model nobody wrote a rule for still gets an answer.
    DefaultRule(
        OTHER_CLAUDE_DEFAULT,
        'model matches "(?i)claude"',
        "large",
        {
            "op": "matches",
            "left": _fact("model", 0),
            "right": {"op": "lit", "value": "(?i)claude", "span": [14, 26]},
            "span": [0, 26],
        },
    ),
)


@dataclass(frozen=True)
class Rule:
    """A checked rule: its JSON AST and the facts the compiler needs about it."""

    source: str
    when: dict[str, Any]
    always_true: bool
    always_false: bool
    shape: str  # the AST without spans, to spot two rules with the same condition


def compile_rule(node: Scalar, path: str, diags: Diagnostics) -> Rule | None:
    """Parse and check the expression in `node`; None (with diagnostics) when it is not a valid rule."""
    source = node.text
    try:
        expr = grammar.parse(source)
    except grammar.ExprSyntaxError as exc:
        _report(node, path, diags, "error", exc.message, exc.start, exc.end)
        return None
    problems = grammar.check(expr)
    for problem in problems:
        level = "warning" if problem.level == "warning" else "error"
        _report(node, path, diags, level, problem.message, problem.span.start, problem.span.end)
    if any(problem.level != "warning" for problem in problems):
        return None
    when = grammar.to_json(expr)
    return Rule(
        source=source,
        when=when,
        always_true=grammar.always_true(expr),
        always_false=grammar.checker.always_false(expr),
        shape=repr(_without_spans(when)),
    )


def _without_spans(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_spans(v) for k, v in sorted(node.items()) if k != "span"}
    if isinstance(node, list):
        return [_without_spans(v) for v in node]
    return node


def _report(
    node: Scalar, path: str, diags: Diagnostics, level: str, message: str, start: int, end: int
) -> None:
    pos = node.position_at(max(0, min(start, len(node.text))))
    caret = grammar.render_caret(node.text, start, end).split("\n")
    extra = ["    " + line for line in caret]
    if level == "warning":
        diags.warning(pos, f"{path}: {message}", extra)
    else:
        diags.error(pos, f"{path}: {message}", extra)
