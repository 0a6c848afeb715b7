"""The routing table: the data model of routes.json, shared by the compiler (writer) and the runtime (reader).

Plain frozen dataclasses; `to_json` gives the exact JSON document, `from_json` reads it back and checks the
version. Nothing here knows YAML or rule text (see docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

# routes.json's format. 2 added `server.tokens` (and the team sections): a claude-any that reads only 1 must
# refuse such a table, since it would serve without the tokens. Version 1 tables are still read.
VERSION = 2
READABLE_VERSIONS = (1, 2)

JSON = dict[str, Any]


class TableError(Exception):
    """routes.json is missing, unreadable, or of another version."""


@dataclass(frozen=True)
class Position:
    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"

    def to_json(self) -> JSON:
        return {"file": self.file, "line": self.line, "col": self.col}

    @staticmethod
    def from_json(data: JSON | None) -> Position | None:
        if data is None:
            return None
        return Position(str(data["file"]), int(data["line"]), int(data["col"]))


def _pos_json(pos: Position | None) -> JSON | None:
    return pos.to_json() if pos else None


@dataclass(frozen=True)
class KindTemplate:
    """A `kind: template` provider's own request template: the file it was read from, and its text."""

    file: str
    source: str

    def to_json(self) -> JSON:
        return {"file": self.file, "source": self.source}

    @staticmethod
    def from_json(data: JSON) -> KindTemplate:
        if not isinstance(data.get("file"), str) or not isinstance(data.get("source"), str):
            raise TypeError("a provider template needs a string file and source")
        return KindTemplate(data["file"], data["source"])


# Requests in flight at once per provider per worker, unless `providers.<name>.max_in_flight` says: high
# enough that a team never queues, below the open-file limit `run` raises.
MAX_IN_FLIGHT = 4096


@dataclass(frozen=True)
class Provider:
    name: str
    kind: str  # a provider_kinds.KINDS name: openai | azure | databricks | anthropic | echo | template
    api: str  # chat | responses (a `kind: template` provider: also anthropic)
    settings: dict[str, Any]  # kind-specific fields; strings may hold ${VAR} references
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)
    pos: Position | None = None
    template: KindTemplate | None = None  # `kind: template` only
    max_in_flight: int | None = None  # requests in flight at once per worker; None: MAX_IN_FLIGHT

    def to_json(self) -> JSON:
        data: JSON = {
            "name": self.name,
            "kind": self.kind,
            "api": self.api,
            "settings": self.settings,
            "headers": self.headers,
            "body": self.body,
            "pos": _pos_json(self.pos),
        }
        if self.template is not None:  # absent otherwise, so other providers' JSON is as it was
            data["template"] = self.template.to_json()
        if self.max_in_flight is not None:  # likewise
            data["max_in_flight"] = self.max_in_flight
        return data

    @staticmethod
    def from_json(data: JSON) -> Provider:
        template = data.get("template")
        return Provider(
            name=data["name"],
            kind=data["kind"],
            api=data["api"],
            settings=dict(data["settings"]),
            headers=dict(data["headers"]),
            body=dict(data["body"]),
            pos=Position.from_json(data.get("pos")),
            template=KindTemplate.from_json(template) if template is not None else None,
            max_in_flight=data.get("max_in_flight"),
        )

    @property
    def in_flight_limit(self) -> int:
        """The most requests this provider gets at once from one worker; more wait (`timeouts.queue_s`)."""
        return MAX_IN_FLIGHT if self.max_in_flight is None else self.max_in_flight


def empty_params() -> dict[str, Any]:
    return {"reasoning_effort": None, "max_tokens": None, "temperature": None, "headers": {}, "body": {}}


