"""The ledger in `claude-any run` processes: what is queued is written when the process is told to stop
(SIGTERM, Ctrl-C), and `--workers 2` write to one SQLite file side by side; `claude-any usage` reads it."""

from __future__ import annotations

import contextlib
import signal
import sqlite3
from pathlib import Path

import httpx
import pytest
from cli_process import START_TIMEOUT_S, Running, claude_any, free_port, wait_until_listening

CONFIG = """\
server:
  tokens: {{alice: "${{ALICE_TOKEN}}", bob: "${{BOB_TOKEN}}"}}
providers:
  echo: {{kind: echo}}
model_categories:
  large: echo/echo-large
  small: echo/echo-small
usage: {{database: "sqlite:///{database}"}}
"""
ENV = {"ALICE_TOKEN": "alice-secret-1", "BOB_TOKEN": "bob-secret-2"}
BODY = {"model": "claude-sonnet-4-6", "max_tokens": 16, "messages": [{"role": "user", "content": "w"}]}


def ledger_rows(database: Path) -> list[tuple[str, str]]:
    with contextlib.closing(sqlite3.connect(database)) as conn:
        return list(conn.execute("SELECT user, instance FROM claude_any_requests ORDER BY id"))


def stop(server: Running, how: signal.Signals) -> str:
    server.proc.send_signal(how)
    try:
        _, stderr = server.proc.communicate(timeout=START_TIMEOUT_S)
    finally:
        server.proc.kill()
    return stderr


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT])
def test_the_queue_is_written_when_the_process_is_stopped(tmp_path: Path, how: signal.Signals) -> None:
    database = tmp_path / "usage.sqlite3"
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(database=database))
    server = Running([str(config), "--port", str(free_port())], tmp_path, env=ENV)
    try:
        url = server.wait_for_line(r"serving (http://127\.0\.0\.1:\d+) ").group(1)
        for token in ("alice-secret-1", "bob-secret-2", "alice-secret-1"):
            answer = httpx.post(url + "/v1/messages", json=BODY, headers={"x-api-key": token}, timeout=10)
            assert answer.status_code == 200
    finally:
        stderr = stop(server, how)  # at once: the rows may still be queued
    assert "Traceback" not in stderr
    assert [user for user, _ in ledger_rows(database)] == ["alice", "bob", "alice"]


def test_two_workers_write_to_one_sqlite_file(tmp_path: Path) -> None:
    database = tmp_path / "usage.sqlite3"
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(database=database))
    server = Running([str(config), "--port", str(free_port()), "--workers", "2"], tmp_path, env=ENV)
    try:
        url = server.wait_for_line(r"serving (http://127\.0\.0\.1:\d+) ").group(1)
        wait_until_listening(url)
        for number in range(20):
            token = "alice-secret-1" if number % 2 else "bob-secret-2"
            answer = httpx.post(url + "/v1/messages", json=BODY, headers={"x-api-key": token}, timeout=10)
            assert answer.status_code == 200
    finally:
        stderr = stop(server, signal.SIGTERM)
    assert "Traceback" not in stderr and "cannot write" not in stderr, stderr
    recorded = ledger_rows(database)
    assert sorted(user for user, _ in recorded) == ["alice"] * 10 + ["bob"] * 10
    pids = {instance.rsplit(":", 1)[1] for _, instance in recorded}
    assert str(server.proc.pid) not in pids  # written by the workers, each under its own name
    report = claude_any("usage", "--config", str(config), home=tmp_path, env=ENV)
    assert report.returncode == 0, report.stderr
    lines = {line.split()[0]: line.split() for line in report.stdout.splitlines()[2:]}
    assert lines["alice"][1] == lines["bob"][1] == "10" and lines["TOTAL"][1] == "20"
