"""The `retry:`, `timeouts:` and `server.max_body_mb` settings: validated with positions, written to
routes.json, read back tolerantly (a routes.json written before they existed loads with the defaults)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claude_any.compiler import CompileResult, compile_text
from claude_any.table import MAX_IN_FLIGHT, RetryPolicy, RoutingTable, Timeouts

BASE = """\
providers:
  echo: {kind: echo}
model_categories:
  large: echo/a
  small: echo/b
"""


def compiled(text: str) -> CompileResult:
    return compile_text(BASE + text, "t.yaml")


def table_of(text: str) -> RoutingTable:
    result = compiled(text)
    assert [d.render() for d in result.diagnostics] == []
    assert result.table is not None
    return result.table


def errors_of(text: str) -> list[str]:
    result = compiled(text)
    assert result.table is None
    return [d.render() for d in result.errors]


def test_defaults_are_written_explicitly() -> None:
    data = json.loads(table_of("").dumps())
    assert data["retry"] == {
        "attempts": 3,
        "initial_backoff_ms": 500,
        "max_backoff_ms": 8000,
        "budget_s": 60.0,
    }
    assert data["timeouts"] == {
        "connect_s": 10.0,
        "first_byte_s": 600.0,
        "idle_s": 300.0,
        "ping_s": 10.0,
        "client_write_s": 60.0,
        "queue_s": 30.0,
    }
    assert data["server"]["max_body_mb"] == 32
    assert data["server"]["max_connections"] == 4096 and data["server"]["allowed_origins"] == []
    assert all(route["retry"] is None for route in data["routes"])


def test_top_level_and_route_settings() -> None:
    table = table_of(
        "retry: {attempts: 5, initial_backoff_ms: 10, max_backoff_ms: 100, budget_s: 2}\n"
        "timeouts: {connect_s: 1.5, first_byte_s: 30, idle_s: 20, ping_s: 5}\n"
        "server: {max_body_mb: 4}\n"
        "routes:\n"
        "  - when: tokens > 100k\n    to: large\n    retry: {attempts: 1}\n"
        "  - when: thinking\n    to: small\n"
    )
    assert table.retry == RetryPolicy(5, 10, 100, 2.0)
    assert table.timeouts == Timeouts(1.5, 30.0, 20.0, 5.0)
    assert table.server.max_body_mb == 4
    # A route's retry is merged over the top-level one; a route without one uses the table's.
    assert table.routes[0].retry == RetryPolicy(1, 10, 100, 2.0)
    assert table.routes[1].retry is None
    again = RoutingTable.from_json(json.loads(table.dumps()))
    assert again.dumps() == table.dumps()


def test_routes_json_without_the_new_keys_still_loads_with_defaults() -> None:
    data = json.loads(table_of("").dumps())
    del data["retry"], data["timeouts"], data["server"]["max_body_mb"]
    for route in data["routes"]:
        del route["retry"]
    table = RoutingTable.from_json(data)
    assert (table.retry, table.timeouts, table.server.max_body_mb) == (RetryPolicy(), Timeouts(), 32)
    assert all(route.retry is None for route in table.routes)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("retry: {attempts: 0}", "t.yaml:6:19: error: retry.attempts: 0 is out of range"),
        ("retry: {attempts: 1.5}", "t.yaml:6:19: error: retry.attempts: expected a whole number, got"),
        ("retry: {budget_s: -1}", "t.yaml:6:19: error: retry.budget_s: -1 is out of range"),
        ("retry: {budget_s: .nan}", "t.yaml:6:19: error: retry.budget_s: .nan is out of range"),
        ("retry: {tries: 3}", "t.yaml:6:9: error: unknown key 'tries' in retry"),
        (
            "retry: {initial_backoff_ms: 900, max_backoff_ms: 100}",
            "t.yaml:6:50: error: retry.max_backoff_ms: 100 is below initial_backoff_ms (900)",
        ),
        ("retry: 3", "t.yaml:6:8: error: retry: expected a mapping, got"),
        ("timeouts: {queue_s: 0}", "t.yaml:6:21: error: timeouts.queue_s: 0 is out of range"),
        ("timeouts: {idle_s: 0}", "t.yaml:6:20: error: timeouts.idle_s: 0 is out of range"),
        ("timeouts: {idle: 5}", "t.yaml:6:12: error: unknown key 'idle' in timeouts; did you mean 'idle_s'?"),
        ("timeouts: {connect_s: fast}", "t.yaml:6:23: error: timeouts.connect_s: expected a number, got"),
        ("server: {max_body_mb: 0}", "t.yaml:6:23: error: server.max_body_mb: 0 is out of range"),
        (
            "routes:\n  - when: thinking\n    to: large\n    retry: {attempts: 99}",
            "t.yaml:9:23: error: routes[0].retry.attempts: 99 is out of range",
        ),
    ],
)
def test_bad_values_are_reported_at_their_position(section: str, message: str) -> None:
    found = errors_of(section + "\n")
    assert any(line.startswith(message) for line in found), found


def test_ping_not_below_idle_is_a_warning() -> None:
    result = compiled("timeouts: {idle_s: 5, ping_s: 10}\n")
    assert result.table is not None
    assert [d.render().split(": ", 1)[1] for d in result.diagnostics] == [
        "warning: timeouts.ping_s: 10 s is not below idle_s (5 s): "
        "no keep-alive ping is sent before a silent stream is cut"
    ]


# --- random mutations never crash the compiler -------------------------------------------------------------

RESILIENT: dict[str, Any] = {
    "server": {"host": "127.0.0.1", "max_body_mb": 8},
    "providers": {"echo": {"kind": "echo"}},
    "model_categories": {"large": "echo/a", "small": "echo/b"},
    "retry": {"attempts": 4, "initial_backoff_ms": 100, "max_backoff_ms": 1000, "budget_s": 30},
    "timeouts": {"connect_s": 5, "first_byte_s": 120, "idle_s": 60, "ping_s": 5},
    "routes": [{"when": "tokens > 1k", "to": ["large", "small"], "retry": {"attempts": 1, "budget_s": 0}}],
}
ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**9), 10**9),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(
        st.sampled_from(["attempts", "idle_s", "x", "budget_s"]), st.integers(-5, 10**6), max_size=3
    ),
)


def _leaves(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _leaves(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _leaves(child, (*prefix, index))
    return found


def test_the_mutation_base_is_valid() -> None:
    result = compile_text(yaml.safe_dump(RESILIENT), "c.yaml")
    assert [d.render() for d in result.diagnostics] == []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_resilience_settings_never_crash_the_compiler(data: st.DataObject) -> None:
    doc = copy.deepcopy(RESILIENT)
    for _ in range(data.draw(st.integers(1, 3))):
        paths = [p for p in _leaves(doc) if p[0] in ("server", "retry", "timeouts", "routes")]
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        parent: Any = doc
        for step in path[:-1]:
            parent = parent[step]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(ODD)
    result = compile_text(yaml.safe_dump(doc, allow_unicode=True), "c.yaml")
    for diagnostic in result.diagnostics:
        assert "internal compiler error" not in diagnostic.message, diagnostic.render()
    assert (result.table is None) == any(d.level == "error" for d in result.diagnostics)
    if result.table is not None:
        table = result.table
        assert (
            1 <= table.retry.attempts <= 10 and table.retry.max_backoff_ms >= table.retry.initial_backoff_ms
        )
        assert min(table.timeouts.to_json().values()) > 0
        assert RoutingTable.from_json(json.loads(table.dumps())).dumps() == table.dumps()


def test_a_providers_max_in_flight_is_written_to_routes_json_only_when_given() -> None:
    text = BASE.replace("{kind: echo}", "{kind: echo, max_in_flight: 8}")
    table = compile_text(text, "t.yaml").table
    assert table is not None
    assert table.providers["echo"].max_in_flight == 8 and table.providers["echo"].in_flight_limit == 8
    assert json.loads(table.dumps())["providers"]["echo"]["max_in_flight"] == 8
    assert RoutingTable.from_json(json.loads(table.dumps())).dumps() == table.dumps()
    default = table_of("")
    assert "max_in_flight" not in json.loads(default.dumps())["providers"]["echo"]  # routes.json as before
    assert default.providers["echo"].in_flight_limit == MAX_IN_FLIGHT == 4096


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "t.yaml:2:37: error: providers.echo.max_in_flight: 0 is out of range"),
        ("100000", "t.yaml:2:37: error: providers.echo.max_in_flight: 100000 is out of range"),
        ("2.5", "t.yaml:2:37: error: providers.echo.max_in_flight: expected a whole number, got 2.5"),
        ("many", "t.yaml:2:37: error: providers.echo.max_in_flight: expected a whole number, got"),
    ],
)
def test_a_bad_max_in_flight_is_reported_at_its_position(value: str, message: str) -> None:
    text = f"providers:\n  echo: {{kind: echo, max_in_flight: {value}}}\nmodel_categories:\n  large: echo/a\n"
    result = compile_text(text + "  small: echo/b\n", "t.yaml")
    found = [d.render() for d in result.errors]
    assert result.table is None and any(line.startswith(message) for line in found), found
