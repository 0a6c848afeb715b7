"""Proxies from the environment (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY), the way curl reads them.

httpx reads these variables itself only when it picks its own transport; the provider clients bring theirs
(`pool.PooledTransport`), so `ProxyRouter` does the choosing: each request goes to the proxy of its URL's
scheme (ALL_PROXY for any scheme without one), through httpx's stock proxy transport, unless NO_PROXY
exempts its host; everything else goes to the direct pool.

NO_PROXY entries, comma-separated: `*` (no proxy at all); a name, which covers itself and its subdomains
(`example.com`: also `api.example.com`); a name with a leading dot, only the subdomains; an IP address or a
network (`10.0.0.0/8`, `fd00::/8`, `[::1]`); `scheme://host[:port]` for one origin.
"""

from __future__ import annotations

import ipaddress
import ssl
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


class ProxyRouter(httpx.AsyncBaseTransport):
    """Sends each request through its proxy (httpx's stock transport, one per proxy URL, made on first
    use) or to `direct`."""

    def __init__(
        self,
        direct: httpx.AsyncBaseTransport,
        settings: ProxySettings,
        *,
        verify: ssl.SSLContext,
        limits: httpx.Limits,
    ) -> None:
        self.direct = direct
        self.settings = settings
        self._verify = verify
        self._limits = limits
        self._proxied: dict[str, httpx.AsyncBaseTransport] = {}

    def pick(self, url: httpx.URL) -> httpx.AsyncBaseTransport:
        proxy = self.settings.proxy_for(url)
        return self.direct if proxy is None else self._proxy_transport(proxy)

    def _proxy_transport(self, proxy: str) -> httpx.AsyncBaseTransport:
        transport = self._proxied.get(proxy)
        if transport is None:
            try:
                transport = httpx.AsyncHTTPTransport(proxy=proxy, verify=self._verify, limits=self._limits)
            except (ImportError, ValueError, httpx.InvalidURL) as exc:  # socks5 without socksio, a bad URL
                # the proxy URL may hold credentials: only its scheme is named
                scheme = proxy.split("://", 1)[0]
                raise httpx.ProxyError(
                    f"the {scheme} proxy from the environment is unusable: {exc}"
                ) from None
            self._proxied[proxy] = transport
        return transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.pick(request.url).handle_async_request(request)

    async def aclose(self) -> None:
        for transport in (self.direct, *self._proxied.values()):
            await transport.aclose()
