"""Provider credentials an identity library fetches at run time, sent as headers with each request.

`auth: entra` (Azure OpenAI) takes a Microsoft Entra ID token from azure-identity's default chain;
`auth: oauth` (Databricks) takes the headers of the Databricks SDK's unified auth. A `Credential` keeps what
it got until well before it expires (the Azure CLI credential runs `az` on every call, so someone has to
keep it), fetches once at a time however many requests wait, and never blocks the event loop:
azure-identity's async credential runs on it, the Databricks SDK (synchronous) in a worker thread.

Nothing here logs or shows a token. A failure is a `CredentialError` saying which chain was tried, what it
said and what to run: `run` stops with it at start-up (exit status 2), a request gets it as a 401.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from claude_any import secrets
from claude_any.provider_kinds import Auth, kind_named
from claude_any.runtime import errors
from claude_any.runtime.errors import AnthropicError
from claude_any.runtime.scrub import Scrubber
from claude_any.table import Provider

# Headers are fetched again this long before they expire, or at half their lifetime when that comes first
# (azure-core's own policy refreshes 5 minutes early; the Databricks SDK treats a token as expired 40 s
# early). A token an identity hands out with less time left than that is used once and not kept.
REFRESH_BEFORE_S = 300.0
# Headers from a library that keeps its own tokens fresh and does not say when they expire are asked for
# again after this long: the Databricks SDK never hands out a token with under 40 s left (Azure Databricks
# refuses those that expire within 30 s), and asking it again is cheap while its token is fresh.
LIBRARY_KEEPS_S = 5.0
# What an identity library says about a failure is shown, up to this many characters.
MAX_DETAIL = 2000
ENTRA_SCOPE = "https://cognitiveservices.azure.com/.default"
# How many header values of past fetches are scrubbed from errors (a 401 may quote the token just replaced).
SCRUBBED_VALUES = 4


def now() -> float:
    """The wall clock, in the epoch seconds token expiries are given in (tests move it)."""
    return time.time()


class CredentialError(Exception):
    """No credential could be had: which chain was tried, what it said, and what to do about it."""

    def __init__(self, provider_name: str, auth: Auth, detail: str, login: str = "") -> None:
        self.provider_name, self.auth, self.detail, self.login = provider_name, auth, detail, login
        message = f"{provider_name}: no {auth.description} could be had"
        message += f": {detail}" if detail else ""
        message += f"\nTo fix: {login}" if login else ""
        super().__init__(message)
        self.message = message

    def as_http_error(self) -> AnthropicError:
        """The 401 a request gets: only a change on the user's side (a login, a secret) can fix it."""
        err = errors.authentication(self.message)
        err.headers["x-should-retry"] = "false"
        err.cause = "credential"
        return err


@dataclass(frozen=True)
class _Held:
    headers: dict[str, str]
    keep_until: float


def keep_until(fetched_at: float, expires_at: float | None) -> float:
    """Until when headers fetched at `fetched_at` are sent without asking again."""
    if expires_at is None:
        return fetched_at + LIBRARY_KEEPS_S
    lifetime = expires_at - fetched_at
    return fetched_at + max(0.0, min(lifetime - REFRESH_BEFORE_S, lifetime / 2))


