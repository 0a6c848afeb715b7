"""Everything a target needs to be called, built once at start-up: secrets resolved, templates rendered.

A `Destination` pairs the translation view of a target (`Upstream`) with its prepared request (rendered once:
streaming and non-streaming calls send the same URL and headers) and the translators of its wire protocol
(`Dialect`: Chat Completions or Responses; an Anthropic pass-through needs none). Declared targets are built
eagerly so a missing `${VAR}` or a broken template stops the server before it listens; ad-hoc
`provider/model` targets are built on first use and cached (a bounded number of them), and one whose model
cannot be put in its URL is a 400 for that request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

from claude_any import secrets
from claude_any.provider_kinds import UnknownKind, kind_named
from claude_any.provider_templates import PreparedTarget, TemplateError, compile_target
from claude_any.runtime import errors
from claude_any.runtime.call import credentials
from claude_any.runtime.call.credentials import Credential, CredentialError, CredentialSetupError
from claude_any.runtime.errors import AnthropicError
from claude_any.runtime.memo import LRU
from claude_any.runtime.scrub import Scrubber
from claude_any.runtime.translate.chat.request import to_openai
from claude_any.runtime.translate.chat.response import from_openai
from claude_any.runtime.translate.chat.stream import StreamTranslator as ChatStreamTranslator
from claude_any.runtime.translate.context import Context, Upstream
from claude_any.runtime.translate.responses.request import to_responses
from claude_any.runtime.translate.responses.response import from_responses
from claude_any.runtime.translate.responses.stream import ResponsesStreamTranslator
from claude_any.table import Position, Provider, RoutingTable, Target


class SSETranslator(Protocol):
    """What the relay drives: Anthropic SSE out of an upstream stream (as `translate/chat/stream.py`)."""

    @property
    def done(self) -> bool: ...
    @property
    def upstream_done(self) -> bool: ...
    @property
    def finishing(self) -> bool: ...
    @property
    def failure(self) -> AnthropicError | None: ...
    @property
    def usage(self) -> dict[str, Any]: ...
    @property
    def usage_metered(self) -> bool: ...
    def start(self) -> bytes: ...
    def ping(self) -> bytes: ...
    def feed(self, chunk: bytes) -> bytes: ...
    def finish(self) -> bytes: ...
    def error(self, err: AnthropicError) -> bytes: ...


class RequestTranslator(Protocol):
    """`to_openai` / `to_responses`: the client's body for one upstream, and the per-request Context."""

    def __call__(
        self,
        body: Any,
        up: Upstream,
        *,
        estimated_input_tokens: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[dict[str, Any], Context]: ...


@dataclass(frozen=True)
class Dialect:
    """The three translators of one upstream API: request out, whole response back, stream back."""

    request: RequestTranslator
    response: Callable[[dict[str, Any], Context], dict[str, Any]]
    stream: Callable[[Context], SSETranslator]


CHAT = Dialect(to_openai, from_openai, ChatStreamTranslator)
RESPONSES = Dialect(to_responses, from_responses, ResponsesStreamTranslator)


# Provider settings that hold a URL (compiler/providers.py normalises them): none may carry credentials.
_URL_SETTINGS = ("base_url", "endpoint", "host")


class StartupError(Exception):
    """The server cannot start; the message is phrased for the user (the CLI prints it, exit status 2).

    `problems` are positioned lines (`file:line:col: error: …`) the message sums up; `str()` gives both.
    """

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.problems = tuple(problems)

    def __str__(self) -> str:
        return "\n".join((self.message, *self.problems))


def check_environment(table: RoutingTable, env: Mapping[str, str]) -> None:
    """Every `${VAR}` the table uses is set and not empty; else one StartupError listing them all, each
    with where it is used (never a value)."""
    uses: dict[tuple[str, str], Position | None] = {}
    if table.server.auth_token is not None:
        for name in secrets.references(table.server.auth_token):
            uses.setdefault((name, "server.auth_token"), table.server.auth_token_pos)
    for token in table.server.tokens:
        for name in secrets.references(token.value):
            uses.setdefault((name, f"server.tokens.{token.name}"), token.pos)
    for provider in table.providers.values():
        for part, value in (
            ("", provider.settings),
            (".headers", provider.headers),
            (".body", provider.body),
        ):
            for field, name in _references(f"providers.{provider.name}{part}", value):
                uses.setdefault((name, field), provider.pos)
    for target in table.targets.values():
        for part in ("headers", "body"):
            for field, name in _references(f"model_categories.{target.id}.{part}", target.params.get(part)):
                uses.setdefault((name, field), target.pos)
    unset = [(pos, name, field) for (name, field), pos in uses.items() if not env.get(name)]
    if not unset:
        return
    unset.sort(key=lambda use: (use[0] is None, (use[0].file, use[0].line, use[0].col) if use[0] else ()))
    names = list(dict.fromkeys(name for _, name, _ in unset))
    count = f"{len(names)} environment variable{'s' if len(names) > 1 else ''}"
    raise StartupError(
        f"{count} not set or empty: {', '.join(names)}; nothing started",
        [_unset_line(pos, name, field, env) for pos, name, field in unset],
    )


def _unset_line(pos: Position | None, name: str, field: str, env: Mapping[str, str]) -> str:
    state = "is set but empty" if name in env else "is not set"
    where = f"{pos}: error" if pos is not None else "error"
    return f"{where}: environment variable {name} {state} (used by {field})"


def _references(prefix: str, value: Any) -> Iterator[tuple[str, str]]:
    """(dotted path, variable name) for every `${VAR}` in the strings inside `value`."""
    if isinstance(value, str):
        for name in secrets.references(value):
            yield prefix, name
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _references(f"{prefix}.{key}", item)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _references(f"{prefix}[{i}]", item)


@dataclass(frozen=True)
class Destination:
    """One target, ready to be called."""

    target: Target
    provider: Provider  # as in routes.json: `${VAR}` references unresolved
    upstream: Upstream
    prepared: PreparedTarget
    scrub: Scrubber  # hides this target's resolved secrets in text a provider sends back
    credential: Credential | None = None  # its provider's identity token (`auth: entra`, `auth: oauth`)

    @property
    def plain(self) -> PreparedTarget:
        """The prepared request (the name the relay and stream code read it by)."""
        return self.prepared

    def request(self, stream: bool) -> PreparedTarget:
        """The prepared request, the same for a streaming and a non-streaming call."""
        return self.prepared

    @property
    def dialect(self) -> Dialect:
        """The translators for this target's wire protocol (Chat Completions or Responses)."""
        return RESPONSES if self.prepared.protocol == "responses" else CHAT

    @cached_property
    def label(self) -> str:
        """`provider/model`, for logs and headers (never carries a secret). One string for every request:
        the status page's ring of the last requests keeps it in each record."""
        return f"{self.provider.name}/{self.target.model}"


def _where_used(prefix: str, value: Any, name: str) -> str | None:
    """The dotted path of the first string in `value` that references `${name}`."""
    if isinstance(value, str):
        return prefix if name in secrets.references(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _where_used(f"{prefix}.{key}", item, name)
            if found:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = _where_used(f"{prefix}[{i}]", item, name)
            if found:
                return found
    return None


def _missing(name: str, field: str, pos: Position | None) -> StartupError:
    at = f" at {pos}" if pos else ""
    return StartupError(f"environment variable {name} is not set (used by {field}{at})")


def _check_provider(provider: Provider, env: Mapping[str, str]) -> None:
    """Every `${VAR}` of a provider is set, and no URL of it carries credentials; else a StartupError
    naming the field (never its value)."""
    prefix = f"providers.{provider.name}"
    for part, value in (("", provider.settings), (".headers", provider.headers), (".body", provider.body)):
        try:
            secrets.resolve(value, env)
        except secrets.MissingVariable as exc:
            field = _where_used(prefix + part, value, exc.name) or prefix
            raise _missing(exc.name, field, provider.pos) from None
    for name in _URL_SETTINGS:
        url = provider.settings.get(name)
        if isinstance(url, str) and secrets.url_has_credentials(secrets.resolve(url, env)):
            at = f" at {provider.pos}" if provider.pos else ""
            raise StartupError(
                f"{prefix}.{name}{at}: the URL carries a user name or password (user:password@host), which "
                "would be neither sent nor kept out of messages; send credentials as a header instead, e.g. "
                'headers: {Authorization: "Basic ${CREDENTIALS}"}'
            )


def _upstream(provider: Provider, target: Target) -> Upstream:
    return Upstream(
        model=target.model, capabilities=target.capabilities, params=target.params, kind=provider.kind
    )


def build(
    provider: Provider, target: Target, env: Mapping[str, str], credential: Credential | None = None
) -> Destination:
    """A Destination for one target; raises StartupError for an unset variable or a template failure."""
    _check_provider(provider, env)
    try:
        prepared = compile_target(provider, target, env=env)
    except secrets.MissingVariable as exc:
        field = _where_used(f"targets.{target.id}.params", target.params, exc.name) or f"targets.{target.id}"
        raise _missing(exc.name, field, target.pos) from None
    except TemplateError as exc:
        raise StartupError(str(exc)) from exc
    scrub = Scrubber.for_documents([provider.to_json(), target.to_json()], env)
    if credential is not None:
        credential.hidden_by(scrub)
    return Destination(target, provider, _upstream(provider, target), prepared, scrub, credential)


class Destinations:
    """All targets of a table by id; `ad_hoc` builds a Target for an undeclared `provider/model` id.

    Declared targets are built at start-up and kept. Ad-hoc ones are named by clients, so at most
    `AD_HOC_ENTRIES` of them are kept (their ids `AD_HOC_CHARS` characters in all), least recently used
    out first; one that was dropped is built again when named again (a template render, well under 1 ms).
    """

    AD_HOC_ENTRIES = 256
    AD_HOC_CHARS = 64 * 1024

    def __init__(
        self, table: RoutingTable, env: Mapping[str, str], ad_hoc: Callable[[str], Target] | None = None
    ) -> None:
        self._table = table
        self._env = dict(env)
        self._ad_hoc = ad_hoc
        for provider in table.providers.values():
            try:
                kind_named(provider.kind)
            except UnknownKind as exc:
                raise StartupError(
                    f"providers.{provider.name}: {exc}; recompile with this claude-any"
                ) from None
            _check_provider(provider, env)
        self.credentials = _credentials(table, env)
        self._built: dict[str, Destination] = {
            tid: build(self._provider(target), target, env, self.credentials.get(target.provider))
            for tid, target in table.targets.items()
        }
        self.ad_hoc: LRU[str, Destination] = LRU(self.AD_HOC_ENTRIES, self.AD_HOC_CHARS, len)

    def _provider(self, target: Target) -> Provider:
        provider = self._table.providers.get(target.provider)
        if provider is None:
            raise StartupError(f"targets.{target.id}: provider {target.provider!r} is not declared")
        return provider

    def get(self, target_id: str) -> Destination:
        """The Destination of a target id (building an ad-hoc `provider/model` target once)."""
        found = self._built.get(target_id) or self.ad_hoc.get(target_id)
        if found is not None:
            return found
        if self._ad_hoc is None:
            raise KeyError(target_id)
        target = self._ad_hoc(target_id)
        try:
            credential = self.credentials.get(target.provider)
            destination = build(self._provider(target), target, self._env, credential)
        except StartupError as exc:  # the client's model name: e.g. `..`, which no URL path can hold
            why = exc.__cause__.message if isinstance(exc.__cause__, TemplateError) else str(exc)
            raise errors.invalid_request(f"model {target.model!r} cannot be called: {why}") from None
        self.ad_hoc.put(target_id, destination)
        return destination

    def __iter__(self) -> Iterator[Destination]:
        """The declared targets' destinations."""
        return iter(self._built.values())

    def in_process_providers(self) -> list[str]:
        """The providers whose kind answers inside the gateway (their client is `echo.client()`)."""
        return [p.name for p in self._table.providers.values() if kind_named(p.kind).in_process]

    async def check_credentials(self) -> None:
        """Fetch every provider's identity token once; a StartupError saying what to run when one cannot
        be had. The libraries' clients are closed afterwards (the tokens stay held)."""
        try:
            await credentials.check(self.credentials.values())
        except CredentialError as exc:
            raise StartupError(exc.message) from None

    def scrub_tokens(self, text: str) -> str:
        """`text` without any identity token the gateway sent lately (the `${VAR}` secrets are the
        app's Scrubber's)."""
        for credential in self.credentials.values():
            text = credential.scrub(text)
        return text

    async def aclose(self) -> None:
        """Close the identity libraries' clients (at application shutdown)."""
        for credential in self.credentials.values():
            await credential.aclose()


def _credentials(table: RoutingTable, env: Mapping[str, str]) -> dict[str, Credential]:
    """Each provider's identity credential, by provider name (providers that send a key have none)."""
    made: dict[str, Credential] = {}
    for provider in table.providers.values():
        try:
            credential = credentials.for_provider(provider, env)
        except CredentialSetupError as exc:
            raise StartupError(str(exc)) from None
        if credential is not None:
            made[provider.name] = credential
    return made
