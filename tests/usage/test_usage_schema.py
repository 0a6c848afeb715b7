"""The ledger's versioned schema: a first-version database is migrated on open with its rows kept, a newer
one is refused, one at this version whose columns are not this version's is refused at start (by `run` and
`usage`), and several processes opening one database at once migrate it once."""

from __future__ import annotations

import contextlib
import multiprocessing
import sqlite3
from pathlib import Path

import pytest
from cli_process import claude_any
from ledger_loopback import ENV, completion, rows, running, team_table
from ledger_loopback import ask as ask_as
from loopback import FakeUpstream, Reply
from postgres_server import Server

from claude_any.runtime.call.targets import StartupError
from claude_any.runtime.serve.app import create_app
from claude_any.table import Usage
from claude_any.usage.database import (
    SCHEMA_VERSION,
    SQLITE_CACHE_KIB,
    DatabaseUrl,
    LedgerError,
    SchemaMismatch,
    database_url,
    open_database,
)

# The first schema, as claude-any 0.1 wrote it: written out here, not derived from the code under test.
V1 = """
CREATE TABLE claude_any_schema (version INTEGER NOT NULL);
INSERT INTO claude_any_schema VALUES (1);
CREATE TABLE claude_any_requests (
    id INTEGER NOT NULL PRIMARY KEY, at FLOAT NOT NULL, day TEXT NOT NULL, request_id TEXT, method TEXT,
    path TEXT, user TEXT, session TEXT, model TEXT, rule TEXT, target TEXT, upstream TEXT, status INTEGER,
    stream BOOLEAN, latency_ms FLOAT, tokens_in BIGINT, tokens_out BIGINT, cache_read BIGINT,
    cache_write BIGINT, cost_usd FLOAT, note TEXT
);
INSERT INTO claude_any_requests (at, day, request_id, user, status, tokens_in, tokens_out, cost_usd)
VALUES (1700000000.5, '2023-11-14', 'req_old', 'alice', 200, 10, 2, 0.25);
"""


def sqlite(path: Path) -> DatabaseUrl:
    return DatabaseUrl(f"sqlite:///{path}", str(path))


