"""Removing resolved secrets from text the gateway shows: error messages and log lines.

Credentials only travel in upstream request headers, but a provider may quote one back (an "invalid API key
sk-…" message) and Claude Code shows upstream messages to the user. Every secret value the table references
(`${VAR}` anywhere in providers, targets or the server's auth token) is replaced by `***`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from claude_any import secrets
from claude_any.table import RoutingTable

# Shorter values are not credentials worth hiding, and replacing them would mangle ordinary words.
_MIN_SECRET_LENGTH = 6


class Scrubber:
    """Replaces known secret values in text; longest first, so a secret containing another stays hidden."""

    def __init__(self, values: Iterable[str]) -> None:
        unique = {v for v in values if len(v) >= _MIN_SECRET_LENGTH}
        self._values = sorted(unique, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, secrets.REDACTED)
        return text

    def bytes(self, data: bytes) -> bytes:
        """`data` (UTF-8) with every known secret replaced; unchanged, and not copied, when it holds none."""
        if not any(value.encode("utf-8") in data for value in self._values):
            return data
        return self(data.decode("utf-8", "replace")).encode("utf-8")

    @staticmethod
    def for_documents(documents: Iterable[object], env: Mapping[str, str]) -> Scrubber:
        """A scrubber for every environment value the JSON `documents` reference as `${VAR}`."""
        names = set(secrets.references(json.dumps(list(documents))))
        return Scrubber(env[name] for name in names if name in env)

    @staticmethod
    def for_table(table: RoutingTable, env: Mapping[str, str]) -> Scrubber:
        """A scrubber for every environment value that `table` references."""
        return Scrubber.for_documents([table.to_json()], env)
