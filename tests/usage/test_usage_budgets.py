"""`limits:`: a user past their daily budget is refused with a clear, non-retryable error; others are not;
spend recorded by another instance on the same database counts."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from ledger_loopback import ask, completion, running, team_table, wait_for
from loopback import FakeUpstream, Reply

from claude_any.runtime.serve.access_log import RequestLog
from claude_any.table import Limit
from claude_any.usage.budgets import resets_in
from claude_any.usage.database import DatabaseUrl
from claude_any.usage.ledger import Ledger


def test_a_user_past_their_dollar_limit_is_refused_and_others_are_not(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    upstream.script(*[Reply(json=completion(1000, 100))] * 4)  # $0.011 each
    table = team_table(upstream, tmp_path / "usage.sqlite3", limits={"alice": Limit(usd_per_day=0.015)})
    with running(table) as url:
        assert ask(url, "alice").status_code == 200  # $0.000 spent before it
        assert ask(url, "alice").status_code == 200  # $0.011
        refused = ask(url, "alice")  # $0.022: past $0.015
        assert ask(url, "bob").status_code == 200
        assert ask(url, "shared").status_code == 200
    assert refused.status_code == 402
    assert refused.headers["x-should-retry"] == "false"
    error = refused.json()["error"]
    assert error["type"] == "billing_error"
    assert error["message"].startswith(
        "alice has used $0.022 of the $0.015 a day that limits.alice.usd_per_day allows; "
        "it resets at 00:00 UTC, in "
    )
    assert len(upstream.requests) == 4  # the refused request never reached the provider


def test_a_token_limit_counts_input_and_output_tokens(upstream: FakeUpstream, tmp_path: Path) -> None:
    upstream.script(*[Reply(json=completion(1000, 100))] * 2)
    table = team_table(upstream, tmp_path / "usage.sqlite3", limits={"bob": Limit(tokens_per_day=2000)})
    with running(table) as url:
        assert ask(url, "bob").status_code == 200
        assert ask(url, "bob").status_code == 200  # 1,100 tokens before it
        refused = ask(url, "bob")  # 2,200
    assert refused.status_code == 402
    assert (
        "bob has used 2,200 of the 2,000 tokens a day that limits.bob.tokens_per_day allows"
        in (refused.json()["error"]["message"])
    )


def test_spend_written_by_another_instance_counts(upstream: FakeUpstream, tmp_path: Path) -> None:
    database = tmp_path / "usage.sqlite3"
    upstream.script(*[Reply(json=completion(1000, 100))] * 40)
    table = team_table(upstream, database, limits={"alice": Limit(usd_per_day=1.0)})
    with running(table) as url:
        assert ask(url, "alice").status_code == 200
        other = Ledger(DatabaseUrl(f"sqlite:///{database}", str(database)), "other-instance")
        other.start()
        spent = RequestLog("POST", "/v1/messages", "req_elsewhere")
        spent.user, spent.status, spent.cost_usd = "alice", 200, 2.5
        other.add(spent)
        other.close()  # written to the shared file by the other ledger, never seen by this one's queue
        wait_for(lambda: ask(url, "alice").status_code == 402, pause=0.3)  # the next refresh of the spend
        assert ask(url, "bob").status_code == 200
        message = ask(url, "alice").json()["error"]["message"]
        status = httpx.get(url + "/status.json", headers={"x-api-key": "bob-secret-2"}, timeout=10).json()
    assert "alice has used $2.5" in message and "of the $1.00 a day" in message
    spend = status["spend_today"]  # the status page reads the same sums: every instance's
    assert spend["scope"] == "every instance on the usage database"
    assert {u["user"]: u for u in spend["users"]}["alice"]["usd"] > 2.5


def test_the_reset_is_said_in_hours_and_minutes() -> None:
    midnight = 1_700_000_000 - 1_700_000_000 % 86_400
    assert resets_in(midnight + 86_400 - (3 * 3600 + 12 * 60)) == "in 3 h 12 min"
    assert resets_in(midnight + 86_400 - 300) == "in 5 min"
    assert resets_in(midnight + 86_400 - 7200) == "in 2 h"
    assert resets_in(time.time()).startswith("in ")


def test_a_reload_applies_new_limits_and_keeps_the_ledger(upstream: FakeUpstream, tmp_path: Path) -> None:
    from dataclasses import replace

    from ledger_loopback import ENV
    from loopback import ThreadServer

    from claude_any.runtime.serve.app import create_app
    from claude_any.runtime.serve.table_source import TableReload, TableSource, load_routes_json

    upstream.script(*[Reply(json=completion())] * 3)
    table = team_table(upstream, tmp_path / "usage.sqlite3", limits={"alice": Limit(usd_per_day=0.0)})
    routes = tmp_path / "routes.json"
    routes.write_text(table.dumps(), encoding="utf-8")
    source = TableSource(str(routes), load_routes_json, watched=True)
    app = create_app(table, ENV, reload=TableReload(source, table, table))
    server = ThreadServer(app).start()
    try:
        ledger, old = app.state.process.ledger, app.state.gateway
        assert ask(server.url, "alice").status_code == 402  # $0 a day: nothing allowed
        moved = replace(
            table, limits={"alice": Limit(usd_per_day=5.0)}, usage=replace(table.usage, database=None)
        )
        routes.write_text(moved.dumps(), encoding="utf-8")
        wait_for(lambda: app.state.gateway is not old)
        assert ask(server.url, "alice").status_code == 200  # the new limit, at once
        assert app.state.process.ledger is ledger  # `usage:` waits for a restart: the same ledger and file
        assert app.state.gateway.table.usage == table.usage
    finally:
        server.stop()