def version(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return int(conn.execute("SELECT version FROM claude_any_schema").fetchone()[0])


def test_a_first_version_database_is_migrated_and_keeps_its_rows(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    database = tmp_path / "usage.sqlite3"
    with contextlib.closing(sqlite3.connect(database)) as conn:
        conn.executescript(V1)
    upstream.script(Reply(json=completion()))
    with running(team_table(upstream, database)) as url:
        assert ask_as(url, "bob").status_code == 200
    assert version(database) == SCHEMA_VERSION == 2
    recorded = rows(database)
    assert [(r["request_id"], r["user"], r["instance"]) for r in recorded][0] == ("req_old", "alice", None)
    assert recorded[1]["user"] == "bob" and recorded[1]["instance"]
    with contextlib.closing(sqlite3.connect(database)) as conn:
        indexes = {row[1] for row in conn.execute("PRAGMA index_list(claude_any_requests)")}
    assert {"claude_any_requests_at", "claude_any_requests_day_user"} <= indexes


def test_a_database_from_a_newer_claude_any_is_refused(upstream: FakeUpstream, tmp_path: Path) -> None:
    database = tmp_path / "usage.sqlite3"
    open_database(sqlite(database)).dispose()
    with contextlib.closing(sqlite3.connect(database)) as conn, conn:
        conn.execute("UPDATE claude_any_schema SET version = 99")
    with pytest.raises(
        StartupError, match=r"written by a newer claude-any \(schema version 99; this one knows"
    ):
        create_app(team_table(upstream, database), ENV)
    assert version(database) == 99  # left as it was


# A database at this schema version as a development build could have left it: one column short.
DEV_CONFIG = """\
providers:
  echo: {{kind: echo}}
model_categories:
  large: echo/echo-large
  small: echo/echo-small
usage: {{database: "sqlite:///{database}"}}
"""


def dev_build_database(path: Path) -> None:
    open_database(sqlite(path)).dispose()
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("ALTER TABLE claude_any_requests DROP COLUMN tokens_estimated")


def test_run_refuses_a_database_missing_a_column_of_its_schema_version(tmp_path: Path) -> None:
    database = tmp_path / "usage.sqlite3"
    dev_build_database(database)
    config = tmp_path / "config.yaml"
    config.write_text(DEV_CONFIG.format(database=database))
    result = claude_any("run", str(config), "--port", "0", home=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert f"the usage database {database} does not match" in result.stderr
    assert "table claude_any_requests has no column tokens_estimated" in result.stderr
    assert f"move {database} aside" in result.stderr and "point usage.database elsewhere" in result.stderr
    report = claude_any("usage", "--config", str(config), home=tmp_path)
    assert report.returncode == 2 and "Traceback" not in report.stderr, report.stderr
    assert "has no column tokens_estimated" in report.stderr


def test_a_column_this_version_does_not_know_is_refused_and_the_file_left_alone(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    database = tmp_path / "usage.sqlite3"
    open_database(sqlite(database)).dispose()
    with contextlib.closing(sqlite3.connect(database)) as conn, conn:
        conn.execute("ALTER TABLE claude_any_requests ADD COLUMN region TEXT NOT NULL DEFAULT 'eu'")
    with pytest.raises(StartupError, match="table claude_any_requests has a column region it does not know"):
        create_app(team_table(upstream, database), ENV)
    with contextlib.closing(sqlite3.connect(database)) as conn:
        assert "region" in {row[1] for row in conn.execute("PRAGMA table_info(claude_any_requests)")}


def test_a_first_version_database_with_an_extra_column_is_not_half_migrated(tmp_path: Path) -> None:
    database = tmp_path / "usage.sqlite3"
    with contextlib.closing(sqlite3.connect(database)) as conn:
        conn.executescript(V1 + "ALTER TABLE claude_any_requests ADD COLUMN region TEXT;")
    with pytest.raises(SchemaMismatch, match="has a column region"):
        open_database(sqlite(database))
    assert version(database) == 1  # the migration rolled back with the refusal
    with contextlib.closing(sqlite3.connect(database)) as conn:
        assert "instance" not in {row[1] for row in conn.execute("PRAGMA table_info(claude_any_requests)")}


def test_a_postgresql_database_missing_a_column_is_refused_without_its_password(
    postgres_server: Server, postgres_url: str
) -> None:
    pytest.importorskip("psycopg")
    open_database(database_url(Usage(database=postgres_url), {})).dispose()
    postgres_server.sql("ALTER TABLE claude_any_requests DROP COLUMN instance", postgres_url)
    with_secret = postgres_url.replace("postgresql://postgres@", "postgresql://postgres:${PGPASSWORD}@", 1)
    database = database_url(Usage(database=with_secret), {"PGPASSWORD": "pg-secret-91"})
    with pytest.raises(SchemaMismatch) as refused:
        open_database(database)
    message = str(refused.value)
    assert "table claude_any_requests has no column instance" in message
    assert "rename or drop its claude_any_* tables" in message and "pg-secret-91" not in message


def _open(path: str) -> None:
    open_database(sqlite(Path(path))).dispose()


def test_processes_opening_one_database_at_once_migrate_it_once(tmp_path: Path) -> None:
    database = tmp_path / "usage.sqlite3"
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        pool.map(_open, [str(database)] * 8)  # each would fail on a second ALTER TABLE or CREATE
    assert version(database) == SCHEMA_VERSION
    with contextlib.closing(sqlite3.connect(database)) as conn:
        assert conn.execute("SELECT count(*) FROM claude_any_schema").fetchone()[0] == 1


def test_a_folder_that_cannot_be_made_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(LedgerError, match="cannot make the folder"):
        open_database(sqlite(tmp_path / "file" / "usage.sqlite3"))


def test_a_first_version_database_that_already_has_a_later_column_is_a_mismatch(tmp_path: Path) -> None:
    database = tmp_path / "usage.sqlite3"
    with contextlib.closing(sqlite3.connect(database)) as conn:
        conn.executescript(V1 + "ALTER TABLE claude_any_requests ADD COLUMN instance TEXT;")
    with pytest.raises(SchemaMismatch) as refused:  # not "cannot open" (retried): the migration would fail
        open_database(sqlite(database))
    message = str(refused.value)
    assert "does not match the schema version 1 it is marked with" in message
    assert "table claude_any_requests has a column instance that schema version 1 does not have" in message
    assert version(database) == 1


def test_a_sqlite_connection_keeps_a_small_page_cache(tmp_path: Path) -> None:
    """SQLite's page cache stays in the gateway's memory for as long as it runs (2 MB by default)."""
    engine = open_database(sqlite(tmp_path / "usage.sqlite3"))
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -SQLITE_CACHE_KIB
    finally:
        engine.dispose()
