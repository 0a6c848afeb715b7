"""The ledger's database: where it is (`usage.database`, or SQLite in the state directory), opening it with
SQLAlchemy, and its versioned schema.

The schema is a list of migrations, each taking the database from one version to the next; the version is
one row of `claude_any_schema`. `open_database` applies the missing ones in order, in one transaction that
holds the database's write lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock, and its DDL is
transactional), so two instances opening the same database at once migrate it once. A database written by a
newer claude-any (a higher version) is refused rather than written in a shape it does not expect, and so is
one at this version whose tables lack a column this version declares or have one it does not (a file left
by a development build): `SchemaMismatch`, which the CLI reports at start instead of retrying forever.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    create_engine,
    event,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from claude_any.secrets import MissingVariable, references, resolve
from claude_any.table import Usage

SQLITE_FILE = "usage.sqlite3"
POSTGRES_EXTRA = "pip install 'claude-any[postgres]'"
BUSY_TIMEOUT_S = 10  # SQLite: how long a writer waits for another process's write lock
SQLITE_CACHE_KIB = 256  # SQLite: each connection's page cache (its default: 2,000 KiB)
CONNECT_TIMEOUT_S = 5  # PostgreSQL: a database that does not answer is retried later, not waited for
MIGRATION_LOCK = 0x636C61756465  # pg_advisory_xact_lock key: "claude" in hex, this program's own


class LedgerError(Exception):
    """The ledger's database cannot be used as configured (message phrased for the user, no secret)."""


class DatabaseUnavailable(LedgerError):
    """The database did not answer or refused the connection: worth trying again later."""


class SchemaMismatch(LedgerError):
    """The database answered, but its tables are not the ones this claude-any's schema version declares:
    trying again would not help."""


# --- where -------------------------------------------------------------------------------------------------


def state_directory(env: Mapping[str, str] = os.environ) -> Path:
    """claude-any's state directory: $XDG_STATE_HOME/claude-any (else ~/.local/state/claude-any), or
    %LOCALAPPDATA%\\claude-any on Windows."""
    if os.name == "nt":
        base = env.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
    else:
        xdg = env.get("XDG_STATE_HOME", "")
        base = xdg if os.path.isabs(xdg) else str(Path.home() / ".local" / "state")
    return Path(base) / "claude-any"


@dataclass(frozen=True)
class DatabaseUrl:
    """A ledger database: the URL SQLAlchemy opens (secrets resolved) and how it is shown (without them)."""

    url: str
    shown: str
    secrets: tuple[str, ...] = ()  # resolved `${VAR}` values, removed from every message

    @property
    def is_postgres(self) -> bool:
        return self.url.startswith("postgresql")

    def scrub(self, message: str) -> str:
        """`message` without the resolved URL or any secret in it."""
        message = message.replace(self.url, self.shown)
        for secret in self.secrets:
            message = message.replace(secret, "***")
        return message


def database_url(usage: Usage, env: Mapping[str, str]) -> DatabaseUrl:
    """The database `usage` names, its `${VAR}`s resolved from `env`. Raises LedgerError for an unset
    variable or a scheme it does not read."""
    if usage.database is None:
        path = state_directory() / SQLITE_FILE  # the process's own: `env` is where secrets come from
        return DatabaseUrl(f"sqlite:///{path}", str(path))
    written = usage.database
    try:
        resolved = str(resolve(written, env))
    except MissingVariable as exc:
        raise LedgerError(f"usage.database: {exc}") from None
    secrets = tuple(value for name in references(written) if len(value := env[name]) >= 3)
    if resolved.startswith("sqlite:///"):
        return DatabaseUrl(resolved, resolved.removeprefix("sqlite:///"), secrets)
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if resolved.startswith(prefix):
            url = "postgresql+psycopg://" + resolved.removeprefix(prefix)
            try:
                shown = make_url(written.replace(prefix, "postgresql://", 1)).render_as_string(
                    hide_password=True
                )
            except ArgumentError:
                shown = "the usage.database URL"
            return DatabaseUrl(url, shown, (*secrets, resolved))
    raise LedgerError("usage.database: expected sqlite:///PATH or postgresql://…")