@dataclass(frozen=True)
class Target:
    id: str  # a category name, or "provider/model"
    provider: str
    model: str  # model or deployment name sent upstream
    base_model: str  # the model the capabilities were looked up with
    capabilities: dict[str, Any]
    params: dict[str, Any] = field(default_factory=empty_params)
    pos: Position | None = None
    # Tried after this target when a request names it directly (`model: large`); route chains fold them in.
    fallbacks: tuple[str, ...] = ()
    # The upstream API actually used: the provider's `api:`, or "responses" chosen for a Responses-only model.
    api: str = "chat"

    def to_json(self) -> JSON:
        return {
            "id": self.id,
            "api": self.api,
            "fallbacks": list(self.fallbacks),
            "provider": self.provider,
            "model": self.model,
            "base_model": self.base_model,
            "capabilities": self.capabilities,
            "params": self.params,
            "pos": _pos_json(self.pos),
        }

    @staticmethod
    def from_json(data: JSON) -> Target:
        return Target(
            id=data["id"],
            provider=data["provider"],
            model=data["model"],
            base_model=data["base_model"],
            capabilities=dict(data["capabilities"]),
            params=dict(data["params"]),
            pos=Position.from_json(data.get("pos")),
            fallbacks=tuple(data.get("fallbacks", ())),
            api=str(data.get("api", "chat")),
        )


@dataclass(frozen=True)
class RetryPolicy:
    """How hard a request is retried before its first byte reaches the client (README "Reliability").

    `attempts` bounds the tries of each target of a chain; `budget_s` bounds the whole request: no retry
    starts, and no backoff sleeps, past it.
    """

    attempts: int = 3
    initial_backoff_ms: int = 500
    max_backoff_ms: int = 8000
    budget_s: float = 60.0

    def to_json(self) -> JSON:
        return {
            "attempts": self.attempts,
            "initial_backoff_ms": self.initial_backoff_ms,
            "max_backoff_ms": self.max_backoff_ms,
            "budget_s": self.budget_s,
        }

    @staticmethod
    def from_json(data: JSON | None) -> RetryPolicy:
        """The policy in `data`; absent keys (routes.json written before retries existed) take defaults."""
        if data is None:
            return RetryPolicy()
        default = RetryPolicy()
        return RetryPolicy(
            attempts=int(data.get("attempts", default.attempts)),
            initial_backoff_ms=int(data.get("initial_backoff_ms", default.initial_backoff_ms)),
            max_backoff_ms=int(data.get("max_backoff_ms", default.max_backoff_ms)),
            budget_s=float(data.get("budget_s", default.budget_s)),
        )


@dataclass(frozen=True)
class Timeouts:
    """Seconds. First byte and idle are long because reasoning models think for minutes; `ping_s` is only
    the keep-alive cadence towards the client, independent of both."""

    connect_s: float = 10.0
    first_byte_s: float = 600.0  # request sent -> upstream response headers
    idle_s: float = 300.0  # longest upstream silence once the response has started
    ping_s: float = 10.0
    # Longest a client may leave the gateway unable to write to it (it stopped reading) before it is cut.
    client_write_s: float = 60.0
    # Longest a request waits for a free slot under a provider's `max_in_flight` before a 529.
    queue_s: float = 30.0

    def to_json(self) -> JSON:
        return {
            "connect_s": self.connect_s,
            "first_byte_s": self.first_byte_s,
            "idle_s": self.idle_s,
            "ping_s": self.ping_s,
            "client_write_s": self.client_write_s,
            "queue_s": self.queue_s,
        }

    @staticmethod
    def from_json(data: JSON | None) -> Timeouts:
        """The timeouts in `data`; absent keys take defaults."""
        if data is None:
            return Timeouts()
        default = Timeouts()
        return Timeouts(
            connect_s=float(data.get("connect_s", default.connect_s)),
            first_byte_s=float(data.get("first_byte_s", default.first_byte_s)),
            idle_s=float(data.get("idle_s", default.idle_s)),
            ping_s=float(data.get("ping_s", default.ping_s)),
            client_write_s=float(data.get("client_write_s", default.client_write_s)),
            queue_s=float(data.get("queue_s", default.queue_s)),
        )


