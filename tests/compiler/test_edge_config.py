"""The inbound-edge settings (issue #13): `server.allowed_origins`, `server.max_connections` and
`timeouts.client_write_s` are validated with positions, written to routes.json and read back (a routes.json
written before they existed loads with the defaults)."""

from __future__ import annotations

import json

import pytest

from claude_any.compiler import compile_text
from claude_any.table import RoutingTable, Server, Timeouts

BASE = """\
providers:
  echo: {kind: echo}
model_categories:
  large: echo/a
  small: echo/b
"""


def table_of(text: str) -> RoutingTable:
    result = compile_text(BASE + text, "t.yaml")
    assert [d.render() for d in result.diagnostics] == []
    assert result.table is not None
    return result.table


def errors_of(text: str) -> list[str]:
    result = compile_text(BASE + text, "t.yaml")
    assert result.table is None
    return [d.render() for d in result.errors]


def test_the_settings_are_written_and_read_back() -> None:
    table = table_of(
        "server:\n"
        "  allowed_origins: [https://app.example.com, 'HTTP://LOCALHOST:3000', https://app.example.com]\n"
        "  max_connections: 100\n"
        "timeouts: {client_write_s: 5}\n"
    )
    assert table.server.allowed_origins == ("https://app.example.com", "http://localhost:3000")
    assert table.server.max_connections == 100
    assert table.timeouts.client_write_s == 5.0
    data = json.loads(table.dumps())
    assert data["server"]["allowed_origins"] == ["https://app.example.com", "http://localhost:3000"]
    assert data["server"]["max_connections"] == 100 and data["timeouts"]["client_write_s"] == 5.0
    assert RoutingTable.from_json(data).dumps() == table.dumps()


def test_defaults_and_older_routes_json() -> None:
    table = table_of("server: {allowed_origins: []}\n")
    assert (table.server.allowed_origins, table.server.max_connections) == ((), 4096)
    assert table.timeouts.client_write_s == 60.0
    data = json.loads(table.dumps())
    del (
        data["server"]["allowed_origins"],
        data["server"]["max_connections"],
        data["timeouts"]["client_write_s"],
    )
    again = RoutingTable.from_json(data)
    assert (again.server, again.timeouts) == (Server(), Timeouts())


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            "server: {allowed_origins: ['*']}",
            "t.yaml:6:28: error: server.allowed_origins: '*': '*' would let any web page use the gateway",
        ),
        (
            "server:\n  allowed_origins:\n    - https://ok.example.com\n    - https://app.example.com/\n",
            "t.yaml:9:7: error: server.allowed_origins: 'https://app.example.com/': an origin has no path, "
            "query or user part; write https://app.example.com",
        ),
        (
            "server: {allowed_origins: [https://app.example.com:443]}",
            "t.yaml:6:28: error: server.allowed_origins: 'https://app.example.com:443': browsers send this "
            "origin without its default port; write https://app.example.com",
        ),
        (
            "server: {allowed_origins: [app.example.com]}",
            "t.yaml:6:28: error: server.allowed_origins: 'app.example.com': expected an origin such as",
        ),
        (
            "server: {allowed_origins: {a: b}}",
            "t.yaml:6:27: error: server.allowed_origins: expected a string",
        ),
        ("server: {max_connections: 0}", "t.yaml:6:27: error: server.max_connections: 0 is out of range"),
        ("server: {max_connections: lots}", "t.yaml:6:27: error: server.max_connections: expected a whole"),
        ("timeouts: {client_write_s: 0}", "t.yaml:6:28: error: timeouts.client_write_s: 0 is out of range"),
        ("server: {allowed_origin: []}", "t.yaml:6:10: error: unknown key 'allowed_origin' in server"),
    ],
)
def test_bad_values_are_reported_at_their_position(section: str, message: str) -> None:
    found = errors_of(section + "\n")
    assert any(line.startswith(message) for line in found), found


def test_explain_shows_them_beside_the_timeouts() -> None:
    from claude_any.explain import explain

    table = table_of(
        "server: {allowed_origins: [https://app.example.com], max_connections: 50, max_body_mb: 8}\n"
        "timeouts: {client_write_s: 5}\n"
    )
    text, _ = explain(table, model="claude-sonnet-4-6", source="t.yaml")
    assert "keep-alive ping every 10 s, client write 5 s\n" in text
    assert (
        "clients:  request headers within 10 s, up to 50 connections, bodies up to 8 MB, "
        "web origins: https://app.example.com\n"
    ) in text