class Credential:
    """One provider's auth headers from an identity library, kept until shortly before they expire.

    Subclasses say how to fetch (`_fetch`: the headers and when they expire, epoch seconds or None) and how
    to close the library's clients (`aclose`). A credential outlives event loops: `run` fetches once at
    start-up in a loop of its own, and the server's loop uses what was fetched.
    """

    def __init__(self, provider_name: str, auth: Auth, secret_values: Iterable[str] = ()) -> None:
        self.provider_name = provider_name
        self.auth = auth
        self._secrets = sorted({v for v in secret_values if v}, key=len, reverse=True)
        self._held: _Held | None = None
        self._sent: list[str] = []  # the header values of the last few fetches, for `scrub`
        # The scrubbers of the targets that send these headers (`hidden_by`): told of every new token.
        self._scrubbers: list[Scrubber] = []
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    @property
    def login(self) -> str:
        """What to run when no credential can be had."""
        return self.auth.login

    @property
    def description(self) -> str:
        """What this credential is, for explain and doctor (`Entra ID token via azure-identity`)."""
        return self.auth.description

    async def headers(self) -> dict[str, str]:
        """The current auth headers, fetched when none are held or they are about to expire.

        Raises CredentialError when the identity library cannot give any.
        """
        held = self._held
        if held is not None and now() < held.keep_until:
            return held.headers
        async with self._lock_here():
            held = self._held  # another request may have fetched while this one waited
            if held is not None and now() < held.keep_until:
                return held.headers
            fetched_at = now()
            try:
                headers, expires_at = await self._fetch()
            except CredentialError:
                raise
            except Exception as exc:  # whatever the library raised: the user needs its words
                raise CredentialError(self.provider_name, self.auth, self._detail(exc), self.login) from None
            self._held = _Held(headers, keep_until(fetched_at, expires_at))
            self._sent = [*self._sent, *headers.values()][-SCRUBBED_VALUES:]
            for scrubber in self._scrubbers:
                scrubber.renew(self._hidden())
            return headers

    def forget(self, sent: Mapping[str, str]) -> bool:
        """Drop the held headers if they are those `sent` (the provider refused them: revoked, or rotated
        early), so the next request fetches new ones; True when they were dropped. Headers fetched since
        `sent` went out are kept."""
        held = self._held
        if held is None or any(sent.get(name) != value for name, value in held.headers.items()):
            return False
        self._held = None
        return True

    def hidden_by(self, scrubber: Scrubber) -> None:
        """Have `scrubber` (a target's: its log lines, error events and passed-through answers) hide the
        tokens this credential sends, now and after each renewal."""
        self._scrubbers.append(scrubber)
        scrubber.renew(self._hidden())

    def _hidden(self) -> list[str]:
        return [*self._sent, *(value.partition(" ")[2] for value in self._sent)]  # `Bearer <token>`: both

    def scrub(self, text: str) -> str:
        """`text` without the tokens this credential sent lately (a provider may quote one back)."""
        for value in self._sent:
            token = value.partition(" ")[2] or value  # `Bearer <token>`: the token alone, too
            if token in text:
                text = text.replace(token, secrets.REDACTED)
        return text

    async def request_headers(self) -> dict[str, str]:
        """`headers()` for a request: a failure is the 401 the client gets (x-should-retry: false)."""
        try:
            return await self.headers()
        except CredentialError as exc:
            raise exc.as_http_error() from None

    def _lock_here(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock

    def _detail(self, exc: Exception) -> str:
        text = str(exc).strip() or type(exc).__name__
        for value in self._secrets:
            text = text.replace(value, secrets.REDACTED)
        return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1] + "…"

    async def _fetch(self) -> tuple[dict[str, str], float | None]:
        raise NotImplementedError

    async def aclose(self) -> None:
        """Close the identity library's clients (headers held stay held)."""


class EntraToken(Credential):
    """A Microsoft Entra ID token for Azure OpenAI from azure-identity's `DefaultAzureCredential`: an
    environment service principal, workload identity, managed identity (`client_id`: a user-assigned one),
    the Azure CLI's login, and the rest of its chain, in its order."""

    def __init__(self, provider_name: str, auth: Auth, client_id: str | None) -> None:
        super().__init__(provider_name, auth)
        self.client_id = client_id
        self._library: Any = None
        self._library_loop: asyncio.AbstractEventLoop | None = None

    async def _fetch(self) -> tuple[dict[str, str], float | None]:
        token = await self._library_here().get_token(ENTRA_SCOPE)
        return {"Authorization": f"Bearer {token.token}"}, float(token.expires_on)

    def _library_here(self) -> Any:
        """The async credential of this event loop (its HTTP session belongs to the loop it was made in)."""
        from azure.identity.aio import DefaultAzureCredential

        loop = asyncio.get_running_loop()
        if self._library is None or self._library_loop is not loop:
            options = {"managed_identity_client_id": self.client_id} if self.client_id else {}
            self._library, self._library_loop = DefaultAzureCredential(**options), loop
        return self._library

    async def aclose(self) -> None:
        library, self._library, self._library_loop = self._library, None, None
        if library is not None:
            await library.close()


