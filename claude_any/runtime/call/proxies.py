"""Proxies from the environment (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY), the way curl reads them.

The provider clients (`provider_client.ProviderClient`) read no proxy variable themselves; they ask
`ProxySettings.proxy_for` once per URL and hand the answer to aiohttp with each request: the proxy of the
URL's scheme (ALL_PROXY for any scheme without one) unless NO_PROXY exempts its host, else none. (aiohttp's
and httpx's own readings know no NO_PROXY networks.)

NO_PROXY entries, comma-separated: `*` (no proxy at all); a name, which covers itself and its subdomains
(`example.com`: also `api.example.com`); a name with a leading dot, only the subdomains; an IP address or a
network (`10.0.0.0/8`, `fd00::/8`, `[::1]`); `scheme://host[:port]` for one origin.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit
from urllib.request import getproxies

import httpx

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class ProxySettings:
    """Proxy URL per scheme ("http", "https", "all") and what NO_PROXY exempts."""

    proxies: Mapping[str, str]
    names: tuple[str, ...] = ()  # lower case; a leading dot: subdomains only
    networks: tuple[_Network, ...] = ()
    origins: tuple[tuple[str, str, int | None], ...] = ()  # scheme, host, port (None: any)

    def proxy_for(self, url: httpx.URL) -> str | None:
        """The proxy URL for a request to `url`, or None to go direct."""
        proxy = self.proxies.get(url.scheme) or self.proxies.get("all")
        if proxy is None or self._exempt(url):
            return None
        return proxy

    def _exempt(self, url: httpx.URL) -> bool:
        host = url.host.lower()
        for name in self.names:
            if host == name or host.endswith(name if name.startswith(".") else "." + name):
                return True
        if self.networks:
            try:
                address = ipaddress.ip_address(host)
            except ValueError:
                pass
            else:
                if any(address in network for network in self.networks):
                    return True
        return any(
            url.scheme == scheme and host == name and (port is None or url.port == port)
            for scheme, name, port in self.origins
        )


def from_environment() -> ProxySettings:
    """The settings in the environment (on Windows and macOS also the system's, as urllib reads them)."""
    found = getproxies()
    proxies = {
        scheme: url if "://" in url else f"http://{url}"
        for scheme in ("http", "https", "all")
        if (url := found.get(scheme))
    }
    entries = [part.strip() for part in found.get("no", "").split(",") if part.strip()]
    if "*" in entries:
        return ProxySettings({})
    names: list[str] = []
    networks: list[_Network] = []
    origins: list[tuple[str, str, int | None]] = []
    for entry in entries:
        if "://" in entry:
            parts = urlsplit(entry)
            origins.append((parts.scheme.lower(), (parts.hostname or "").lower(), parts.port))
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
        except ValueError:
            names.append(entry.lower())
    return ProxySettings(proxies, tuple(names), tuple(networks), tuple(origins))