# The built-in default for a Claude model whose family no rule names (a new family): the compiler adds it
# last, the router logs each model it sends there.
OTHER_CLAUDE_DEFAULT = "default: other Claude models"


@dataclass(frozen=True)
class Route:
    name: str
    source: str  # the rule text as written, for explain
    when: JSON  # JSON AST (docs/ARCHITECTURE.md)
    chain: tuple[str, ...]  # target ids, fallbacks folded in
    origin: str  # "config" | "default"
    pos: Position | None = None
    retry: RetryPolicy | None = None  # this route's override (merged with the table's); None: the table's

    def to_json(self) -> JSON:
        return {
            "name": self.name,
            "source": self.source,
            "when": self.when,
            "chain": list(self.chain),
            "origin": self.origin,
            "pos": _pos_json(self.pos),
            "retry": self.retry.to_json() if self.retry else None,
        }

    @staticmethod
    def from_json(data: JSON) -> Route:
        retry = data.get("retry")
        return Route(
            name=data["name"],
            source=data["source"],
            when=data["when"],
            chain=tuple(data["chain"]),
            origin=data["origin"],
            pos=Position.from_json(data.get("pos")),
            retry=RetryPolicy.from_json(retry) if retry is not None else None,
        )


@dataclass(frozen=True)
class NamedToken:
    """One person's inbound token (`server.tokens.NAME`); `value` is as written, usually `${VAR}`."""

    name: str
    value: str
    pos: Position | None = None

    def to_json(self) -> JSON:
        return {"name": self.name, "value": self.value, "pos": _pos_json(self.pos)}

    @staticmethod
    def from_json(data: JSON) -> NamedToken:
        return NamedToken(str(data["name"]), str(data["value"]), Position.from_json(data.get("pos")))


@dataclass(frozen=True)
class Server:
    host: str = "127.0.0.1"
    port: int = 8082
    auth_token: str | None = None  # usually a ${VAR} reference
    max_body_mb: int = 32  # Anthropic's own request size limit
    # Web origins (`https://app.example.com`, lower case, no default port) whose pages may call the gateway;
    # a request with any other Origin header is refused.
    allowed_origins: tuple[str, ...] = ()
    # Open client connections; beyond it, requests get 529 overloaded_error (idle keep-alive ones count).
    max_connections: int = 4096
    auth_token_pos: Position | None = None  # where auth_token is written, for `run`'s messages
    # `server.tokens`: a token per person, by name (usually `${VAR}` references); the name is whom a
    # request is counted for (usage ledger, budgets, logs). `auth_token` beside them is shared: no one's.
    tokens: tuple[NamedToken, ...] = ()

    @property
    def requires_token(self) -> bool:
        """True when every API request must present a token (`auth_token` or one of `tokens`)."""
        return self.auth_token is not None or bool(self.tokens)

    def to_json(self) -> JSON:
        data: JSON = {
            "host": self.host,
            "port": self.port,
            "auth_token": self.auth_token,
            "max_body_mb": self.max_body_mb,
            "allowed_origins": list(self.allowed_origins),
            "max_connections": self.max_connections,
        }
        if self.auth_token_pos is not None:  # absent without a token, so those tables read as before
            data["auth_token_pos"] = self.auth_token_pos.to_json()
        if self.tokens:
            data["tokens"] = [token.to_json() for token in self.tokens]
        return data

    @staticmethod
    def from_json(data: JSON) -> Server:
        return Server(
            host=data["host"],
            port=int(data["port"]),
            auth_token=data.get("auth_token"),
            max_body_mb=int(data.get("max_body_mb", Server.max_body_mb)),
            allowed_origins=tuple(str(origin) for origin in data.get("allowed_origins", ())),
            max_connections=int(data.get("max_connections", Server.max_connections)),
            auth_token_pos=Position.from_json(data.get("auth_token_pos")),
            tokens=tuple(NamedToken.from_json(token) for token in data.get("tokens", ())),
        )