# --- the schema --------------------------------------------------------------------------------------------

metadata = MetaData()


# One row per request: RequestLog.fields() (access_log.py) without `time`, kept as `at` (Unix seconds, UTC)
# and `day` (YYYY-MM-DD, UTC), so that ranges and days are plain comparisons in every dialect.
def _request_columns() -> list[Column[Any]]:
    return [
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("at", Float(53), nullable=False),
        Column("day", Text, nullable=False),
        Column("instance", Text),  # version 2: which gateway process wrote it (usage.instance, else host:pid)
        Column("request_id", Text),
        Column("method", Text),
        Column("path", Text),
        Column("user", Text),
        Column("session", Text),
        Column("model", Text),
        Column("rule", Text),
        Column("target", Text),
        Column("upstream", Text),
        Column("status", Integer),
        Column("stream", Boolean),
        Column("latency_ms", Float(53)),
        Column("tokens_in", BigInteger),
        Column("tokens_out", BigInteger),
        Column("tokens_estimated", Boolean),  # version 2: the counts are the gateway's estimate
        Column("cache_read", BigInteger),
        Column("cache_write", BigInteger),
        Column("cost_usd", Float(53)),
        Column("note", Text),
    ]


requests = Table(
    "claude_any_requests",
    metadata,
    *_request_columns(),
    Index("claude_any_requests_at", "at"),  # version 2, as the next one
    Index("claude_any_requests_day_user", "day", "user"),  # version 2: today's spend per user (budgets)
)

schema = Table("claude_any_schema", metadata, Column("version", Integer, nullable=False))

_V2_COLUMNS = ("instance", "tokens_estimated")
_V2_INDEXES = ("claude_any_requests_at", "claude_any_requests_day_user")


def _to_v1(conn: Connection) -> None:
    """The first schema: the requests table as 0.1 wrote it (no instance column, no indexes)."""
    first = MetaData()
    Table(
        requests.name,
        first,
        *(column for column in _request_columns() if column.name not in _V2_COLUMNS),
    ).create(conn)


def _to_v2(conn: Connection) -> None:
    """Which instance wrote each row (several gateways on one database), whether its token counts are the
    gateway's estimate, and the indexes the report and the budgets read by."""
    for name in _V2_COLUMNS:
        column = requests.c[name]
        kind = column.type.compile(dialect=conn.dialect)
        conn.execute(text(f"ALTER TABLE {requests.name} ADD COLUMN {column.name} {kind}"))
    for index in requests.indexes:
        if index.name in _V2_INDEXES:
            index.create(conn)


# MIGRATIONS[n] takes a database from version n to n + 1; append, never edit a released one.
MIGRATIONS: tuple[Callable[[Connection], None], ...] = (_to_v1, _to_v2)
SCHEMA_VERSION = len(MIGRATIONS)


# --- opening -----------------------------------------------------------------------------------------------


