"""The ledger's versioned schema: a first-version database is migrated on open with its rows kept, a newer
one is refused, and several processes opening one database at once migrate it once."""

from __future__ import annotations

import contextlib
import multiprocessing
import sqlite3
from pathlib import Path

import pytest
from ledger_loopback import ENV, completion, rows, running, team_table
from ledger_loopback import ask as ask_as
from loopback import FakeUpstream, Reply

from claude_any.runtime.call.targets import StartupError
from claude_any.runtime.serve.app import create_app
from claude_any.usage.database import SCHEMA_VERSION, DatabaseUrl, LedgerError, open_database

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
