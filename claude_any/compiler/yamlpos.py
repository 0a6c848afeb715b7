"""YAML loading that keeps a file position for every key and value.

PyYAML's `compose` gives nodes with marks; this module turns them into a small tree (`Mapping`,
`Sequence`, `Scalar`) that the schema walk reads. Syntax errors, duplicate keys, unsupported tags and
merge keys become diagnostics instead of exceptions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from claude_any.compiler.diagnostics import Diagnostics
from claude_any.grammar import FACTS
from claude_any.secrets import REF
from claude_any.table import Position

# Alias expansion and nesting are bounded so a hostile or broken file cannot exhaust memory or the stack.
MAX_NODES = 100_000
MAX_DEPTH = 64

_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp")}
_COLLECTION_TAGS = {_TAG + "map", _TAG + "seq"}
_BREAK = re.compile("[\n\r\x85\u2028\u2029]")  # what PyYAML counts as a line break

# `{api_key: ${OPENAI_API_KEY}}` is the documented config style, but `{` and `}` end a plain scalar in a
# YAML flow mapping. The braces of well-formed references are swapped for private-use characters of the
# same length before parsing (so every position stays true) and swapped back in every scalar.
_MASK = {"{": "\ue000", "}": "\ue001"}
_UNMASK = str.maketrans({v: k for k, v in _MASK.items()})


@dataclass(eq=False)
class Node:
    """A YAML node and where it starts."""

    pos: Position

    @property
    def kind(self) -> str:
        """What the node is, for messages like "expected a string, got a list"."""
        raise NotImplementedError


@dataclass(eq=False)
class Scalar(Node):
    """A scalar: `value` is the YAML 1.1 value (str, int, float, bool or None), `text` is as written.

    Timestamps stay strings: `api_version: 2024-10-21` means the text, not a date.
    """

    value: Any
    text: str
    style: str | None  # None (plain), "'", '"', "|" or ">"
    _source: str = field(repr=False)
    _start: int = field(repr=False)  # character offset of the node in `_source`
    _end: int = field(repr=False)

    @property
    def kind(self) -> str:
        if isinstance(self.value, bool):
            return "a boolean"
        if isinstance(self.value, int | float):
            return "a number"
        if self.value is None:
            return "null"
        return "a string"

    def position_at(self, offset: int) -> Position:
        """The file position of character `offset` of `text` (for errors inside a rule expression).

        Exact for plain and quoted scalars on one line; for multi-line and block scalars the text is
        aligned with the raw source, skipping indentation, quotes and escapes.
        """
        raw = self._source[self._start : self._end]
        index = self._start + _align(raw, self.text, self.style, offset)
        before = self._source[self._start : index]
        breaks = list(_BREAK.finditer(before))
        if not breaks:
            return Position(self.pos.file, self.pos.line, self.pos.col + len(before))
        return Position(self.pos.file, self.pos.line + len(breaks), len(before) - breaks[-1].end() + 1)


@dataclass(eq=False)
class Mapping(Node):
    """A mapping; keys are the scalar text as written, in file order, without duplicates."""

    items: list[tuple[Scalar, Node]]

    @property
    def kind(self) -> str:
        return "a mapping"

    def get(self, key: str) -> Node | None:
        """The value under `key`, if present."""
        for k, v in self.items:
            if k.text == key:
                return v
        return None

    def key_node(self, key: str) -> Scalar | None:
        """The key scalar itself (for positions of "missing …" errors inside this mapping)."""
        for k, _ in self.items:
            if k.text == key:
                return k
        return None


@dataclass(eq=False)
class Sequence(Node):
    """A sequence of nodes."""

    items: list[Node]

    @property
    def kind(self) -> str:
        return "a list"


@dataclass(frozen=True)
class Document:
    """A loaded file: `root` is None for an empty document; `parsed` is False when the YAML was unreadable."""

    root: Node | None
    parsed: bool


def load(text: str, file: str, diags: Diagnostics) -> Document:
    """Parse `text` (one YAML document) into a positioned tree; problems go to `diags`."""
    try:
        root = yaml.compose(_mask_references(text), Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        _syntax_error(exc, text, file, diags)
        return Document(None, parsed=False)
    except yaml.YAMLError as exc:  # reader errors (control characters) carry no mark
        position = getattr(exc, "position", 0)
        diags.error(_offset_position(text, file, position), f"not valid YAML: {_reader_problem(exc)}")
        return Document(None, parsed=False)
    except RecursionError:
        diags.error(Position(file, 1, 1), f"YAML nested too deeply (more than {MAX_DEPTH} levels)")
        return Document(None, parsed=False)
    if root is None:
        return Document(None, parsed=True)
    return Document(_Converter(text, file, diags).convert(root, 0), parsed=True)


def _mask_references(text: str) -> str:
    if any(c in text for c in _MASK.values()):
        return text  # the file already uses the private characters: leave it exactly as written
    return REF.sub(lambda m: "$" + _MASK["{"] + m.group(1) + _MASK["}"], text)


def _syntax_error(exc: yaml.MarkedYAMLError, text: str, file: str, diags: Diagnostics) -> None:
    mark = exc.problem_mark or exc.context_mark
    pos = Position(file, mark.line + 1, mark.column + 1) if mark else Position(file, 1, 1)
    problem = _plain_problem(exc.problem or "syntax error")
    extra: list[str] = []
    context = _CONTEXTS.get(exc.context or "")
    if context and exc.context_mark and exc.context_mark is not mark:
        extra.append(f"  note: {context} at line {exc.context_mark.line + 1}")
    if mark is not None:
        line_text = _line_of(text, mark.index)
        if line_text.strip():
            extra += ["  " + line_text, "  " + " " * mark.column + "^"]
            extra += _quoted_start_hint(line_text, mark.column)
    diags.error(pos, f"not valid YAML: {problem}", extra)


# PyYAML's problems in the words of someone editing a config; what is not listed keeps PyYAML's wording,
# with its token names (`<scalar>`, `<block end>`) translated.
_PROBLEMS = {
    "expected <block end>, but found '<scalar>'": "unexpected text after the value",
    "expected <block end>, but found '<block mapping start>'": "this key is indented unlike the keys above",
    "expected <block end>, but found '-'": "a list item where a key was expected (check the indentation)",
    "expected '<document start>', but found '<block mapping start>'": "a key after a value that ended the "
    "file's top level (check this line's indentation)",
    "expected ',' or '}', but got '<stream end>'": "a '{' is never closed (missing '}')",
    "expected ',' or ']', but got '<stream end>'": "a '[' is never closed (missing ']')",
    "mapping values are not allowed here": "a ': ' inside a value; quote the value",
    "found unexpected end of stream": "a quote is never closed",
    "found character '\\t' that cannot start any token": "a tab character; indent with spaces",
}
_TOKENS = {
    "'<scalar>'": "more text",
    "<block end>": "the end of the block",
    "'<block mapping start>'": "a new key",
    "'<block sequence start>'": "a list",
    "'<stream end>'": "the end of the file",
    "'<document start>'": "'---'",
}
_CONTEXTS = {
    "while parsing a block mapping": "in the block that starts",
    "while parsing a flow mapping": "in the {…} that starts",
    "while parsing a flow sequence": "in the […] that starts",
    "while parsing a block collection": "in the block that starts",
    "while scanning a quoted scalar": "in the quoted text that starts",
    "while scanning a simple key": "in the key that starts",
}
# `key: "Bash" in tools`: a value starting with a quote ends at its closing quote; the rest is an error.
_QUOTED_IN_FLOW = re.compile(
    r"(?P<key>[\w.-]+:\s+)(?P<value>([\"'])[^\"']*\3\s+[^,{}\[\]#\s][^,{}\[\]#]*?)\s*(?=[,}])"
)
_QUOTED_START = re.compile(
    r"^(?P<key>\s*(?:-\s+)?[\w.-]+:\s+)(?P<value>([\"'])[^\"']*\3\s+[^#\s][^#]*?)(?P<rest>\s+#.*)?$"
)


def _plain_problem(problem: str) -> str:
    if problem in _PROBLEMS:
        return _PROBLEMS[problem]
    alias = re.fullmatch(r"found undefined alias '(.*)'", problem)
    if alias:
        return f"*{alias.group(1)} refers to no &{alias.group(1)} anchor; quote a value that starts with '*'"
    character = re.fullmatch(r"found character (.*) that cannot start any token", problem)
    if character:
        return f"{character.group(1)} cannot start a value; quote the value"
    for token, words in _TOKENS.items():
        problem = problem.replace(token, words)
    return problem


def _quoted_start_hint(line: str, column: int) -> list[str]:
    """When the value on `line` starts with a quote and goes on after it (where the parser stopped), say
    to quote all of it, with the line as it should be."""
    match = _QUOTED_START.match(line)
    if match is not None and column >= match.start("value"):
        fixed = match.group("key") + _quote_all(match.group("value")) + (match.group("rest") or "")
    else:
        flow = next(
            (m for m in _QUOTED_IN_FLOW.finditer(line) if m.start("value") <= column <= m.end()), None
        )
        if flow is None:
            return []
        fixed = line[: flow.start("value")] + _quote_all(flow.group("value")) + line[flow.end("value") :]
    return [
        "  hint: a value that starts with a quote ends at its closing quote; quote the whole expression:",
        "  " + fixed,
    ]


def _quote_all(value: str) -> str:
    """`value` as one YAML scalar; single quotes where possible, as they keep a regex's backslashes."""
    if "'" not in value:
        quoted = f"'{value}'"
    elif '"' not in value and "\\" not in value:
        quoted = f'"{value}"'
    else:
        quoted = "'" + value.replace("'", "''") + "'"
    return quoted


