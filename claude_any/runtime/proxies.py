"""Proxies from the environment (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY) as httpx mounts.

httpx reads these variables itself only when it picks its own transport; the provider clients bring theirs
(`pool.PooledTransport`), so the mounts are built here, with the rules httpx and curl apply: a scheme's
proxy URL without a scheme is an http:// proxy; NO_PROXY=* turns every proxy off; a NO_PROXY name matches
itself and its subdomains (`example.com` also `api.example.com`, `.example.com` only the subdomains).
Proxied requests go through httpx's stock transport; the rest through the given one.
"""

from __future__ import annotations

import ipaddress
import ssl
from urllib.request import getproxies

import httpx


def proxy_map() -> dict[str, str | None]:
    """URL pattern -> proxy URL, or None where NO_PROXY exempts the pattern (from the environment; on
    Windows and macOS also the system settings, as urllib reads them)."""
    found = getproxies()
    patterns: dict[str, str | None] = {}
    for scheme in ("http", "https", "all"):
        url = found.get(scheme)
        if url:
            patterns[f"{scheme}://"] = url if "://" in url else f"http://{url}"
    for host in (part.strip() for part in found.get("no", "").split(",")):
        if host == "*":
            return {}
        if host:
            patterns[_exempt_pattern(host)] = None
    return patterns


def _exempt_pattern(host: str) -> str:
    if "://" in host:
        return host
    address = host.split("/", 1)[0]  # a network in CIDR form names its address part
    version: int
    try:
        version = ipaddress.ip_address(address).version
    except ValueError:
        version = 0
    if version == 4 or host.lower() == "localhost":
        return f"all://{host}"
    if version == 6:
        return f"all://[{host}]"
    return f"all://*{host}"


def mounts(
    direct: httpx.AsyncBaseTransport, *, verify: ssl.SSLContext, limits: httpx.Limits
) -> dict[str, httpx.AsyncBaseTransport]:
    """httpx `mounts`: a stock proxy transport per proxied pattern, `direct` for the exempt ones."""
    return {
        pattern: direct
        if proxy is None
        else httpx.AsyncHTTPTransport(proxy=proxy, verify=verify, limits=limits, trust_env=True)
        for pattern, proxy in proxy_map().items()
    }