@dataclass(frozen=True)
class Price:
    """What a model costs, in US dollars per million tokens; cache reads and writes cost `input` unless
    given (the conservative reading when a provider's cache discount is unknown)."""

    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None

    def to_json(self) -> JSON:
        return {
            "input": self.input,
            "output": self.output,
            "cache_read": self.cache_read,
            "cache_write": self.cache_write,
        }

    @staticmethod
    def from_json(data: JSON) -> Price:
        read, write = data.get("cache_read"), data.get("cache_write")
        return Price(
            input=float(data["input"]),
            output=float(data["output"]),
            cache_read=float(read) if read is not None else None,
            cache_write=float(write) if write is not None else None,
        )


@dataclass(frozen=True)
class Usage:
    """`usage:`: the usage ledger (claude_any/usage/). `database` is a SQLAlchemy URL as written (`${VAR}`
    references kept); None means the SQLite file in the user's state directory."""

    enabled: bool = True
    database: str | None = None
    instance: str | None = None  # the name each row is recorded under; None: hostname:pid

    def to_json(self) -> JSON:
        return {"enabled": self.enabled, "database": self.database, "instance": self.instance}

    @staticmethod
    def from_json(data: JSON | None) -> Usage:
        if data is None:
            return Usage()
        database, instance = data.get("database"), data.get("instance")
        return Usage(
            enabled=bool(data["enabled"]),
            database=str(database) if database is not None else None,
            instance=str(instance) if instance is not None else None,
        )


@dataclass(frozen=True)
class Limit:
    """`limits.NAME`: what one `server.tokens` user may spend per UTC day; None is no limit."""

    usd_per_day: float | None = None
    tokens_per_day: int | None = None

    def to_json(self) -> JSON:
        return {"usd_per_day": self.usd_per_day, "tokens_per_day": self.tokens_per_day}

    @staticmethod
    def from_json(data: JSON) -> Limit:
        usd, tokens = data.get("usd_per_day"), data.get("tokens_per_day")
        return Limit(
            usd_per_day=float(usd) if usd is not None else None,
            tokens_per_day=int(tokens) if tokens is not None else None,
        )


