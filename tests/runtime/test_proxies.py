"""`proxies`: the proxy variables read like curl reads them, and how the provider clients (`upstream.Clients`)
route with them: exempt hosts direct, the others through their scheme's proxy (handed to aiohttp per
request, on the provider's one pool)."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable, Iterator

import httpx
import pytest

from claude_any.runtime.call.proxies import ProxySettings, from_environment
from claude_any.runtime.call.upstream import Clients

VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.delenv("REQUEST_METHOD", raising=False)  # under CGI, urllib ignores HTTP_PROXY


@pytest.fixture
def clients() -> Iterator[Callable[[], Clients]]:
    """Makes Clients after the test has set the environment (they read it when made)."""
    made: list[Clients] = []

    def make() -> Clients:
        made.append(Clients())
        return made[-1]

    yield make
    for each in made:
        asyncio.run(each.aclose())


def route(clients: Clients, url: str) -> str:
    """Where the provider client sends a request for `url`: "direct" or "proxy"."""
    return "direct" if clients.get("p").proxy_for(url) is None else "proxy"


# --- reading the environment -------------------------------------------------------------------------------


def test_no_variables_no_proxies() -> None:
    assert from_environment() == ProxySettings({})


@pytest.mark.parametrize("case", [str.upper, str.lower], ids=["upper", "lower"])
def test_each_schemes_proxy_and_a_scheme_less_one_gets_http(
    case: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(case("HTTP_PROXY"), "proxy.local:3128")
    monkeypatch.setenv(case("HTTPS_PROXY"), "https://secure.local:3129")
    monkeypatch.setenv(case("ALL_PROXY"), "socks5://socks.local:1080")
    assert from_environment().proxies == {
        "http": "http://proxy.local:3128",
        "https": "https://secure.local:3129",
        "all": "socks5://socks.local:1080",
    }


@pytest.mark.parametrize("no_proxy", ["*", "internal.example, *", " * "])
def test_no_proxy_star_turns_every_proxy_off(no_proxy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.local:3128")
    monkeypatch.setenv("ALL_PROXY", "http://proxy.local:3128")
    monkeypatch.setenv("NO_PROXY", no_proxy)
    assert from_environment() == ProxySettings({})


def test_no_proxy_entries_are_sorted_into_names_networks_and_origins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.local:3128")
    monkeypatch.setenv(
        "no_proxy", " A.example ,,.b.example,127.0.0.1,10.0.0.0/8,::1,[fd00::1],fd00::/8,http://c.example:81"
    )
    settings = from_environment()
    assert settings.names == ("a.example", ".b.example")
    assert settings.networks == tuple(
        ipaddress.ip_network(n) for n in ("127.0.0.1/32", "10.0.0.0/8", "::1/128", "fd00::1/128", "fd00::/8")
    )
    assert settings.origins == (("http", "c.example", 81),)


# --- routing in the provider clients -----------------------------------------------------------------------


def test_without_proxies_every_request_goes_direct(clients: Callable[[], Clients]) -> None:
    made = clients()
    assert [route(made, url) for url in ("http://a.example/", "https://b.example/v1")] == ["direct"] * 2


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://internal.example/v1", "direct"),
        ("http://api.internal.example/", "direct"),
        ("https://INTERNAL.example/", "direct"),
        ("https://notinternal.example/", "proxy"),  # a name only ending in the same letters
        ("https://corp.example/", "proxy"),  # .corp.example: the subdomains only
        ("https://llm.corp.example/", "direct"),
        ("http://127.0.0.1:8000/", "direct"),
        ("http://127.0.0.2:8000/", "proxy"),
        ("http://10.1.2.3:11434/", "direct"),  # in 10.0.0.0/8
        ("http://11.1.2.3:11434/", "proxy"),
        ("http://[fd00::1]/", "direct"),  # in fd00::/8
        ("http://localhost:8080/", "direct"),
        ("http://[::1]:8080/", "direct"),
        ("http://plain.example/", "direct"),  # http://plain.example exempts plain http only
        ("https://plain.example/", "proxy"),
        ("https://port.example:8443/", "direct"),  # https://port.example:8443: that port only
        ("https://port.example/", "proxy"),
        ("https://api.openai.com/v1", "proxy"),
        ("http://api.openai.com/v1", "proxy"),
    ],
)
def test_the_provider_client_routes_exempt_hosts_direct_and_the_rest_through_the_proxy(
    url: str, expected: str, monkeypatch: pytest.MonkeyPatch, clients: Callable[[], Clients]
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "proxy.local:3128")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.local:3129")
    monkeypatch.setenv(
        "NO_PROXY",
        "internal.example,.corp.example,127.0.0.1,10.0.0.0/8,fd00::/8,localhost,[::1],"
        "http://plain.example,https://port.example:8443",
    )
    assert route(clients(), url) == expected


def test_all_proxy_covers_both_schemes(
    monkeypatch: pytest.MonkeyPatch, clients: Callable[[], Clients]
) -> None:
    monkeypatch.setenv("ALL_PROXY", "http://proxy.local:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    made = clients()
    assert [route(made, url) for url in ("http://a.example/", "https://a.example/")] == ["proxy"] * 2
    assert route(made, "https://internal.example/") == "direct"


def test_an_unusable_proxy_is_a_proxy_error_that_names_no_credentials(
    monkeypatch: pytest.MonkeyPatch, clients: Callable[[], Clients]
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "ftp://user:s3cret@proxy.local:21")
    client = clients().get("p")
    with pytest.raises(httpx.ProxyError) as caught:
        client.proxy_for("https://api.openai.com/")
    assert "s3cret" not in str(caught.value)
    assert "ftp" in str(caught.value)
