"""Reading the routing table again, for a server that keeps running: from the file it came from (config.yaml
recompiled, or routes.json re-read), refused with its diagnostics logged, or settled to what this server can
run (the address it is bound to kept; what needs a restart named) and summed up in a line.

Synchronous and without an event loop: a serving process runs it on a thread (serve/reload.py), the
`--workers` supervisor on its own thread (serve/workers.py).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import Any, TypeVar

from claude_any.network import is_loopback
from claude_any.runtime.call.targets import StartupError
from claude_any.table import RoutingTable, TableError

logger = logging.getLogger("claude_any")

_T = TypeVar("_T")

# A loader reads the file at a path: the table and the compiler's warnings, or StartupError(message,
# positioned problems) when it cannot be served. `run` passes one that compiles a config.yaml.
TableLoader = Callable[[str], tuple[RoutingTable, list[str]]]


def load_routes_json(path: str) -> tuple[RoutingTable, list[str]]:
    """A routes.json read again (version and references checked), as a TableLoader."""
    try:
        return RoutingTable.load(path), []
    except TableError as exc:
        raise StartupError(str(exc)) from None


class TableSource:
    """The file a table is loaded from, how to load it, and a fingerprint of what was read last, so that a
    poll can tell an edit (new content) from a `touch` (none). Template files a config names count too."""

    def __init__(self, path: str, load: TableLoader, *, watched: bool, shown: str | None = None) -> None:
        self.path = path
        # The file the user edits, as the log names it: a `--workers` worker reads the supervisor's
        # private copy (`path`), which would mean nothing to them.
        self.shown = shown or path
        self.watched = watched  # polled for changes (a config.yaml), else reloaded on SIGHUP only
        self._load = load
        self._files = [path]
        self._seen = self._fingerprint()

    def _fingerprint(self) -> str | None:
        """A hash of the content of every file the table comes from; None while the main one is missing
        (an editor between deleting and writing it)."""
        digest = hashlib.sha256()
        for index, name in enumerate(self._files):
            try:
                with open(name, "rb") as file:
                    content = file.read()
            except OSError:
                if index == 0:
                    return None
                content = b"\0missing"
            digest.update(hashlib.sha256(content).digest())
        return digest.hexdigest()

    def changed(self) -> bool:
        """True when the files' content differs from what was loaded (or refused) last."""
        now = self._fingerprint()
        return now is not None and now != self._seen

    def load(self) -> tuple[RoutingTable, list[str]]:
        """The table and the compiler's warnings; StartupError when it cannot be served."""
        self._seen = self._fingerprint()  # a refused edit is not tried again until the files change
        table, warnings = self._load(self.path)
        templates = [p.template.file for p in table.providers.values() if p.template is not None]
        self._files = [self.path, *sorted(set(templates) - {self.path})]
        self._seen = self._fingerprint()
        return table, warnings


# What a running server cannot change: bound at start (the socket, the client connections' limits).
_RESTART_KEYS: tuple[tuple[str, Callable[[RoutingTable], Any]], ...] = (
    ("server.host", lambda table: table.server.host),
    ("server.port", lambda table: table.server.port),
    ("server.max_connections", lambda table: table.server.max_connections),
    ("timeouts.client_write_s", lambda table: table.timeouts.client_write_s),
    ("usage", lambda table: table.usage),  # the ledger is the process's (usage/ledger.py)
)


def settle(started: RoutingTable, serving: RoutingTable, new: RoutingTable) -> tuple[RoutingTable, list[str]]:
    """`new` as this server can run it: what needs a restart kept as `serving` has it, and a warning naming
    each such key whose value differs from `started` (the table as its file said at start)."""
    later = [
        f"{key} changed: takes effect at the next start"
        for key, read in _RESTART_KEYS
        if read(new) != read(started)
    ]
    server = replace(
        new.server,
        host=serving.server.host,
        port=serving.server.port,
        max_connections=serving.server.max_connections,
    )
    timeouts = replace(new.timeouts, client_write_s=serving.timeouts.client_write_s)
    return replace(new, server=server, timeouts=timeouts, usage=serving.usage), later


def describe_changes(old: RoutingTable, new: RoutingTable) -> str:
    """What changed between two tables, in a few words: `2 targets changed, 1 route added`."""
    before, after = _comparable(old), _comparable(new)
    parts: list[str] = []
    for section, noun in (
        ("providers", "provider"),
        ("targets", "target"),
        ("routes", "route"),
        ("prices", "price"),
    ):
        parts.extend(_counted(noun, before[section], after[section]))
    for section in ("server", "retry", "timeouts"):
        if before[section] != after[section]:
            parts.append(f"{section} settings changed")
    return ", ".join(parts) or "only positions in the file changed"


