"""Compiler diagnostics: positioned errors and warnings, collected (not raised) so one run reports all."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

# Re-exported: the compiler's modules import the one did-you-mean from here, beside the other diagnostics.
from claude_any.suggest import did_you_mean as did_you_mean
from claude_any.table import Position

Level = Literal["error", "warning"]


@dataclass(frozen=True)
class Diagnostic:
    """One finding about a config file; `line` and `col` are 1-based."""

    level: Level
    file: str
    line: int
    col: int
    message: str
    extra: tuple[str, ...] = ()  # caret lines and hints, printed under the message as they are

    def render(self) -> str:
        """`file:line:col: level: message`, then the extra lines."""
        head = f"{self.file}:{self.line}:{self.col}: {self.level}: {self.message}"
        return "\n".join((head, *self.extra))


class Diagnostics:
    """Collects diagnostics while the compiler walks a config."""

    def __init__(self) -> None:
        self._items: list[Diagnostic] = []

    def error(self, pos: Position, message: str, extra: Iterable[str] = ()) -> None:
        """Record an error at `pos`."""
        self._add("error", pos, message, extra)

    def warning(self, pos: Position, message: str, extra: Iterable[str] = ()) -> None:
        """Record a warning at `pos`."""
        self._add("warning", pos, message, extra)

    def _add(self, level: Level, pos: Position, message: str, extra: Iterable[str]) -> None:
        self._items.append(Diagnostic(level, pos.file, pos.line, pos.col, message, tuple(extra)))

    @property
    def has_errors(self) -> bool:
        """True when at least one error (not just warnings) was recorded."""
        return any(d.level == "error" for d in self._items)

    def sorted(self) -> list[Diagnostic]:
        """All diagnostics by position; the sort is stable, so findings at one spot keep their order."""
        return sorted(self._items, key=lambda d: (d.line, d.col))


def one_of(choices: Iterable[str]) -> str:
    """A readable list of allowed values: `'a', 'b' or 'c'`."""
    quoted = [repr(c) for c in choices]
    if len(quoted) <= 1:
        return "".join(quoted)
    return ", ".join(quoted[:-1]) + " or " + quoted[-1]
