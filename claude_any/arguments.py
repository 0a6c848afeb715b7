"""The command line's values: each flag's text read and checked, a wrong one answered in one line.

The readers are argparse `type=` functions; `CommandLine` turns what they (and argparse) reject into
`claude-any run: error: --port: 99999 is not a port; …` and exit status 2, without a usage block.
"""

from __future__ import annotations

import argparse
import os
import re
from typing import NoReturn

from claude_any import grammar
from claude_any.network import HOST_EXPECTED, is_host_name
from claude_any.runtime.route.facts import FACTS
from claude_any.suggest import closest

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")  # run --log-format (runtime/serve/log_format.py)
# A worker is a process of its own (about 50 MB); one serves hundreds of requests a second. A bound keeps a
# typo (`--workers 1000`) from starting a thousand processes.
MAX_WORKERS = 64
# argparse's own wording, said the way the rest of claude-any says things.
_ARGPARSE_WORDS = (
    (re.compile(r"^argument ([^:]+): "), r"\1: "),
    (re.compile(r"expected one argument$"), "needs a value"),
    (re.compile(r"^the following arguments are required: "), "missing "),
    (re.compile(r"invalid choice: (.*) \(choose from (.*)\)$"), r"\1 is not one of \2"),
)


class CommandLine(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line: `PROG: error: MESSAGE`, exit status 2."""

    def error(self, message: str) -> NoReturn:
        for pattern, replacement in _ARGPARSE_WORDS:
            message = pattern.sub(replacement, message)
        if message.startswith("missing "):
            message += f" (see {self.prog} --help)"
        self.exit(2, f"{self.prog}: error: {message}\n")


def port(text: str) -> int:
    """A TCP port to listen on, 1-65535, or 0 for a free one."""
    number = _whole(text)
    if number is None or not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a port; expected a number from 1 to 65535 (0: any free port)"
        )
    return number


def workers(text: str) -> int:
    """A number of worker processes, 1-MAX_WORKERS, or `auto`: one per core (at most MAX_WORKERS)."""
    if text == "auto":
        return auto_workers()
    number = _whole(text)
    if number is None or not 1 <= number <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of worker processes; "
            f"expected 1 to {MAX_WORKERS}, or auto (one per core)"
        )
    return number


def auto_workers() -> int:
    """`--workers auto`: one worker per core this process may run on, 1 to MAX_WORKERS."""
    try:
        cores = len(os.sched_getaffinity(0))  # a container's CPU set, not the host's count
    except (AttributeError, OSError):  # no affinity on macOS and Windows
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_WORKERS))


def host(text: str) -> str:
    """An address to listen on: an IP address or a host name."""
    if not is_host_name(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an address; {HOST_EXPECTED}")
    return text


def log_level(text: str) -> str:
    """One of LOG_LEVELS, in any case."""
    if text.lower() not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a log level; expected {', '.join(LOG_LEVELS[:-1])} or {LOG_LEVELS[-1]}"
        )
    return text.lower()


def token_count(text: str) -> int:
    """A number of tokens, written as rules write numbers (`200k`, `1.5m`, `150000`)."""
    try:
        value = grammar.read_number(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value < 0 or value != int(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a token count; expected a whole number, 0 or more")
    return int(value)


def effort(text: str) -> str:
    """A request's effort, one of the values the `effort` rule fact declares."""
    efforts = [value for value in FACTS["effort"].values if value]
    if text not in efforts:
        hint = closest(text, efforts)
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an effort; expected {', '.join(efforts[:-1])} or {efforts[-1]}"
            + (f" (did you mean {hint}?)" if hint else "")
        )
    return text


def not_empty(text: str) -> str:
    """Any text but the empty string (a model name, a tool name, a path)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def _whole(text: str) -> int | None:
    return int(text) if re.fullmatch(r"\s*[+-]?\d{1,9}\s*", text) else None