def connect(database: DatabaseUrl) -> Engine:
    """An engine for `database` (nothing is opened yet). Raises LedgerError when the PostgreSQL driver is
    missing or the SQLite file's folder cannot be made."""
    if database.is_postgres:
        if importlib.util.find_spec("psycopg") is None:
            raise LedgerError(
                f"usage.database is PostgreSQL, and its driver (psycopg) is not installed: {POSTGRES_EXTRA}"
            )
        return create_engine(
            database.url,
            pool_pre_ping=True,
            pool_size=2,
            connect_args={"connect_timeout": CONNECT_TIMEOUT_S},
        )
    path = Path(database.url.removeprefix("sqlite:///"))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LedgerError(f"cannot make the folder of {path}: {exc.strerror or exc}") from None
    engine = create_engine(database.url, connect_args={"timeout": BUSY_TIMEOUT_S})
    event.listen(engine, "connect", _sqlite_connected)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connected(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own transaction handling off: `_sqlite_begin` starts each one as BEGIN IMMEDIATE.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writers of other processes
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
    cursor.execute("PRAGMA synchronous=NORMAL")  # WAL's safe setting: a power cut loses the last commits
    # SQLite's page cache (2 MB by default) stays in the gateway's memory for as long as it runs. The ledger
    # appends rows and reads one day's sums, a few pages each; the rest is in the system's file cache.
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # The write lock at the start: a migration reads the version and changes the schema under one lock.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def migrate(engine: Engine, shown: str) -> int:
    """Bring the database to SCHEMA_VERSION; returns the version it had. Raises LedgerError when a newer
    claude-any wrote it; SQLAlchemyError when it cannot be reached."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # held until this transaction ends
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        schema.create(conn, checkfirst=True)
        found = conn.execute(select(schema.c.version)).scalar()
        if found is None:
            conn.execute(schema.insert().values(version=0))
            found = 0
        if found > SCHEMA_VERSION:
            raise LedgerError(
                f"the usage database {shown} was written by a newer claude-any (schema version {found}; this "
                f"one knows up to {SCHEMA_VERSION}): upgrade claude-any, or point usage.database elsewhere"
            )
        if 0 < found < SCHEMA_VERSION:  # what the migrations start from must be what they expect
            check_tables(conn, shown, found)
        for step in MIGRATIONS[found:]:
            step(conn)
        check_tables(conn, shown)  # before the version is written: a mismatch rolls the migration back
        if found < SCHEMA_VERSION:
            conn.execute(update(schema).values(version=SCHEMA_VERSION))
        return int(found)


def _columns_at(table: Table, version: int) -> set[str]:
    """The columns `table` has at schema `version` (names). A migration that adds columns adds its line."""
    names = set(table.c.keys())
    return names - set(_V2_COLUMNS) if table is requests and version < 2 else names


def check_tables(conn: Connection, shown: str, version: int = SCHEMA_VERSION) -> None:
    """Raise SchemaMismatch unless every table of `metadata` is in the database with exactly the columns it
    has at schema `version` (names only: each dialect reflects types in its own words)."""
    inspector = inspect(conn)
    current = version == SCHEMA_VERSION
    unknown = "it does not know" if current else f"that schema version {version} does not have"
    for table in metadata.sorted_tables:
        if not inspector.has_table(table.name):
            problem = f"it has no table {table.name}"
        else:
            found = {column["name"] for column in inspector.get_columns(table.name)}
            declared = _columns_at(table, version)
            missing, unexpected = sorted(declared - found), sorted(found - declared)
            if not missing and not unexpected:
                continue
            problem = "; ".join(
                [f"table {table.name} has no column {name}" for name in missing]
                + [f"table {table.name} has a column {name} {unknown}" for name in unexpected]
            )
        aside = (
            "rename or drop its claude_any_* tables"
            if conn.dialect.name == "postgresql"
            else f"move {shown} aside (a new one is started)"
        )
        schema_named = (
            f"this claude-any's schema (version {SCHEMA_VERSION})"
            if current
            else f"the schema version {version} it is marked with"
        )
        raise SchemaMismatch(
            f"the usage database {shown} does not match {schema_named}: {problem}. It was probably written "
            f"by a development build: {aside}, or point usage.database elsewhere"
        )


def open_database(database: DatabaseUrl) -> Engine:
    """An engine on `database`, its schema brought up to date and checked. Raises DatabaseUnavailable when
    it cannot be reached or refuses the connection, SchemaMismatch when its tables are not this version's,
    and LedgerError (phrased, no secret) when a newer claude-any wrote it."""
    engine = connect(database)
    try:
        migrate(engine, database.shown)
    except SQLAlchemyError as exc:
        engine.dispose()
        raise DatabaseUnavailable(f"cannot open {database.shown}: {reason(exc, database)}") from None
    except LedgerError:
        engine.dispose()
        raise
    return engine


def reason(exc: BaseException, database: DatabaseUrl) -> str:
    """The driver's own words for a failure, in one scrubbed line (SQLAlchemy's text adds the statement and
    its parameters)."""
    cause = getattr(exc, "orig", None) or exc
    line = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    return database.scrub(line)[:300]
