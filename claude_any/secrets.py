"""`${VAR}` references: find them, resolve them at run time, and redact values before they are shown.

The compiler never resolves a reference (routes.json keeps `${VAR}` verbatim); `run` resolves them once at
start-up. Anything shown to a user or written to a log goes through `redact` first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

# Anything that starts like a reference: `${`, a run without `}`, blanks or `$`, then `}` if present.
_OPENING = re.compile(r"\$\{([^}\s$]*)(\}?)")
# `$NAME` without braces, as a shell writes it: the config does not read it, so the text itself would be sent.
# Only names in capitals, as environment variables are, so `$5` or `$ecret` stay plain text.
_BARE = re.compile(r"(?<![$\w])\$([A-Z_][A-Z0-9_]*)(?![\w{])")

REDACTED = "***"


class MissingVariable(KeyError):
    """A `${NAME}` reference names an environment variable that is not set."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"environment variable {self.name} is not set (referenced as ${{{self.name}}})"


@dataclass(frozen=True)
class MalformedReference:
    """A `${` that does not form a valid reference; `start`/`end` are offsets into the string."""

    start: int
    end: int
    message: str


def references(value: str) -> list[str]:
    """The variable names referenced in `value`, in order of appearance (repeats kept)."""
    return REF.findall(value)


def is_reference_only(value: str) -> bool:
    """True when `value` is exactly one `${VAR}` reference and nothing else."""
    return REF.fullmatch(value) is not None


def resolve(value: Any, env: Mapping[str, str]) -> Any:
    """Replace every `${VAR}` in strings inside `value` (dicts and lists are walked recursively).

    Raises `MissingVariable` for the first reference whose variable is not in `env`. Non-string
    leaves are returned unchanged; the input is never modified.
    """
    if isinstance(value, str):
        return REF.sub(lambda m: _lookup(m.group(1), env), value)
    if isinstance(value, dict):
        return {key: resolve(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, env) for item in value]
    return value


def _lookup(name: str, env: Mapping[str, str]) -> str:
    try:
        return env[name]
    except KeyError:
        raise MissingVariable(name) from None


def redact(value: str) -> str:
    """Show `${VAR}` references as written and replace every literal run between them by `***`.

    A literal part may be a secret pasted into the config, so none of it is ever shown, not even a
    prefix such as `Bearer `; an empty string stays empty.
    """
    parts: list[str] = []
    last = 0
    for match in REF.finditer(value):
        if match.start() > last:
            parts.append(REDACTED)
        parts.append(match.group(0))
        last = match.end()
    if last < len(value):
        parts.append(REDACTED)
    return "".join(parts)


def url_has_credentials(url: str) -> bool:
    """True when `url` carries a `user[:password]@` before its host (written, or from a `${VAR}` resolved).

    Read off the text, not a URL parser: it must answer the same for `https://me:${PASS}@host` as for the
    resolved URL, and for text no parser accepts.
    """
    rest = url.split("://", 1)[1] if "://" in url else url
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    return "@" in authority


@dataclass(frozen=True)
class BareReference:
    """`$NAME` without braces; `start`/`end` are offsets into the string."""

    start: int
    end: int
    name: str

    @property
    def message(self) -> str:
        """Why it is wrong and what to write instead; the name is not repeated when it could be a pasted
        secret (long, or much of it digits) rather than a variable's name."""
        if len(self.name) <= 40 and sum(c.isdigit() for c in self.name) * 4 <= len(self.name):
            return (
                f"${self.name} is not read from the environment, so these very characters would be sent; "
                f"write ${{{self.name}}} to use the variable"
            )
        return "$NAME is not read from the environment, so the text itself would be sent; write ${NAME}"


def bare_references(value: str) -> list[BareReference]:
    """Every `$NAME` (capitals, no braces) in `value`: a shell-style variable the config does not read."""
    return [BareReference(m.start(), m.end(), m.group(1)) for m in _BARE.finditer(value)]


def malformed_references(value: str) -> list[MalformedReference]:
    """Every `${` in `value` that is not a well-formed `${NAME}` reference, with why."""
    found: list[MalformedReference] = []
    for match in _OPENING.finditer(value):
        name, closing = match.group(1), match.group(2)
        if closing and REF.fullmatch(match.group(0)):
            continue
        # The messages never repeat the text: a malformed reference may be a pasted secret.
        if not closing:
            message = "unclosed ${ reference; write ${NAME}"
        elif not name:
            message = "empty ${} reference; write ${NAME}"
        else:
            message = "malformed ${…} reference; names are letters, digits and _, not starting with a digit"
        found.append(MalformedReference(match.start(), match.end(), message))
    return found
