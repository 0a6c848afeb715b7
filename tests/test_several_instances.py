"""Several gateways on one PostgreSQL (README, "Several instances behind a load balancer"): two real
`claude-any run` processes with the same config, a real PostgreSQL server and the fake provider on loopback.
The ledger and `claude-any usage` see the requests of both, a budget spent on one instance is enforced on the
other, and a database that goes away delays and fails no response, its rows written once it is back."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_process import Running, assert_no_traceback, claude_any, free_port, wait_until_listening
from loopback import FakeUpstream, Recorded, Reply, black_hole
from postgres_server import Cluster, Server

from claude_any.usage.database import requests, schema

TOKENS = {"alice": "alice-token-0123456789", "bob": "bob-token-0123456789"}
ENV = {"UP_KEY": "sk-up-0123456789", "ALICE_TOKEN": TOKENS["alice"], "BOB_TOKEN": TOKENS["bob"]}
PAID, FREE = "claude-sonnet-4-6", "claude-haiku-4-5"  # large: $1.50 a request; small: $0
DEADLINE_S = 30.0  # a guard against a hung test, not a performance assertion


def config_text(upstream: FakeUpstream, database: str, limits: str = "{}") -> str:
    """Two categories on the fake provider, priced so that a `large` answer (1,000 tokens in, 500 out) costs
    $1.50 and a `small` one nothing; alice and bob have tokens; the ledger is in `database`."""
    return (
        f"providers:\n  up: {{kind: openai, base_url: '{upstream.url}/v1', api_key: '${{UP_KEY}}'}}\n"
        "model_categories: {large: up/gpt-4o, small: up/gpt-4o-mini}\n"
        "server: {tokens: {alice: '${ALICE_TOKEN}', bob: '${BOB_TOKEN}'}}\n"
        "prices: {large: {input: 1000, output: 1000}, small: {input: 0, output: 0}}\n"
        f"usage: {{database: '{database}'}}\n"
        f"limits: {limits}\n"
    )


def answer_with_usage(request: Recorded) -> Reply:
    message = {"role": "assistant", "content": "ok"}
    return Reply(
        json={
            "id": "c",
            "model": request.body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500},
        }
    )


@dataclass
class Instance:
    url: str
    stderr: str = ""  # what it wrote, once stopped


@contextlib.contextmanager
def instances(
    config: Path, home: Path, count: int = 1, args: tuple[str, ...] = ()
) -> Iterator[list[Instance]]:
    """`count` processes of `claude-any run config`, each on a free port, started at once (so that they open,
    and bring up to date, the same database together); stopped and checked for tracebacks after the block."""
    ports = [free_port() for _ in range(count)]
    servers = [Running([str(config), "--port", str(port), *args], home, env=ENV) for port in ports]
    started = [Instance(f"http://127.0.0.1:{port}") for port in ports]
    try:
        for server, one in zip(servers, started, strict=True):
            server.wait_for_line(r"serving http://")
            wait_until_listening(one.url)
        yield started
    finally:
        for server, one in zip(servers, started, strict=True):
            one.stderr = server.interrupt()[1]
    for one in started:
        assert "Traceback" not in one.stderr, one.stderr


def ask(url: str, user: str, model: str) -> httpx.Response:
    body = {"model": model, "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"authorization": f"Bearer {TOKENS[user]}"}
    return httpx.post(f"{url}/v1/messages", json=body, headers=headers, timeout=DEADLINE_S)


def eventually(check: Callable[[], Any], what: str) -> Any:
    """Poll `check` until it returns something true (the ledger writes in batches, off the request path)."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"not within {DEADLINE_S:.0f} s: {what}"
        time.sleep(0.2)


def ledger_rows(server: Server, database: str) -> list[tuple[str, str, int]]:
    """(instance, user, requests) in the ledger, read straight from PostgreSQL."""
    query = f'SELECT instance, "user", count(*) FROM {requests.name} GROUP BY 1, 2 ORDER BY 1, 2'
    out = server.sql(query, database)
    return [(i, u, int(n)) for i, u, n in (line.split("|") for line in out.splitlines() if line)]