def _line_of(buffer: str, pointer: int) -> str:
    """The source line holding `pointer`, with literal secret values starred out (same length)."""
    start = max(buffer.rfind("\n", 0, pointer), buffer.rfind("\r", 0, pointer)) + 1
    match = _BREAK.search(buffer, pointer)
    end = match.start() if match else len(buffer)
    return _SECRET_VALUE.sub(_star, buffer[start:end])


_SECRET_VALUE = re.compile(
    r"((?:api_key|token|auth_token|authorization|api-key|x-api-key)\s*:\s*)(\$\{\w+\}|[^\s,}\]]+)", re.I
)


def _star(match: re.Match[str]) -> str:
    value = match.group(2)
    if REF.fullmatch(value.strip("\"'")):
        return match.group(0)
    return match.group(1) + "*" * len(value)


def _reader_problem(exc: yaml.YAMLError) -> str:
    character = getattr(exc, "character", None)
    if isinstance(character, int):
        return f'special character {character:#x} is not allowed; quote it as an escape like "\\x01"'
    return "the file cannot be read as YAML"


def _offset_position(text: str, file: str, offset: int) -> Position:
    before = text[:offset]
    breaks = list(_BREAK.finditer(before))
    if not breaks:
        return Position(file, 1, offset + 1)
    return Position(file, len(breaks) + 1, offset - breaks[-1].end() + 1)


