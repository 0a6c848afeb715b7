"""`claude-any usage`: the report from a real ledger file, its rows written by a running gateway."""

from __future__ import annotations

import csv
import io
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from ledger_loopback import ask, completion, running, team_table
from loopback import FakeUpstream, Reply

from claude_any import cli
from claude_any.usage.ledger import utc_day
from claude_any.usage.report import parse_since

CONFIG = """\
providers:
  openai: {{api_key: "${{OPENAI_API_KEY}}"}}
model_categories:
  large: openai/gpt-4.1
  small: openai/gpt-4.1-mini
usage: {{database: "sqlite:///{database}"}}
"""
FORMULA_MODEL = '=HYPERLINK("http://x")'


@pytest.fixture(scope="module")
def ledger_config(tmp_path_factory: pytest.TempPathFactory, _upstream_server: FakeUpstream) -> Iterator[Path]:
    """A config whose ledger holds: alice 2 priced requests ($0.011 each), bob 1 unpriced and 1 failed, one
    with the shared token asking for a model named like a spreadsheet formula."""
    upstream = _upstream_server
    upstream.reset()
    folder = tmp_path_factory.mktemp("report")
    database = folder / "usage.sqlite3"
    upstream.script(
        Reply(json=completion(1000, 100)),
        Reply(json=completion(1000, 100)),
        Reply(json=completion(50, 5)),
        Reply(status=500, json={"error": {"message": "boom"}}),
    )
    with running(team_table(upstream, database)) as url:
        assert ask(url, "alice").status_code == 200
        assert ask(url, "alice").status_code == 200
        assert ask(url, "bob", model="claude-haiku-4-5").status_code == 200  # small: no price
        assert ask(url, "bob", model="claude-haiku-4-5").status_code == 500
        assert ask(url, "shared", model=FORMULA_MODEL).status_code == 404
    config = folder / "config.yaml"
    config.write_text(CONFIG.format(database=database))
    yield config
    upstream.reset()


def usage(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert cli.main(["usage", *args]) == 0
    return capsys.readouterr().out


def test_the_table_by_user(ledger_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = usage(capsys, "--config", str(ledger_config))
    lines = text.splitlines()
    assert lines[0].startswith("usage since 7d, by user (")
    heading = " ".join(lines[1].split())
    assert heading == "USER REQUESTS ERRORS TOKENS IN TOKENS OUT CACHE READ CACHE WRITE COST"
    assert lines[2].split() == ["alice", "2", "0", "2,000", "200", "0", "0", "$0.02"]
    assert lines[3].split() == ["bob", "2", "1", "50", "5", "0", "0", "$0.00", "+", "2", "unpriced"]
    assert lines[4].split() == ["-", "1", "1", "0", "0", "0", "0", "$0.00"]
    assert lines[5].split() == ["TOTAL", "5", "2", "2,050", "205", "0", "0", "$0.02", "+", "2", "unpriced"]


def test_by_instance_names_the_gateway_process(
    ledger_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Several instances (or workers) on one database: which served how much (rows carry host:pid)."""
    document = json.loads(
        usage(capsys, "--config", str(ledger_config), "--by", "instance", "--format", "json")
    )
    assert [group["key"] for group in document["groups"]] == [f"{socket.gethostname()}:{os.getpid()}"]
    assert document["groups"][0]["requests"] == 5


def test_json_by_target_from_a_routes_json(
    ledger_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    routes = tmp_path / "routes.json"
    assert cli.main(["compile", str(ledger_config), "-o", str(routes)]) == 0
    capsys.readouterr()
    document = json.loads(usage(capsys, "--config", str(routes), "--by", "target", "--format", "json"))
    assert document["by"] == "target"
    by_target = {group["key"]: group for group in document["groups"]}
    assert by_target["large"]["requests"] == 2 and by_target["large"]["cost_usd"] == pytest.approx(0.022)
    assert by_target["small"]["unpriced"] == 2 and by_target["small"]["errors"] == 1  # the 500 may cost
    assert by_target[None]["requests"] == 1  # not routed: no target
    assert document["total"]["requests"] == 5 and document["total"]["tokens_in"] == 2050


def test_csv_by_model_cannot_run_as_a_formula(
    ledger_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = usage(capsys, "--config", str(ledger_config), "--by", "model", "--format", "csv")
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == ["model", "requests", "errors", "tokens_in", "tokens_out", "cache_read", "cache_write",
                        "cost_usd", "unpriced"]  # fmt: skip
    models = [row[0] for row in table[1:]]
    assert "'" + FORMULA_MODEL in models and FORMULA_MODEL not in models
    assert table[-1][:3] == ["TOTAL", "5", "2"]


def test_by_day_and_since(ledger_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import time

    text = usage(capsys, "--config", str(ledger_config), "--by", "day", "--format", "csv")
    assert [row[:2] for row in csv.reader(io.StringIO(text))][1:] == [
        [utc_day(time.time()), "5"],
        ["TOTAL", "5"],
    ]
    tomorrow = utc_day(time.time() + 86_400)
    text = usage(capsys, "--config", str(ledger_config), "--since", tomorrow)
    assert "(no requests in this time)" in text


def test_a_config_without_a_ledger_file_yet_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(database=tmp_path / "none.sqlite3"))
    assert cli.main(["usage", "--config", str(config)]) == 2
    assert "no usage recorded yet" in capsys.readouterr().err
    assert not (tmp_path / "none.sqlite3").exists()
    assert cli.main(["usage", "--config", str(config), "--since", "yesterday"]) == 2
    assert "--since 'yesterday': expected a span" in capsys.readouterr().err


def test_since_reads_spans_and_dates() -> None:
    now = 1_700_000_000.0
    assert parse_since("30m", now) == now - 1800
    assert parse_since("24h", now) == now - 86_400
    assert parse_since("2w", now) == now - 14 * 86_400
    assert parse_since("2023-11-14", now) == 1_699_920_000
    assert parse_since("2023-11-14T01:00:00+01:00", now) == 1_699_920_000


def test_a_config_with_the_ledger_off_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        CONFIG.format(database=tmp_path / "u.sqlite3").replace("usage: {", "usage: {enabled: false, ")
    )
    assert cli.main(["usage", "--config", str(config)]) == 2
    assert "turns the usage ledger off (usage.enabled: false)" in capsys.readouterr().err