@dataclass(frozen=True)
class RoutingTable:
    source: str
    server: Server
    providers: dict[str, Provider]
    targets: dict[str, Target]
    routes: tuple[Route, ...]
    retry: RetryPolicy = field(default_factory=RetryPolicy)  # server-wide; a route may override it
    timeouts: Timeouts = field(default_factory=Timeouts)
    # `prices:` as written: a target id, `provider/model` or provider name -> its price (prices.py reads it).
    prices: dict[str, Price] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    limits: dict[str, Limit] = field(default_factory=dict)  # `server.tokens` name -> its daily limit

    def to_json(self) -> JSON:
        data: JSON = {
            "version": VERSION,
            "source": self.source,
            "server": self.server.to_json(),
            "providers": {name: p.to_json() for name, p in self.providers.items()},
            "targets": {tid: t.to_json() for tid, t in self.targets.items()},
            "routes": [r.to_json() for r in self.routes],
            "retry": self.retry.to_json(),
            "timeouts": self.timeouts.to_json(),
            "prices": {key: price.to_json() for key, price in self.prices.items()},
        }
        if self.usage != Usage():  # absent when left as it is, so those tables read as before
            data["usage"] = self.usage.to_json()
        if self.limits:
            data["limits"] = {name: limit.to_json() for name, limit in self.limits.items()}
        return data

    def dumps(self) -> str:
        """The exact bytes of routes.json: sorted keys, stable across compiles."""
        return json.dumps(self.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    @staticmethod
    def from_json(data: JSON) -> RoutingTable:
        """The table in `data`; a TableError says, in a line, what is wrong and where (a JSON path)."""
        if not isinstance(data, dict) or "version" not in data:
            raise TableError(f"not a routing table (no version); {_RECOMPILE}")
        if data["version"] not in READABLE_VERSIONS:
            raise TableError(
                f"version {json.dumps(data['version'])} is not one this claude-any reads "
                f"(it reads versions {', '.join(map(str, READABLE_VERSIONS))}); {_RECOMPILE}"
            )
        table = RoutingTable(
            source=str(_entry(data, "source")),
            server=_read("server", Server.from_json, _entry(data, "server")),
            providers=_read_each("providers", data, Provider.from_json),
            targets=_read_each("targets", data, Target.from_json),
            routes=tuple(
                _read(f"routes[{i}]", Route.from_json, route) for i, route in enumerate(_list(data))
            ),
            retry=_read("retry", RetryPolicy.from_json, data.get("retry")),
            timeouts=_read("timeouts", Timeouts.from_json, data.get("timeouts")),
            prices=_read_each("prices", data, Price.from_json, required=False),
            usage=_read("usage", Usage.from_json, data.get("usage")),
            limits=_read_each("limits", data, Limit.from_json, required=False),
        )
        _check_references(table)
        return table

    @staticmethod
    def load(path: str) -> RoutingTable:
        """Read and check the routes.json at `path`; every TableError names the file."""
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except OSError as exc:
            raise TableError(f"{path}: cannot read: {exc.strerror or type(exc).__name__}") from exc
        except UnicodeDecodeError as exc:
            raise TableError(f"{path}: not a routing table (not UTF-8 text); {_RECOMPILE}") from exc
        except json.JSONDecodeError as exc:
            raise TableError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from exc
        try:
            return RoutingTable.from_json(data)
        except TableError as exc:
            raise TableError(f"{path}: {exc}") from exc


_RECOMPILE = "write it again with `claude-any compile CONFIG`"
_T = TypeVar("_T")


def _read(where: str, read: Callable[[Any], _T], value: Any) -> _T:
    """`read(value)`, with a broken part of a hand-edited or foreign file reported by its JSON path."""
    prefix = f"{where}: " if where else ""
    try:
        return read(value)
    except KeyError as exc:
        raise TableError(f"{prefix}the key {exc.args[0]!r} is missing; {_RECOMPILE}") from None
    except (TypeError, ValueError, AttributeError, IndexError):
        raise TableError(f"{prefix}a value is not what claude-any compile writes; {_RECOMPILE}") from None


def _entry(data: JSON, key: str) -> Any:
    """`data[key]`; a missing top-level key is reported by its name alone (it is the path)."""
    return _read("", operator.itemgetter(key), data)


def _read_each(section: str, data: JSON, read: Callable[[JSON], _T], required: bool = True) -> dict[str, _T]:
    entries = _entry(data, section) if required else data.get(section, {})
    if not isinstance(entries, dict):
        raise TableError(f"{section}: expected an object; {_RECOMPILE}")
    return {name: _read(f"{section}.{name}", read, entry) for name, entry in entries.items()}


def _list(data: JSON) -> list[Any]:
    routes = _entry(data, "routes")
    if not isinstance(routes, list):
        raise TableError(f"routes: expected a list; {_RECOMPILE}")
    return routes


def _check_references(table: RoutingTable) -> None:
    """Every name the table uses is declared in it: targets' providers, chains' and fallbacks' targets."""
    for tid, target in table.targets.items():
        if target.provider not in table.providers:
            raise TableError(f"targets.{tid}: provider {target.provider!r} is not in providers; {_RECOMPILE}")
    uses = [(f"targets.{tid}.fallbacks", t.fallbacks) for tid, t in table.targets.items()]
    uses += [(f"routes[{i}].chain", route.chain) for i, route in enumerate(table.routes)]
    for where, chain in uses:
        for tid in chain:
            provider, slash, model = tid.partition("/")
            if tid not in table.targets and not (slash and model and provider in table.providers):
                raise TableError(f"{where}: target {tid!r} is not in targets; {_RECOMPILE}")
