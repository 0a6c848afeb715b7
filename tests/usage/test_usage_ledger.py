"""The usage ledger: every /v1/messages request of a running gateway ends up as a row of a real SQLite
file, written off the request path, kept through a clean shutdown and through a database that is away."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

import pytest
from ledger_loopback import ENV, completion, rows, running, team_table, wait_for
from ledger_loopback import ask as ask_as
from loopback import FakeUpstream, Reply

from claude_any.runtime.call.targets import StartupError
from claude_any.runtime.serve.access_log import RequestLog
from claude_any.runtime.serve.app import create_app
from claude_any.usage.database import DatabaseUrl, database_url, state_directory
from claude_any.usage.ledger import Ledger


def test_each_request_is_a_row_with_the_request_logs_fields(upstream: FakeUpstream, tmp_path: Path) -> None:
    database = tmp_path / "usage.sqlite3"
    upstream.script(Reply(json=completion(1000, 100)), Reply(status=500, json={"error": {"message": "boom"}}))
    with running(team_table(upstream, database)) as url:
        assert ask_as(url, "alice").status_code == 200
        assert ask_as(url, "bob", model="claude-haiku-4-5").status_code == 500
        assert ask_as(url, "shared", model="no-such-model").status_code == 404
    recorded = rows(database)  # written at the latest by the shutdown's flush
    assert [(r["user"], r["status"]) for r in recorded] == [("alice", 200), ("bob", 500), (None, 404)]
    alice = recorded[0]
    assert (
        alice["model"] == "claude-sonnet-4-6"
        and alice["target"] == "large"
        and alice["rule"] == "default: sonnet/opus"
    )
    assert (
        alice["upstream"] == "fake/gpt-4o" and alice["path"] == "/v1/messages" and alice["method"] == "POST"
    )
    assert (alice["tokens_in"], alice["tokens_out"]) == (1000, 100)
    assert alice["cost_usd"] == pytest.approx(0.011)
    assert alice["session"] == "5f0c1a2e-0000-4000-8000-00000000000a"
    assert alice["request_id"].startswith("req_") and alice["latency_ms"] > 0
    assert alice["instance"] == f"{socket.gethostname()}:{os.getpid()}"
    assert len(alice["day"]) == 10 and alice["at"] > 0
    assert recorded[1]["cost_usd"] is None  # no tokens: no cost, never a made-up zero


def test_rows_are_written_while_the_gateway_runs(upstream: FakeUpstream, tmp_path: Path) -> None:
    database = tmp_path / "usage.sqlite3"
    upstream.script(Reply(json=completion()))
    with running(team_table(upstream, database)) as url:
        assert ask_as(url, "alice").status_code == 200
        wait_for(lambda: len(rows(database)) == 1)  # the writer's batch interval, not the shutdown


def test_the_default_database_is_in_the_state_directory(upstream: FakeUpstream) -> None:
    upstream.script(Reply(json=completion()))
    with running(team_table(upstream, None)) as url:
        assert ask_as(url, "alice").status_code == 200
    database = state_directory() / "usage.sqlite3"
    assert str(database).startswith(os.environ["XDG_STATE_HOME"])  # conftest's: never the real home
    assert [r["user"] for r in rows(database)] == ["alice"]


def test_usage_disabled_writes_nothing(upstream: FakeUpstream, tmp_path: Path) -> None:
    database = tmp_path / "usage.sqlite3"
    upstream.script(Reply(json=completion()))
    table = team_table(upstream, database, enabled=False)
    with running(table) as url:
        assert ask_as(url, "alice").status_code == 200
    assert not database.exists()
    assert create_app(table, ENV).state.process.ledger is None


def test_a_database_that_is_away_never_fails_a_request_and_its_rows_wait(
    upstream: FakeUpstream, tmp_path: Path, caplog: pytest.LogCaptureFixture, propagating: None
) -> None:
    blocker = tmp_path / "away"  # a file where the database's folder should be: it cannot be opened
    blocker.write_text("")
    ledger = Ledger(
        DatabaseUrl(f"sqlite:///{blocker}/usage.sqlite3", f"{blocker}/usage.sqlite3"),
        "test",
        queue_rows=5,
        batch_seconds=0.05,
    )
    caplog.set_level(logging.WARNING, logger="claude_any")
    ledger.start()
    for number in range(8):
        log = RequestLog("POST", "/v1/messages", f"req_{number}")
        log.user, log.status = "alice", 200
        ledger.add(log)
    wait_for(lambda: ledger.dropped == 3 and any("were not recorded" in r.message for r in caplog.records))
    wait_for(lambda: sum("cannot write" in r.message for r in caplog.records) == 1)
    blocker.unlink()  # the database comes back: what waited is written, oldest dropped ones excepted
    wait_for(lambda: ledger.written == 5, seconds=20)
    ledger.close()
    assert [r["request_id"] for r in rows(blocker / "usage.sqlite3")] == [f"req_{n}" for n in range(3, 8)]
    warnings = [r.message for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("cannot write" in w for w in warnings) == 1  # one warning for the outage, not one per try
    assert any("answers again" in w for w in warnings)
    assert any("3 requests were not recorded" in w for w in warnings)


def test_an_unreachable_postgresql_does_not_stop_the_gateway(
    upstream: FakeUpstream, tmp_path: Path, caplog: pytest.LogCaptureFixture, propagating: None
) -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    env = {**ENV, "PGPASSWORD": "pg-secret-77"}
    table = team_table(upstream, f"postgresql://claude:${{PGPASSWORD}}@127.0.0.1:{port}/ledger")
    caplog.set_level(logging.WARNING, logger="claude_any")
    upstream.script(Reply(json=completion()))
    app = create_app(table, env)
    assert app.state.process.ledger is not None
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "postgresql://claude:***@127.0.0.1" in text and "pg-secret-77" not in text


def test_a_missing_variable_in_the_database_url_stops_start_up(upstream: FakeUpstream) -> None:
    table = team_table(upstream, "postgresql://claude:${NO_SUCH_PG}@127.0.0.1/ledger")
    with pytest.raises(StartupError, match="NO_SUCH_PG is not set"):
        create_app(table, ENV)


def test_the_database_url_shown_never_holds_the_password() -> None:
    from claude_any.table import Usage

    database = database_url(
        Usage(database="postgresql://me:${PGPASSWORD}@db.internal:5432/usage"), {"PGPASSWORD": "s3cr3t-pw"}
    )
    assert database.url == "postgresql+psycopg://me:s3cr3t-pw@db.internal:5432/usage"
    assert "s3cr3t-pw" not in database.shown
    assert (
        database.scrub(f"failed for {database.url} with s3cr3t-pw") == f"failed for {database.shown} with ***"
    )


def test_postgresql_without_its_driver_names_the_extra_to_install(
    upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "psycopg" else find_spec(name, *a)
    )
    table = team_table(upstream, "postgresql://claude:${PGPASSWORD}@127.0.0.1/ledger")
    with pytest.raises(StartupError, match=r"pip install 'claude-any\[postgres\]'"):
        create_app(table, {**ENV, "PGPASSWORD": "pg-secret-77"})


def test_a_database_that_holds_its_lock_delays_no_answer(upstream: FakeUpstream, tmp_path: Path) -> None:
    import contextlib
    import sqlite3

    database = tmp_path / "usage.sqlite3"
    upstream.script(*[Reply(json=completion())] * 5)
    with running(team_table(upstream, database)) as url:
        with contextlib.closing(sqlite3.connect(database, isolation_level=None)) as blocker:
            blocker.execute("BEGIN EXCLUSIVE")  # the writer now waits for the lock (up to 10 s a try)
            for _ in range(5):  # each answered while the writer waits: the request path never does
                assert ask_as(url, "alice").status_code == 200
            blocker.execute("COMMIT")
        wait_for(lambda: len(rows(database)) == 5, seconds=30)


def test_a_token_count_beyond_any_column_is_kept_within_it(upstream: FakeUpstream, tmp_path: Path) -> None:
    database = tmp_path / "usage.sqlite3"
    upstream.script(Reply(json=completion(10**30, 1)), Reply(json=completion()))
    with running(team_table(upstream, database)) as url:
        assert ask_as(url, "alice").status_code == 200
        assert ask_as(url, "bob").status_code == 200
    recorded = rows(database)  # both: one provider's absurd count does not lose the batch
    assert [(r["user"], r["tokens_in"]) for r in recorded] == [("alice", 2**63 - 1), ("bob", 1000)]
