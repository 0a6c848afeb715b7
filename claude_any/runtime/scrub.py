"""Removing resolved secrets from what the gateway shows: error messages, log lines, passed-through answers.

Credentials only travel in upstream request headers, but a provider may quote one back (an "invalid API key
sk-…" message) and Claude Code shows upstream messages to the user. Every secret value the table references
(`${VAR}` anywhere in providers, targets or the server's auth token) is replaced by `***`: as written, and
as it reads inside a JSON string (a quoted key has its `"`, `\\` and non-ASCII characters escaped).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from claude_any import secrets
from claude_any.table import RoutingTable

# Shorter values are not credentials worth hiding, and replacing them would mangle ordinary words.
_MIN_SECRET_LENGTH = 6
_MASK = secrets.REDACTED.encode("ascii")


def _forms(value: str) -> set[str]:
    """`value` as written and as it appears inside a JSON string (ASCII-escaped or not)."""
    return {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}


class Scrubber:
    """Replaces known secret values in text; longest first, so a secret containing another stays hidden."""

    def __init__(self, values: Iterable[str]) -> None:
        self._fixed = {form for v in values if len(v) >= _MIN_SECRET_LENGTH for form in _forms(v)}
        self.renew(())

    def renew(self, values: Iterable[str]) -> None:
        """Hide `values` too, instead of those of the last call: identity tokens, which are renewed."""
        unique = self._fixed | {form for v in values if len(v) >= _MIN_SECRET_LENGTH for form in _forms(v)}
        values_sorted = sorted(unique, key=len, reverse=True)
        self._values, self._encoded = values_sorted, [v.encode("utf-8") for v in values_sorted]

    def __bool__(self) -> bool:
        return bool(self._values)

    def __call__(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, secrets.REDACTED)
        return text

    def value(self, value: Any) -> Any:
        """A JSON value (dicts, lists, strings) with every string scrubbed; the same object when nothing
        needed it, so a clean answer is never copied."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            items = {key: self.value(item) for key, item in value.items()}
            same = all(items[key] is item for key, item in value.items())
            return value if same else items
        if isinstance(value, list):
            scrubbed = [self.value(item) for item in value]
            return value if all(a is b for a, b in zip(scrubbed, value, strict=True)) else scrubbed
        return value

    def partial_suffix(self, data: bytes) -> int:
        """The length of the longest end of `data` that is the beginning (not the whole) of a secret: what a
        stream holds back until its next chunk tells (call/chunk_source.py)."""
        longest = 0
        for value in self._encoded:
            start = max(0, len(data) - len(value) + 1)
            first = value[:1]
            at = data.find(first, start)
            while at != -1:
                if value.startswith(data[at:]):
                    longest = max(longest, len(data) - at)
                    break
                at = data.find(first, at + 1)
        return longest

    def bytes(self, data: bytes) -> bytes:
        """`data` with every known secret's UTF-8 bytes replaced; unchanged, and not copied, when it holds
        none. Works on bytes, so a chunk that ends inside a multi-byte character is left intact."""
        for value in self._encoded:
            if value in data:
                data = data.replace(value, _MASK)
        return data

    @staticmethod
    def for_documents(documents: Iterable[object], env: Mapping[str, str]) -> Scrubber:
        """A scrubber for every environment value the JSON `documents` reference as `${VAR}`."""
        names = set(secrets.references(json.dumps(list(documents))))
        return Scrubber(env[name] for name in names if name in env)

    @staticmethod
    def for_table(table: RoutingTable, env: Mapping[str, str]) -> Scrubber:
        """A scrubber for every environment value that `table` references."""
        return Scrubber.for_documents([table.to_json()], env)