class DatabricksToken(Credential):
    """The headers of the Databricks SDK's unified auth (`databricks.sdk.core.Config.authenticate`): OAuth
    M2M with a client id and secret (the config's, else DATABRICKS_CLIENT_ID / DATABRICKS_CLIENT_SECRET), a
    profile of ~/.databrickscfg, the Azure CLI on Azure Databricks. The SDK keeps and refreshes its tokens
    itself; it is synchronous and its first call discovers the workspace's OAuth endpoints, so every call
    runs in a worker thread."""

    def __init__(
        self,
        provider_name: str,
        auth: Auth,
        host: str,
        client_id: str | None,
        client_secret: str | None,
        profile: str | None,
    ) -> None:
        super().__init__(provider_name, auth, [client_secret or ""])
        self.host, self.client_id, self.client_secret, self.profile = host, client_id, client_secret, profile
        self._config: Any = None

    @property
    def login(self) -> str:
        return self.auth.login.format(host=self.host)

    async def _fetch(self) -> tuple[dict[str, str], float | None]:
        return await asyncio.to_thread(self._fetch_blocking), None

    def _fetch_blocking(self) -> dict[str, str]:
        if self._config is None:
            from databricks.sdk.core import Config

            options: dict[str, Any] = {"host": self.host}
            if self.client_id and self.client_secret:
                options |= {"client_id": self.client_id, "client_secret": self.client_secret}
                options["auth_type"] = "oauth-m2m"  # not a DATABRICKS_TOKEN that happens to be set
            if self.profile:
                options["profile"] = self.profile
            self._config = Config(**options)  # its errors name the ways it tried
        try:
            headers = self._config.authenticate()
        except Exception as exc:  # the SDK's own words, with the way it chose in front
            raise RuntimeError(f"{self._config.auth_type} auth: {exc}") from exc
        return {str(name): str(value) for name, value in headers.items()}


def _entra(provider: Provider, auth: Auth, settings: Mapping[str, Any]) -> Credential:
    return EntraToken(provider.name, auth, settings.get("client_id") or None)


def _databricks(provider: Provider, auth: Auth, settings: Mapping[str, Any]) -> Credential:
    return DatabricksToken(
        provider.name,
        auth,
        str(settings["host"]),
        settings.get("client_id") or None,
        settings.get("client_secret") or None,
        settings.get("profile") or None,
    )


# Auth.identity -> how its credential is made.
SOURCES: dict[str, Callable[[Provider, Auth, Mapping[str, Any]], Credential]] = {
    "azure-identity": _entra,
    "databricks-sdk": _databricks,
}


class CredentialSetupError(Exception):
    """A provider's credential cannot even be made (its library is not installed); phrased for the user."""


def for_provider(provider: Provider, env: Mapping[str, str]) -> Credential | None:
    """The credential a provider's `auth:` needs, or None when its template sends a key. Fetches nothing.

    Raises CredentialSetupError when the identity library is not installed, `secrets.MissingVariable`
    for an unset `${VAR}` of its settings.
    """
    auth = kind_named(provider.kind).auth_for(provider.settings)
    if auth is None or auth.identity is None:
        return None
    install = auth.missing_library()
    if install is not None:
        raise CredentialSetupError(
            f"providers.{provider.name}: auth: {auth.name} needs {auth.identity}, which is not installed: "
            f"{install}"
        )
    settings: Mapping[str, Any] = secrets.resolve(provider.settings, env)
    return SOURCES[auth.identity](provider, auth, settings)


async def check(credentials: Iterable[Credential]) -> None:
    """Fetch each credential once (raising the first CredentialError), then close the libraries' clients:
    what was fetched is held for the first requests, in whatever event loop serves them."""
    every = list(credentials)
    try:
        for credential in every:
            await credential.headers()
    finally:
        for credential in every:
            await credential.aclose()
