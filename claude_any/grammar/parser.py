"""Rule-expression text -> AST (`parse`), with friendly syntax errors that point at a column.

The grammar is `routing.lark` (LALR, built once). Lark's own exceptions never escape: `_explain` turns
each into one plain sentence ("expected a value after '>'", "unclosed string", ...) plus the offending span.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError
from lark.tree import Meta

from claude_any.grammar.ast import BoolOp, Compare, Expr, Fact, Header, ListLit, Lit, Not, Span

_GRAMMAR = Path(__file__).with_name("routing.lark")

_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", "r": "\r", "0": "\0"}
_SUFFIXES = {"k": 1_000, "m": 1_000_000}

# How a token type reads in a message.
_KEYWORDS = {"OR": "or", "AND": "and", "NOT": "not", "IN": "in", "CONTAINS": "contains", "MATCHES": "matches"}
_OPERATORS = {"COMPARE", "IN", "CONTAINS", "MATCHES", "AND", "OR", "NOT"}
_VALUES = {"NAME", "STRING", "NUMBER", "TRUE", "FALSE", "RPAR", "RSQB", "HEADER"}


class ExprSyntaxError(Exception):
    """A rule expression does not parse. `column` is 1-based within the text; `length` >= 1."""

    def __init__(self, message: str, column: int, length: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.column = column
        self.length = max(1, length)

    @property
    def start(self) -> int:
        """0-based offset of the first offending character."""
        return self.column - 1

    @property
    def end(self) -> int:
        return self.start + self.length


@cache
def _parser() -> Lark:
    return Lark(
        _GRAMMAR.read_text(encoding="utf-8"),
        parser="lalr",
        # The basic lexer keeps keywords reserved everywhere: the contextual one would read a misplaced `or`
        # as a fact named "or" and report a confusing error one token later.
        lexer="basic",
        propagate_positions=True,
        maybe_placeholders=False,
    )


def parse(text: str) -> Expr:
    """Parse one rule expression. Raises ExprSyntaxError with a friendly message and column."""
    if not text.strip():
        raise ExprSyntaxError("empty expression: write a condition such as tokens > 100k", 1, len(text))
    try:
        tree = _parser().parse(text)
        expr: Expr = _ToAst().transform(tree)
    except UnexpectedInput as exc:
        raise _explain(text, exc) from None
    except VisitError as exc:
        if isinstance(exc.orig_exc, ExprSyntaxError):
            raise exc.orig_exc from None
        raise
    return expr


def _span(meta: Meta) -> Span:
    return Span(meta.start_pos, meta.end_pos)


def _tok_span(tok: Token) -> Span:
    start = tok.start_pos or 0
    return Span(start, tok.end_pos if tok.end_pos is not None else start + len(tok))


def decode_string(tok: Token) -> str:
    """The value of a quoted string token; unknown escapes such as `\\d` are kept as written."""
    body = str(tok)[1:-1]
    if "\\" not in body:
        return body
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1]  # the token regex guarantees a character after every backslash
        if nxt == "u" and _is_hex(body[i + 2 : i + 6]):
            out.append(chr(int(body[i + 2 : i + 6], 16)))
            i += 6
            continue
        out.append(_ESCAPES.get(nxt, "\\" + nxt))
        i += 2
    return "".join(out)


def _is_hex(s: str) -> bool:
    return len(s) == 4 and all(c in "0123456789abcdefABCDEF" for c in s)


def read_number(text: str) -> int | float:
    """A number written as rules write it (`200k`, `1.5m`, `100000`), for the command line too.

    The text must be exactly one NUMBER token of the grammar, so the CLI and the rules cannot disagree.
    Raises ValueError with a message in the user's terms otherwise.
    """
    try:
        tokens = list(_parser().lex(text.strip()))
    except UnexpectedInput:
        tokens = []
    if len(tokens) != 1 or tokens[0].type != "NUMBER":
        raise ValueError(f"{text!r} is not a number; write digits with an optional k or m, like 200k or 1.5m")
    return decode_number(tokens[0])


def decode_number(tok: Token) -> int | float:
    """`100k` -> 100000, `1.5m` -> 1500000, `0.5` -> 0.5; integral values come back as int."""
    text = str(tok)
    scale = _SUFFIXES.get(text[-1].lower(), 1)
    digits = text[:-1] if scale != 1 else text
    try:
        value = Decimal(digits) * scale
    except InvalidOperation:  # pragma: no cover - the token regex only admits valid decimals
        raise ExprSyntaxError(f"bad number '{text}'", (tok.start_pos or 0) + 1, len(text)) from None
    return int(value) if value == value.to_integral_value() else float(value)


@v_args(meta=True)
class _ToAst(Transformer[Token, Expr]):
    """Parse tree -> AST nodes, each with its character span."""

    def or_(self, meta: Meta, children: list[Expr]) -> Expr:
        return BoolOp("or", children[0], children[1], _span(meta))

    def and_(self, meta: Meta, children: list[Expr]) -> Expr:
        return BoolOp("and", children[0], children[1], _span(meta))

    def not_(self, meta: Meta, children: list[Expr]) -> Expr:
        return Not(children[0], _span(meta))

    def compare(self, meta: Meta, children: list[Expr | Token]) -> Expr:
        left, op, right = children
        assert isinstance(op, Token) and not isinstance(left, Token) and not isinstance(right, Token)
        return Compare(str(op), left, right, _span(meta))

    def fact(self, meta: Meta, children: list[Token]) -> Expr:
        return Fact(str(children[0]), _span(meta))

    def header(self, meta: Meta, children: list[Token]) -> Expr:
        return Header(decode_string(children[0]), _span(meta))

    def list_(self, meta: Meta, children: list[Lit]) -> Expr:
        return ListLit(tuple(children), _span(meta))

    def string(self, meta: Meta, children: list[Token]) -> Expr:
        return Lit(decode_string(children[0]), _tok_span(children[0]))

    def number(self, meta: Meta, children: list[Token]) -> Expr:
        return Lit(decode_number(children[0]), _tok_span(children[0]))

    def true(self, meta: Meta, children: list[Token]) -> Expr:
        return Lit(True, _span(meta))

    def false(self, meta: Meta, children: list[Token]) -> Expr:
        return Lit(False, _span(meta))


# ---------------------------------------------------------------------------------------------------------
# Error messages


def _explain(text: str, exc: UnexpectedInput) -> ExprSyntaxError:
    if isinstance(exc, UnexpectedCharacters):
        return _bad_character(text, exc.pos_in_stream or 0)
    assert isinstance(exc, UnexpectedToken)
    tokens = _tokens_before(text, exc)
    tok = exc.token
    prev = tokens[-1] if tokens else None
    at_end = tok.type == "$END"
    pos = len(text) if at_end else (tok.start_pos or 0)
    length = 1 if at_end else len(str(tok))

    unclosed = _unclosed_bracket(tokens)
    if tok.type == "RPAR" and (unclosed is None or str(unclosed) != "("):
        return ExprSyntaxError("unbalanced parenthesis: this ')' has no matching '('", pos + 1)
    if tok.type == "RSQB" and (unclosed is None or str(unclosed) != "["):
        return ExprSyntaxError("unbalanced bracket: this ']' has no matching '['", pos + 1)
    if prev is not None and prev.type == "NUMBER" and tok.type == "NAME" and prev.end_pos == tok.start_pos:
        bad = str(prev) + str(tok)
        return ExprSyntaxError(
            f"bad number '{bad}': write digits with an optional k or m suffix, like 100k or 1.5m",
            (prev.start_pos or 0) + 1,
            len(bad),
        )
    if prev is not None and prev.type == "HEADER":
        return ExprSyntaxError(
            'header needs a quoted name in parentheses, like header("x-team")',
            (prev.start_pos or 0) + 1,
            len(prev),
        )
    if prev is not None and prev.type == "LPAR" and len(tokens) >= 2 and tokens[-2].type == "HEADER":
        return ExprSyntaxError('header() takes a quoted name, like header("x-team")', pos + 1, length)
    if _inside_list(tokens) and tok.type not in {"COMMA", "RSQB", "$END"} and prev is not None:
        if prev.type in {"LSQB", "COMMA"}:
            return ExprSyntaxError(
                "a list holds only quoted strings, numbers, true or false", pos + 1, length
            )
        return ExprSyntaxError("expected ',' or ']' in the list", pos + 1, length)
    if at_end and unclosed is not None and (prev is None or prev.type in _VALUES):
        closer = ")" if str(unclosed) == "(" else "]"
        what = "parenthesis" if closer == ")" else "bracket"
        return ExprSyntaxError(
            f"unbalanced {what}: this '{unclosed}' is never closed (missing '{closer}')",
            (unclosed.start_pos or 0) + 1,
        )
    if prev is None:
        return ExprSyntaxError(f"expected a value before '{tok}'", pos + 1, length)
    if prev.type in _OPERATORS or prev.type in {"LPAR", "LSQB", "COMMA"}:
        shown = _KEYWORDS.get(prev.type, str(prev))
        if at_end:
            return ExprSyntaxError(f"expected a value after '{shown}'", pos + 1)
        return ExprSyntaxError(f"expected a value after '{shown}', found '{tok}'", pos + 1, length)
    if tok.type in {"COMPARE", "IN", "CONTAINS", "MATCHES"}:
        return ExprSyntaxError(
            f"comparisons cannot be chained: join them with 'and' (found a second '{tok}')", pos + 1, length
        )
    if at_end:
        return ExprSyntaxError("the expression ends too early", pos + 1)
    return ExprSyntaxError(
        f"expected an operator (==, <, in, and, or, …) between '{prev}' and '{tok}'", pos + 1, length
    )


def _bad_character(text: str, pos: int) -> ExprSyntaxError:
    ch = text[pos]
    nxt = text[pos + 1 : pos + 2]
    if ch in "\"'":
        return ExprSyntaxError(f"unclosed string: add the closing {ch}", pos + 1, len(text) - pos)
    if ch == "=":
        return ExprSyntaxError("use '==' to compare, not '='", pos + 1)
    if ch in "&|":
        written = ch * 2 if nxt == ch else ch  # quote what the user wrote: `&&` as `&&`
        word = "and" if ch == "&" else "or"
        return ExprSyntaxError(f"use '{word}' instead of '{written}'", pos + 1, len(written))
    if ch == "!":
        return ExprSyntaxError("use 'not' instead of '!' (or '!=' for 'not equal')", pos + 1)
    return ExprSyntaxError(f"unknown character '{ch}'", pos + 1)


def _tokens_before(text: str, exc: UnexpectedToken) -> list[Token]:
    """Tokens of `text` that come before the failing one (the lexer got at least that far)."""
    end = len(text) if exc.token.type == "$END" else (exc.token.start_pos or 0)
    out: list[Token] = []
    try:
        for tok in _parser().lex(text[:end]):
            out.append(tok)
    except UnexpectedInput:  # pragma: no cover - the parser already lexed this prefix
        pass
    return out


def _unclosed_bracket(tokens: list[Token]) -> Token | None:
    stack: list[Token] = []
    for tok in tokens:
        if tok.type in {"LPAR", "LSQB"}:
            stack.append(tok)
        elif tok.type in {"RPAR", "RSQB"} and stack:
            stack.pop()
    return stack[-1] if stack else None


def _inside_list(tokens: list[Token]) -> bool:
    tok = _unclosed_bracket(tokens)
    return tok is not None and tok.type == "LSQB"
