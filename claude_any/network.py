"""Address facts shared by the compiler (config checks) and the runtime (start-up checks)."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

# How a wrong address is answered, by the compiler (`server.host`) and the CLI (`run --host`) alike.
HOST_EXPECTED = "expected an IP address or a host name, like 127.0.0.1 or localhost"

_HOST_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1): reachable from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_host_name(host: str) -> bool:
    """True for an IP address (IPv6 with or without brackets) or a DNS host name made of valid labels."""
    try:
        ipaddress.ip_address(host[1:-1] if host.startswith("[") and host.endswith("]") else host)
        return True
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    return 0 < len(host) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in labels)


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
