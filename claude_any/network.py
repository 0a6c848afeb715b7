"""Address facts shared by the compiler (config checks) and the runtime (start-up checks)."""

from __future__ import annotations

import ipaddress
import re

# How a wrong address is answered, by the compiler (`server.host`) and the CLI (`run --host`) alike.
HOST_EXPECTED = "expected an IP address or a host name, like 127.0.0.1 or localhost"

_HOST_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


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