class _Converter:
    def __init__(self, source: str, file: str, diags: Diagnostics) -> None:
        self.source = source
        self.file = file
        self.diags = diags
        self.count = 0
        self.too_big = False
        self.constructor = yaml.SafeLoader("")

    def pos(self, node: yaml.Node) -> Position:
        return Position(self.file, node.start_mark.line + 1, node.start_mark.column + 1)

    def convert(self, node: yaml.Node, depth: int) -> Node | None:
        self.count += 1
        if self.count > MAX_NODES or depth > MAX_DEPTH:
            if not self.too_big:
                self.too_big = True
                self.diags.error(
                    self.pos(node),
                    f"document too large or nested too deeply (more than {MAX_NODES} nodes or "
                    f"{MAX_DEPTH} levels, counting alias expansion)",
                )
            return None
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and node.tag not in _COLLECTION_TAGS:
            self.diags.error(self.pos(node), _unsupported_tag(node))
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, depth)
        if isinstance(node, yaml.SequenceNode):
            items = [self.convert(child, depth + 1) for child in node.value]
            return Sequence(self.pos(node), [item for item in items if item is not None])
        assert isinstance(node, yaml.ScalarNode)
        return self.scalar(node)

    def mapping(self, node: yaml.MappingNode, depth: int) -> Mapping:
        items: list[tuple[Scalar, Node]] = []
        seen: dict[str, Scalar] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.diags.error(
                    self.pos(key_node), "mapping keys must be plain names, not a list or mapping"
                )
                continue
            if key_node.tag == _TAG + "merge":
                self.diags.error(
                    self.pos(key_node), "YAML merge keys (<<) are not supported; write the keys out"
                )
                continue
            key = self.scalar(key_node)
            value = self.convert(value_node, depth + 1)
            if key is None or value is None:
                continue
            first = seen.get(key.text)
            if first is not None:
                self.diags.error(
                    key.pos, f"duplicate key {key.text!r} (first defined at line {first.pos.line})"
                )
                continue
            seen[key.text] = key
            items.append((key, value))
        return Mapping(self.pos(node), items)

    def scalar(self, node: yaml.ScalarNode) -> Scalar | None:
        if node.tag not in _SCALAR_TAGS:
            self.diags.error(self.pos(node), _unsupported_tag(node))
            return None
        node.value = node.value.translate(_UNMASK)
        value: Any = node.value
        if node.tag != _TAG + "timestamp":
            try:
                value = self.constructor.construct_object(node)
            except (yaml.YAMLError, ValueError, OverflowError):
                self.diags.error(
                    self.pos(node), f"cannot read {node.value[:40]!r} as {node.tag[len(_TAG) :]}"
                )
                return None
        return Scalar(
            self.pos(node),
            value,
            node.value,
            node.style,
            self.source,
            node.start_mark.index,
            node.end_mark.index,
        )


