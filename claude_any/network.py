"""Address facts shared by the compiler (config checks) and the runtime (start-up checks)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1): reachable from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def origin_problem(text: str) -> str | None:
    """Why `text` is not a web origin as browsers send it in the Origin header (`scheme://host[:port]`,
    http or https, no path, no default port), or None. Compare origins in lower case."""
    if text.strip() in ("*", "null"):
        return f"{text.strip()!r} would let any web page use the gateway; list each origin"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        return f"not an origin: {exc}"
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname:
        return "expected an origin such as https://app.example.com"
    shown = f"{parts.scheme.lower()}://{parts.hostname}"
    extra = parts.username is not None or parts.path or parts.query or parts.fragment
    if extra or "#" in text or "?" in text:
        return f"an origin has no path, query or user part; write {shown}{f':{port}' if port else ''}"
    if port == _DEFAULT_PORTS[parts.scheme.lower()]:
        return f"browsers send this origin without its default port; write {shown}"
    return None