def test_two_instances_share_the_ledger_usage_and_budgets(
    upstream: FakeUpstream, postgres_server: Server, postgres_url: str, tmp_path: Path
) -> None:
    upstream.responder = answer_with_usage
    config = tmp_path / "config.yaml"
    config.write_text(config_text(upstream, postgres_url, "{alice: {usd_per_day: 2}}"), encoding="utf-8")
    with instances(config, tmp_path, count=2) as [instance_a, instance_b]:
        a, b = instance_a.url, instance_b.url
        assert ask(b, "alice", FREE).status_code == 200, "alice starts the day within her budget on B"
        for url, user in ((a, "bob"), (b, "bob"), (a, "alice"), (a, "alice")):
            reply = ask(url, user, PAID)
            assert reply.status_code == 200, reply.text

        # $3 spent on A, $0 on B: only the database can tell B that alice is past her $2.
        def refused_on_b() -> httpx.Response | None:
            reply = ask(b, "alice", FREE)
            return reply if reply.status_code != 200 else None

        refused = eventually(refused_on_b, "B refuses alice after she spent $3 on A")
        assert refused.status_code == 402, refused.text
        error = refused.json()["error"]
        assert error["type"] == "billing_error"
        assert "$3.00" in error["message"] and "usd_per_day" in error["message"], error["message"]
        assert refused.headers.get("x-should-retry") == "false"
        assert ask(a, "bob", PAID).status_code == 200, "bob has no limit, on either instance"

        def both_instances_written() -> list[tuple[str, str, int]] | None:
            rows = ledger_rows(postgres_server, postgres_url)
            bob = sorted(n for _, user, n in rows if user == "bob")
            return rows if bob == [1, 2] else None  # bob: 2 on A, 1 on B

        rows = eventually(both_instances_written, "the ledger holds the rows of both instances")
        assert len({instance_id for instance_id, _, _ in rows}) == 2, rows
        versions = postgres_server.sql(f"SELECT count(*) FROM {schema.name}", postgres_url)
        assert versions.strip() == "1", "two instances starting together made the schema once"

        report = claude_any(
            "usage", "--config", str(config), "--by", "user", "--format", "json", home=tmp_path, env=ENV
        )
        assert_no_traceback(report)
        assert report.returncode == 0, report.stderr
        by_user = {group["key"]: group for group in json.loads(report.stdout)["groups"]}
        assert by_user["bob"]["requests"] == 3
        assert by_user["bob"]["cost_usd"] == pytest.approx(4.5)
        assert by_user["alice"]["cost_usd"] == pytest.approx(3.0), "her refused requests cost nothing"


def test_a_database_that_goes_away_fails_no_response_and_gets_its_rows_when_back(
    upstream: FakeUpstream, private_postgres: Cluster, tmp_path: Path
) -> None:
    upstream.responder = answer_with_usage
    server = Server(private_postgres.url, private_postgres.bin_dir / "psql")
    database = server.new_database()
    config = tmp_path / "config.yaml"
    config.write_text(config_text(upstream, database), encoding="utf-8")
    log = tmp_path / "gateway.log"
    with instances(config, tmp_path, args=("--log-file", str(log))) as [gateway]:
        url = gateway.url
        assert ask(url, "alice", PAID).status_code == 200
        eventually(lambda: ledger_rows(server, database), "the first request's row is written")
        private_postgres.stop()
        for user in ("alice", "bob", "bob"):
            reply = ask(url, user, PAID)
            assert reply.status_code == 200, reply.text
        eventually(
            lambda: "usage ledger: cannot write" in log.read_text(), "the instance finds the database gone"
        )
        private_postgres.start()

        def all_written() -> bool:
            return sorted((user, n) for _, user, n in ledger_rows(server, database)) == [
                ("alice", 2),
                ("bob", 2),
            ]

        eventually(all_written, "the rows held while the database was down are written once it is back")
    assert "Traceback" not in log.read_text()


def test_an_instance_whose_database_never_answers_still_serves(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    upstream.responder = answer_with_usage
    with black_hole() as silent:  # a database host that is down: connecting hangs, nothing refuses
        database = f"postgresql://claude_any@127.0.0.1:{silent.getsockname()[1]}/ledger"
        config = tmp_path / "config.yaml"
        config.write_text(config_text(upstream, database), encoding="utf-8")
        with instances(config, tmp_path) as [gateway]:
            for user in ("alice", "bob"):
                reply = ask(gateway.url, user, PAID)
                assert reply.status_code == 200, reply.text