def _counted(noun: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> Iterator[str]:
    for verb, count in (
        ("added", sum(1 for key in after if key not in before)),
        ("removed", sum(1 for key in before if key not in after)),
        ("changed", sum(1 for key in after if key in before and before[key] != after[key])),
    ):
        if count:
            yield f"{count} {noun}{'' if count == 1 else 's'} {verb}"


def _comparable(table: RoutingTable) -> dict[str, Any]:
    """The table's JSON without file positions (an edit above a target moves it, and changes nothing),
    routes by name."""
    data: dict[str, Any] = _without_positions(table.to_json())
    data["routes"] = {route["name"]: route for route in data["routes"]}
    return data


def _without_positions(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_positions(v) for k, v in value.items() if k != "pos" and not k.endswith("_pos")}
    if isinstance(value, list):
        return [_without_positions(v) for v in value]
    return value


def _check_exposure(table: RoutingTable) -> None:
    """A reload never opens the gateway to the network: serving beyond loopback needs the token still."""
    if table.server.auth_token is None and not is_loopback(table.server.host):
        raise StartupError(
            f"server.auth_token is gone, and the gateway listens on {table.server.host}: anyone who can "
            "reach it could use your provider keys; set server.auth_token again"
        )


class _Recalled:
    """Warnings logged whole when they differ from the ones logged last (an edit that moves a compiler
    warning's line counts as a change: the position shown would be stale), else recalled in one INFO line,
    `config.yaml: the 2 warnings logged before still hold`: each reload's log says what still holds without
    repeating it."""

    def __init__(self, noun: str, verb: str, tail: str = "") -> None:
        self._noun, self._verb, self._tail = noun, verb, tail
        self._logged: list[str] = []

    def log(self, shown: str, warnings: list[str]) -> None:
        if warnings != self._logged:
            for warning in warnings:
                logger.warning("%s", warning)
            self._logged = list(warnings)
        elif warnings:
            count = len(warnings)
            logger.info(
                "%s: the %d %s%s logged before still %s%s%s",
                shown,
                count,
                self._noun,
                "" if count == 1 else "s",
                self._verb,
                "s" if count == 1 else "",
                self._tail,
            )


class TableReload:
    """Loading the table again for a running server, and saying in the log what came of it: one INFO line
    per reload (what changed), or the diagnostics of a refusal; the served table is then kept. The
    compiler's warnings, and the changes that wait for a restart, are logged as `_Recalled` says."""

    def __init__(
        self, source: TableSource, started: RoutingTable, serving: RoutingTable, *, quiet: bool = False
    ) -> None:
        self.source = source
        self.quiet = quiet  # a worker process: its supervisor says what changed
        self._started = started  # as its file said at start: a restart key is compared with it
        self.serving = serving  # the table served now (the address bound applied)
        self._later: list[str] = []
        self._warnings_logged = _Recalled("warning", "hold")  # the compiler's
        self._later_logged = _Recalled("change", "wait", " for the next start")  # the ones it cannot apply

    def prepare(self, build: Callable[[RoutingTable], _T]) -> tuple[RoutingTable, _T] | None:
        """Load the file, settle the table, and `build` what serves it (which raises StartupError when it
        cannot: a missing `${VAR}`, a broken template). None, with the reason logged, when the reload is
        refused or the table is the one served."""
        try:
            loaded, warnings = self.source.load()
            self._warnings_logged.log(self.source.shown, warnings)
            table, self._later = settle(self._started, self.serving, loaded)
            _check_exposure(table)
            if table == self.serving:
                logger.info("%s: read again, the routing table is the same", self.source.shown)
                self._warn_later()
                return None
            return table, build(table)
        except StartupError as exc:
            logger.error(
                "%s: not reloaded (%s); still serving the table it had", self.source.shown, exc.message
            )
            for problem in exc.problems:
                logger.error("%s", problem)
            return None

    def commit(self, table: RoutingTable) -> None:
        """`table` is now served: the reload's line (DEBUG in a worker process, whose supervisor said it)
        and a warning for each change that waits for a restart."""
        level = logging.DEBUG if self.quiet else logging.INFO
        logger.log(level, "reloaded %s: %s", self.source.shown, describe_changes(self.serving, table))
        self._warn_later()
        self.serving = table

    def _warn_later(self) -> None:
        if not self.quiet:
            self._later_logged.log(self.source.shown, self._later)
