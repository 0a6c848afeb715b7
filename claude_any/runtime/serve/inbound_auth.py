"""Who is asking: the inbound tokens (`server.auth_token`, `server.tokens`) and the person each names.

A token arrives as `x-api-key` (the SDKs), `Authorization: Bearer` (Claude Code with ANTHROPIC_AUTH_TOKEN) or
`Authorization: Basic` with the token as the password (a browser opening `/status` asks for it). It is
looked up by its SHA-256 digest, so the time taken depends on the digest, never on how much of a real token
a guess shares, and stays the same for ten tokens or ten thousand; the match is then confirmed with a
constant-time comparison. Names are not secrets: they appear in logs, the usage ledger and error messages.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from claude_any import secrets
from claude_any.runtime import errors
from claude_any.runtime.call.targets import StartupError
from claude_any.table import RoutingTable

SHARED = ""  # the user of requests made with the shared `auth_token`, or to a server without tokens


@dataclass(frozen=True)
class _Known:
    token: bytes
    user: str  # SHARED for auth_token


class InboundTokens:
    """The tokens a server accepts; `user(headers)` says whose a request is, or raises 401."""

    def __init__(self, shared: str | None, named: Mapping[str, str]) -> None:
        self._known: dict[bytes, _Known] = {}
        for user, token in [*(((SHARED, shared),) if shared is not None else ()), *named.items()]:
            raw = token.encode("utf-8")
            self._known[hashlib.sha256(raw).digest()] = _Known(raw, user)

    @staticmethod
    def for_table(table: RoutingTable, env: Mapping[str, str]) -> InboundTokens:
        """The table's tokens, resolved. Raises StartupError for an empty one or two that are equal (a
        request could not say whose it is); `check_environment` has already named any unset variable."""
        server = table.server
        shared = (
            _resolve(server.auth_token, "server.auth_token", env) if server.auth_token is not None else None
        )
        named: dict[str, str] = {}
        owners: dict[str, str] = {} if shared is None else {shared: "server.auth_token"}
        for entry in server.tokens:
            path = f"server.tokens.{entry.name}"
            value = _resolve(entry.value, path, env)
            if value in owners:
                raise StartupError(
                    f"{path} is the same token as {owners[value]}: each person needs their own"
                )
            owners[value], named[entry.name] = path, value
        return InboundTokens(shared, named)

    @property
    def required(self) -> bool:
        """False for a server without tokens (loopback only): every request is then SHARED's."""
        return bool(self._known)

    def user(self, headers: Mapping[str, str]) -> str:
        """The name of the token the request carries (SHARED for `auth_token`); 401 when it carries none of
        them. Without tokens every request is SHARED's."""
        if not self._known:
            return SHARED
        for candidate in _presented(headers):
            raw = candidate.encode("utf-8", "surrogateescape")
            known = self._known.get(hashlib.sha256(raw).digest())
            if known is not None and hmac.compare_digest(raw, known.token):
                return known.user
        raise errors.authentication(
            "invalid or missing API key: send your token (server.auth_token or your server.tokens entry) as "
            "x-api-key or a Bearer token"
        )


def _presented(headers: Mapping[str, str]) -> list[str]:
    """The tokens a request presents: x-api-key, and a Bearer token or a Basic password."""
    found = [headers.get("x-api-key", "")]
    scheme, _, credential = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        found.append(credential.strip())
    elif scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credential.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        found.append(decoded.partition(":")[2])  # the user name typed is ignored: the token says who
    return [token for token in found if token]


def _resolve(value: str, path: str, env: Mapping[str, str]) -> str:
    try:
        resolved: str = secrets.resolve(value, env)
    except secrets.MissingVariable as exc:
        raise StartupError(f"environment variable {exc.name} is not set (used by {path})") from None
    if not resolved:
        raise StartupError(f"{path} resolves to an empty string; set the variable or remove the token")
    return resolved
