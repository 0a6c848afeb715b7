"""Keeping web pages from driving the gateway: a page the user visits can send requests to 127.0.0.1.

- DNS rebinding: a page on `evil.example` re-points that name to 127.0.0.1 and reads the answers as its own,
  same-origin. Its requests still say `Host: evil.example`, so without an inbound token only the loopback
  names (`localhost`, `127.0.0.1`, `[::1]`) and the bound address are answered, on any port. With a token
  the page cannot authenticate anyway, and the gateway may be reached under any name (proxies, a LAN).
- CSRF: a browser adds `Origin` to every cross-origin request and to every POST; API clients (Claude Code,
  the SDKs, curl) send none. A request with an Origin is refused unless `server.allowed_origins` lists it,
  token or not. The body must also be JSON (request_body.py), which a form post cannot be.
Refusals are 403 permission_error, saying what to change.
"""

from __future__ import annotations

from collections.abc import Mapping

from claude_any.runtime import errors
from claude_any.runtime.errors import AnthropicError
from claude_any.runtime.serve.access_log import printable
from claude_any.table import Server

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


def host_name(header: str) -> str:
    """The name in a Host header, lower case, without port or trailing dot (`[::1]` keeps its brackets)."""
    value = header.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[: end + 1] if end > 0 else value
    name, colon, port = value.rpartition(":")
    if colon and port.isdigit():
        value = name
    return value.removesuffix(".")


class WebGuard:
    """The Host and Origin checks for one server configuration (module docstring)."""

    def __init__(self, server: Server) -> None:
        bound = server.host.lower()
        bound = f"[{bound}]" if ":" in bound else bound
        # With a token every Host is fine; without one, the loopback names and the bound address.
        self.hosts = None if server.requires_token else frozenset((*LOOPBACK_NAMES, bound))
        self.origins = frozenset(server.allowed_origins)

    def refusal(self, headers: Mapping[str, str]) -> AnthropicError | None:
        """Why a request with these headers must be refused, or None."""
        if self.hosts is not None:
            host = headers.get("host")
            if host is not None and host_name(host) not in self.hosts:
                return errors.permission(
                    f"requests for host '{printable(host)}' are refused: without server.auth_token the "
                    f"gateway answers only to {', '.join(sorted(self.hosts))} (so that no web page can "
                    "reach it by DNS rebinding); connect to one of those, or set server.auth_token to "
                    "serve other host names"
                )
        origin = headers.get("origin")
        if origin is not None and origin.strip().lower() not in self.origins:
            return errors.permission(
                f"requests from web pages are refused (Origin: {printable(origin)}): "
                "if that page should use the gateway, add its origin to server.allowed_origins"
            )
        return None