def _unsupported_tag(node: yaml.Node) -> str:
    if isinstance(node, yaml.ScalarNode) and node.tag.startswith("!") and node.style is None:
        # `when: !thinking`: YAML reads `!thinking` as a tag, so the rule never reaches the rule parser.
        negated = node.tag[1:]
        hint = f"; to negate a rule, write: not {negated}" if negated in FACTS else ""
        return f"{node.tag!r} is read by YAML as a tag, not as text: quote the value{hint}"
    return f"unsupported YAML tag {node.tag!r}; use plain values"


def _align(raw: str, text: str, style: str | None, offset: int) -> int:
    """The index in `raw` (the scalar as written) of character `offset` of its value `text`."""
    i = 0
    if style in ("'", '"'):
        i = 1
    elif style in ("|", ">"):
        newline = _BREAK.search(raw)
        i = newline.end() if newline else len(raw)
    j = 0
    while i < len(raw) and j < len(text):
        r, t = raw[i], text[j]
        if style == '"' and r == "\\":
            if raw[i + 1 : i + 2] in ("\n", "\r"):  # escaped line break: the break is not in the value
                i += 2
                continue
            step = {"x": 4, "u": 6, "U": 10}.get(raw[i + 1 : i + 2], 2)
        elif style == "'" and raw[i : i + 2] == "''":
            step = 2
        elif r == t or (r.isspace() and t.isspace()):
            step = 1
        else:  # indentation or folded whitespace: only the raw side moves
            i += 1
            continue
        if j == offset:
            return i
        i += step
        j += 1
    return min(i, len(raw))
