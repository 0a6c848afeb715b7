"""Request templates in a config: a `kind: template` provider's file, and problems placed where written.

A problem in a `headers:` / `body:` string is reported at that string (at the line inside it, for a string of
several lines); one in a template file at its file:line:col.
"""

from __future__ import annotations

import os
import re

from claude_any.compiler.fields import Reader
from claude_any.compiler.yamlpos import Mapping, Node, Scalar, Sequence
from claude_any.provider_templates import TemplateError
from claude_any.table import KindTemplate, Position
from claude_any.template_sandbox import TemplateProblem, compile_template

MAX_TEMPLATE_BYTES = 64 * 1024  # a request template says a URL, a few headers and fields
_COMMENT = re.compile(r"\{#.*?#\}", re.S)


def template_strings(node: Node | None, path: str) -> dict[str, Scalar]:
    """Every string scalar under a `headers:` or `body:` node, by the dotted path provider_templates uses."""
    if isinstance(node, Mapping):
        found: dict[str, Scalar] = {}
        for key, value in node.items:
            found |= template_strings(value, f"{path}.{key.text}")
        return found
    if isinstance(node, Sequence):
        found = {}
        for i, item in enumerate(node.items):
            found |= template_strings(item, f"{path}[{i}]")
        return found
    if isinstance(node, Scalar) and isinstance(node.value, str):
        return {path: node}
    return {}


def read_kind_template(reader: Reader, node: Node, path: str) -> KindTemplate | None:
    """`template: FILE`, read relative to the config's folder and checked for syntax."""
    written = reader.string(node, path)
    if written is None or not isinstance(node, Scalar):
        return None
    file = os.path.normpath(os.path.join(os.path.dirname(node.pos.file), written))
    try:
        with open(file, "rb") as fh:
            raw = fh.read(MAX_TEMPLATE_BYTES + 1)
    except OSError as exc:
        reader.error(node.pos, path, f"cannot read {written}: {exc.strerror or type(exc).__name__}")
        return None
    if len(raw) > MAX_TEMPLATE_BYTES:
        reader.error(node.pos, path, f"{written} is larger than {MAX_TEMPLATE_BYTES // 1024} KB")
        return None
    try:
        source = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        reader.error(node.pos, path, f"{written} is not UTF-8 text (byte {exc.start})")
        return None
    try:
        compile_template(source)
    except TemplateProblem as exc:
        error = TemplateError(path, exc.message, exc.line, exc.near, file)
        reader.diags.error(
            position(error, {}, KindTemplate(file, source), node.pos), f"{path}: {exc.message}"
        )
        return None
    return KindTemplate(file, source)


def position(
    error: TemplateError, strings: dict[str, Scalar], template: KindTemplate | None, fallback: Position
) -> Position:
    """Where `error` is written: in its template file, in its config string, else at `fallback`."""
    if error.file and template is not None and template.file == error.file:
        line, col = _line_col(template.source, error.line, error.near)
        return Position(template.file, line, col)
    scalar = strings.get(error.where)
    if scalar is None or not isinstance(scalar.value, str):
        return fallback
    line, col = _line_col(scalar.value, error.line, error.near)
    lines = scalar.value.split("\n")
    offset = sum(len(text) + 1 for text in lines[: line - 1]) + col - 1
    return scalar.position_at(offset)


def _line_col(source: str, line: int | None, near: str | None) -> tuple[int, int]:
    """1-based line and column of `near` on `line` (or anywhere, without a line: as an attribute, `.near`,
    first); else the start of the line."""
    # Comments blanked out (same length, line breaks kept): a name mentioned in one is not the spot.
    lines = _COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), source).split("\n")
    candidates = [line] if line is not None and 1 <= line <= len(lines) else range(1, len(lines) + 1)
    for needle in [f".{near}", near] if near else []:
        for number in candidates:
            at = lines[number - 1].find(needle)
            if at >= 0:
                return number, at + 1 + (needle != near)
    number = line if line is not None and 1 <= line <= len(lines) else 1
    text = lines[number - 1]
    return number, len(text) - len(text.lstrip()) + 1
