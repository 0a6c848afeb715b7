"""`usage:` and `limits:` in the config: checked with positions, written to routes.json and read back."""

from __future__ import annotations

import json
from pathlib import Path

from claude_any.compiler import compile_text
from claude_any.table import Limit, RoutingTable, Usage

BASE = """\
server:
  tokens: {alice: "${ALICE_TOKEN}", bob: "${BOB_TOKEN}"}
providers:
  openai: {api_key: "${OPENAI_API_KEY}"}
model_categories:
  large: openai/gpt-4.1
  small: openai/gpt-4.1-mini
"""


def errors(text: str, file: str = "c.yaml") -> list[str]:
    return [d.render() for d in compile_text(text, file).diagnostics if d.level == "error"]


def test_usage_and_limits_are_kept_in_routes_json(tmp_path: Path) -> None:
    text = BASE + (
        "usage: {database: 'sqlite:///ledger/usage.db', instance: eu-1}\n"
        "limits:\n  alice: {usd_per_day: 20}\n  bob: {tokens_per_day: 2000000, usd_per_day: 5.5}\n"
    )
    config = tmp_path / "c.yaml"
    result = compile_text(text, str(config))
    assert result.table is not None, [d.render() for d in result.diagnostics]
    # A relative SQLite path is the config's folder's: `run` and `usage` agree from wherever they start.
    assert result.table.usage == Usage(True, f"sqlite:///{tmp_path}/ledger/usage.db", "eu-1")
    assert result.table.limits == {"alice": Limit(20.0, None), "bob": Limit(5.5, 2_000_000)}
    again = RoutingTable.from_json(json.loads(result.table.dumps()))
    assert (again.usage, again.limits) == (result.table.usage, result.table.limits)


def test_a_table_without_them_is_written_as_before() -> None:
    result = compile_text(BASE, "c.yaml")
    assert result.table is not None
    written = json.loads(result.table.dumps())
    assert "usage" not in written and "limits" not in written
    assert RoutingTable.from_json(written).usage == Usage()


def test_a_limit_for_a_name_that_has_no_token_is_an_error_with_a_did_you_mean() -> None:
    found = errors(BASE + "limits:\n  alcie: {usd_per_day: 20}\n")
    assert found == [
        "c.yaml:9:3: error: limits.alcie: 'alcie' is not a server.tokens name (those are alice, bob); "
        "did you mean 'alice'?"
    ]


def test_limits_need_the_ledger_and_a_limit_in_each_entry() -> None:
    found = errors(BASE + "usage: {enabled: false}\nlimits:\n  alice: {usd_per_day: 20}\n  bob: {}\n")
    assert any("bob: give usd_per_day, tokens_per_day or both" in line for line in found)
    assert any("limits: budgets are counted in the usage ledger" in line for line in found)
    assert errors(BASE + "limits:\n  alice: {usd_per_day: -1}\n")


def test_a_database_url_that_is_not_sqlite_or_postgresql_is_an_error() -> None:
    found = errors(BASE + "usage: {database: 'mysql://u@h/db'}\n")
    assert found == [
        "c.yaml:8:19: error: usage.database: 'mysql://' is not a database this reads; "
        "expected sqlite:///PATH or postgresql://user:${PGPASSWORD}@host/db"
    ]


def test_a_password_written_in_the_database_url_is_warned_about() -> None:
    result = compile_text(BASE + "usage: {database: 'postgresql://u:hunter22@h/db'}\n", "c.yaml")
    warnings = [d.render() for d in result.diagnostics if d.level == "warning"]
    assert any("usage.database: the password is written in the config" in w for w in warnings)
    assert not any("hunter22" in w for w in warnings)
    ok = compile_text(BASE + "usage: {database: 'postgresql://u:${PGPASSWORD}@h/db'}\n", "c.yaml")
    assert not [d for d in ok.diagnostics if d.level == "warning"]
