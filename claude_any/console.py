"""Printing for the command line on any console, including one that cannot show `✗` or `→`.

A Windows console or pipe may encode output as cp1252 (or anything `PYTHONIOENCODING` says). There the
symbols `explain` and the diagnostics use fall back to ASCII (`x`, `->`), and any other character the
encoding lacks is written as an escape (`\\u4e2d`) instead of stopping the program.
"""

from __future__ import annotations

import io
import sys
from typing import TextIO

# Every non-ASCII character claude-any itself writes, and its ASCII stand-in.
ASCII_FALLBACK = {
    "✗": "x",
    "✓": "v",
    "→": "->",
    "←": "<-",
    "▶": ">",
    "…": "...",
    "—": "-",
    "–": "-",
    "─": "-",
    "×": "x",
    "≤": "<=",
    "≥": ">=",
    "·": "-",
    "“": '"',
    "”": '"',
    "‘": "'",
    "’": "'",
}
_TO_ASCII = str.maketrans(ASCII_FALLBACK)


def _takes(stream: TextIO, text: str) -> bool:
    try:
        text.encode(stream.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def prepare(stream: TextIO) -> None:
    """Make writes to `stream` never fail on a character its encoding lacks (they become escapes)."""
    if isinstance(stream, io.TextIOWrapper) and not _takes(stream, "".join(ASCII_FALLBACK)):
        stream.reconfigure(errors="backslashreplace")


def fit(text: str, stream: TextIO) -> str:
    """`text` as `stream` can show it: unchanged, or with claude-any's symbols in ASCII."""
    if text.isascii() or _takes(stream, text):
        return text
    return text.translate(_TO_ASCII)


def out(text: str) -> None:
    """Print a line on standard output."""
    print(fit(text, sys.stdout), flush=True)


def err(text: str) -> None:
    """Print a line on standard error."""
    print(fit(text, sys.stderr), file=sys.stderr, flush=True)
