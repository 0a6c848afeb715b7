"""Hot reload of the routing table: `claude-any run` as a child process against the fake provider, the config
edited (or SIGHUP sent) while it serves, streams in flight finishing on the table they started with."""

from __future__ import annotations

import logging
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_process import START_TIMEOUT_S, Running, claude_any, free_port, wait_until_listening
from loopback import DONE, FakeUpstream, Recorded, Reply, ThreadServer, make_table, openai_provider, target

from claude_any.runtime.serve.app import create_app
from claude_any.runtime.serve.gateway import Gateway
from claude_any.runtime.serve.table_source import (
    TableReload,
    TableSource,
    describe_changes,
    load_routes_json,
    settle,
)
from claude_any.table import RoutingTable

CONFIG = """\
providers:
  fake: {{kind: openai, base_url: {url}/v1, api_key: ${{FAKE_KEY}}}}
model_categories:
  large: fake/{large}
  small: fake/gpt-4o-mini
"""
ENV = {"FAKE_KEY": "sk-fake-reload"}
SONNET = {"model": "claude-sonnet-4-6", "max_tokens": 64, "stream": True}


def _answer_naming_the_model(pause_s: float = 0.0, pieces: int = 1) -> Any:
    """A responder: a chat stream whose text names the model it was asked for, in `pieces` parts,
    `pause_s` apart when the request says "slow" (a slow stream spans a reload)."""

    def reply(recorded: Recorded) -> Reply:
        model = recorded.body["model"]
        pause = pause_s if "slow" in str(recorded.body["messages"]) else 0.0
        chunks: list[Any] = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
        for index in range(pieces):
            chunks += [pause, {"choices": [{"index": 0, "delta": {"content": f"[{index}:{model}]"}}]}]
        chunks += [{"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}, DONE]
        return Reply(chunks=chunks)

    return reply


@dataclass
class Streamed:
    started: float  # before the request was sent
    first_event: float  # when message_start arrived: the request had taken its gateway
    ended: float
    models: set[str]  # the upstream models named in the text
    complete: bool  # ended with message_stop, no error event


def _stream(url: str, text: str = "hi") -> Streamed:
    started = time.monotonic()
    first_event = 0.0
    lines: list[str] = []
    body = {**SONNET, "messages": [{"role": "user", "content": text}]}
    with httpx.stream("POST", url + "/v1/messages", json=body, timeout=30) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if not first_event and line.startswith("event: message_start"):
                first_event = time.monotonic()
            lines.append(line)
    joined = "\n".join(lines)
    complete = lines[-2:] == ["event: message_stop", 'data: {"type":"message_stop"}'] or (
        "event: message_stop" in joined and "event: error" not in joined
    )
    models = set(re.findall(r"\[\d+:([\w.-]+)\]", joined))
    return Streamed(started, first_event, time.monotonic(), models, complete)


def _write_like_an_editor(path: Path, text: str) -> None:
    """Saved as many editors save: a new file renamed over the old one."""
    scratch = path.with_name(path.name + ".swp")
    scratch.write_text(text, encoding="utf-8")
    os.replace(scratch, path)


def _wait_for_log(log: Path, pattern: str, count: int = 1) -> str:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        text = log.read_text(encoding="utf-8") if log.exists() else ""
        if len(re.findall(pattern, text)) >= count:
            return text
        time.sleep(0.05)
    raise AssertionError(f"no {count} log lines matching {pattern!r}:\n{text}")


@pytest.fixture
def served(upstream: FakeUpstream, tmp_path: Path) -> Iterator[Any]:
    """Start `claude-any run PATH ARGS…`; yields a starter returning (url, process); stops them all."""
    running: list[Running] = []

    def start(path: Path, *args: str) -> tuple[str, Running]:
        port = free_port()
        log = tmp_path / "gateway.log"
        server = Running([str(path), "--port", str(port), "--log-file", str(log), *args], tmp_path, env=ENV)
        running.append(server)
        url = server.wait_for_line(r"serving (http://127\.0\.0\.1:\d+) ").group(1)
        wait_until_listening(url)
        return url, server

    upstream.responder = _answer_naming_the_model()
    yield start
    for server in running:
        status, stderr = server.interrupt()
        assert "Traceback" not in stderr


def _asked_for(upstream: FakeUpstream) -> list[str]:
    return [r.body["model"] for r in upstream.requests if r.path == "/v1/chat/completions"]


# --- the file watched, SIGHUP ------------------------------------------------------------------------------


def test_an_edited_config_is_served_without_a_restart(
    served: Any, upstream: FakeUpstream, tmp_path: Path
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(url=upstream.url, large="gpt-4o"), encoding="utf-8")
    url, _ = served(config)
    assert _stream(url).models == {"gpt-4o"}
    _write_like_an_editor(config, CONFIG.format(url=upstream.url, large="gpt-4.1"))
    log = _wait_for_log(tmp_path / "gateway.log", r"reloaded .*config\.yaml: 1 target changed")
    assert _stream(url).models == {"gpt-4.1"}
    assert _asked_for(upstream) == ["gpt-4o", "gpt-4.1"]
    assert "sk-fake-reload" not in log


def test_sighup_reads_routes_json_again(served: Any, upstream: FakeUpstream, tmp_path: Path) -> None:
    config, routes = tmp_path / "config.yaml", tmp_path / "routes.json"
    config.write_text(CONFIG.format(url=upstream.url, large="gpt-4o"), encoding="utf-8")
    assert claude_any("compile", str(config), "-o", str(routes), home=tmp_path).returncode == 0
    url, server = served(routes)
    assert _stream(url).models == {"gpt-4o"}
    config.write_text(CONFIG.format(url=upstream.url, large="gpt-4.1"), encoding="utf-8")
    assert claude_any("compile", str(config), "-o", str(routes), home=tmp_path).returncode == 0
    server.proc.send_signal(signal.SIGHUP)
    _wait_for_log(tmp_path / "gateway.log", r"reloaded .*routes\.json: 1 target changed")
    assert _stream(url).models == {"gpt-4.1"}
    assert server.proc.poll() is None


def test_a_broken_edit_is_refused_with_its_diagnostics_and_the_table_kept(
    served: Any, upstream: FakeUpstream, tmp_path: Path
) -> None:
    config, log = tmp_path / "config.yaml", tmp_path / "gateway.log"
    config.write_text(CONFIG.format(url=upstream.url, large="gpt-4o"), encoding="utf-8")
    url, _ = served(config)
    broken = CONFIG.format(url=upstream.url, large="gpt-4.1").replace(
        "fake/gpt-4.1", "{target: fake/gpt-4.1, bogus: 1}"
    )
    _write_like_an_editor(config, broken)
    text = _wait_for_log(log, r"not reloaded")
    assert re.search(r"config\.yaml:4:\d+: error: unknown key 'bogus' in model_categories\.large", text), text
    assert _stream(url).models == {"gpt-4o"}
    # A variable that is not set refuses it too, named, never a value.
    unset = CONFIG.format(url=upstream.url, large="gpt-4.1").replace("${FAKE_KEY}", "${RELOAD_UNSET_KEY}")
    _write_like_an_editor(config, unset)
    text = _wait_for_log(log, r"not reloaded", count=2)
    assert "RELOAD_UNSET_KEY" in text
    assert _stream(url).models == {"gpt-4o"}
    _write_like_an_editor(config, CONFIG.format(url=upstream.url, large="gpt-4.1"))
    _wait_for_log(log, r"reloaded .*config\.yaml: ")
    assert _stream(url).models == {"gpt-4.1"}


def test_what_needs_a_restart_is_named_and_the_rest_applies(
    served: Any, upstream: FakeUpstream, tmp_path: Path
) -> None:
    config, log = tmp_path / "config.yaml", tmp_path / "gateway.log"
    config.write_text(CONFIG.format(url=upstream.url, large="gpt-4o"), encoding="utf-8")
    url, _ = served(config)
    moved = CONFIG.format(url=upstream.url, large="gpt-4.1") + "server: {port: 9999}\n"
    _write_like_an_editor(config, moved)
    text = _wait_for_log(log, r"reloaded .*config\.yaml: ")
    assert "server.port changed: takes effect at the next start" in text
    assert _stream(url).models == {"gpt-4.1"}  # still on the port it started on


# --- under load --------------------------------------------------------------------------------------------


def test_streams_across_two_reloads_all_complete_on_the_table_they_began_with(
    served: Any, upstream: FakeUpstream, tmp_path: Path
) -> None:
    config, log = tmp_path / "config.yaml", tmp_path / "gateway.log"
    config.write_text(CONFIG.format(url=upstream.url, large="gpt-4o"), encoding="utf-8")
    upstream.responder = _answer_naming_the_model(pause_s=0.4, pieces=8)  # about 3 s a stream
    url, _ = served(config)
    results: list[Streamed] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            try:
                results.append(_stream(url, "slow"))
            except BaseException as exc:  # every failure is the test's business
                failures.append(exc)

    clients = [threading.Thread(target=client) for _ in range(4)]
    for thread in clients:
        thread.start()
    edits: list[tuple[float, float]] = []  # (written, reload seen in the log)
    try:
        time.sleep(0.5)  # every client has a stream under way
        for count, model in enumerate(("gpt-4.1", "gpt-4o-mini"), start=1):
            written = time.monotonic()
            _write_like_an_editor(config, CONFIG.format(url=upstream.url, large=model))
            _wait_for_log(log, r"reloaded .*config\.yaml: ", count=count)
            edits.append((written, time.monotonic()))
            time.sleep(4.0)  # streams begun after this reload have ended
    finally:
        stop.set()
        for thread in clients:
            thread.join(timeout=START_TIMEOUT_S)
    assert not failures, failures
    assert results and all(r.complete and len(r.models) == 1 for r in results), results
    (first_written, first_seen), (second_written, second_seen) = edits
    for r in results:
        (model,) = r.models
        if r.first_event < first_written:
            assert model == "gpt-4o", r
        elif second_seen < r.started:
            assert model == "gpt-4o-mini", r
        elif first_seen < r.started and r.first_event < second_written:
            assert model == "gpt-4.1", r
    spanning = [r for r in results if r.first_event < first_written and r.ended > first_seen]
    assert spanning, "no stream was in flight across the reload"
    assert {"gpt-4o", "gpt-4.1", "gpt-4o-mini"} <= {m for r in results for m in r.models}


# --- --workers ---------------------------------------------------------------------------------------------


def test_sighup_reloads_every_worker_in_place(served: Any, upstream: FakeUpstream, tmp_path: Path) -> None:
    config, log = tmp_path / "config.yaml", tmp_path / "gateway.log"
    config.write_text(CONFIG.format(url=upstream.url, large="gpt-4o"), encoding="utf-8")
    upstream.responder = _answer_naming_the_model(pause_s=0.5, pieces=4)
    url, server = served(config, "--workers", "2", "--log-level", "debug")
    in_flight: list[Streamed] = []
    streams = [threading.Thread(target=lambda: in_flight.append(_stream(url, "slow"))) for _ in range(4)]
    for thread in streams:
        thread.start()
    time.sleep(0.5)
    # Not written as an editor would: the file's change is for SIGHUP to find, and the watch too, so both
    # reach the same table; the supervisor logs once per change, each worker once.
    config.write_text(CONFIG.format(url=upstream.url, large="gpt-4.1"), encoding="utf-8")
    server.proc.send_signal(signal.SIGHUP)
    # Each worker's line names the file the user edited, not the supervisor's private routes.json.
    text = _wait_for_log(log, rf"DEBUG .*reloaded {re.escape(str(config))}: 1 target changed", count=2)
    after = [_stream(url, text=f"after {i}") for i in range(8)]
    for thread in streams:
        thread.join(timeout=START_TIMEOUT_S)
    assert all(r.complete and r.models == {"gpt-4o"} for r in in_flight) and len(in_flight) == 4, in_flight
    assert all(r.complete and r.models == {"gpt-4.1"} for r in after), after
    assert server.proc.poll() is None
    assert "routes.json" not in text, text


def test_a_reloads_warnings_are_logged_only_when_they_change(
    served: Any, upstream: FakeUpstream, tmp_path: Path
) -> None:
    config, log = tmp_path / "config.yaml", tmp_path / "gateway.log"
    unknown = CONFIG.replace("fake/gpt-4o-mini", "fake/{small}")  # not in the capability table: a warning
    config.write_text(unknown.format(url=upstream.url, large="gpt-4o", small="llama3.2"), encoding="utf-8")
    url, _ = served(config)
    _write_like_an_editor(config, unknown.format(url=upstream.url, large="gpt-4.1", small="llama3.2"))
    _wait_for_log(log, r"reloaded .*config\.yaml: 1 target changed")
    _write_like_an_editor(config, unknown.format(url=upstream.url, large="gpt-4o", small="llama3.2"))
    text = _wait_for_log(log, r"reloaded .*config\.yaml: 1 target changed", count=2)
    assert len(re.findall(r"model 'llama3\.2' is not in the capability table", text)) == 1, text
    assert f"{config}: the 1 warning logged before still holds" in text
    _write_like_an_editor(config, unknown.format(url=upstream.url, large="gpt-4o", small="qwen-odd"))
    text = _wait_for_log(log, r"model 'qwen-odd' is not in the capability table")
    assert len(re.findall(r"model 'llama3\.2' is not in the capability table", text)) == 1, text
    assert _stream(url).models == {"gpt-4o"}


# --- in one process: the old gateway closed after its last stream ------------------------------------------


def test_a_replaced_gateways_clients_close_after_its_last_stream(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    provider = openai_provider(upstream.url + "/v1", name="fake")
    table = make_table(
        [provider], [target("large", provider, "gpt-4o"), target("small", provider, "gpt-4o-mini")]
    )
    routes = tmp_path / "routes.json"
    routes.write_text(table.dumps(), encoding="utf-8")
    source = TableSource(str(routes), load_routes_json, watched=True)
    app = create_app(table, ENV | {"OPENAI_API_KEY": "sk-test"}, reload=TableReload(source, table, table))
    upstream.responder = _answer_naming_the_model(pause_s=0.8, pieces=3)
    server = ThreadServer(app).start()
    try:
        old: Gateway = app.state.gateway
        stream: list[Streamed] = []
        thread = threading.Thread(target=lambda: stream.append(_stream(server.url, "slow")))
        thread.start()
        client = old.clients.get("fake")  # made at start-up
        _until(lambda: len(upstream.requests) == 1)
        renamed = replace(table.targets["large"], model="gpt-4.1")
        routes.write_text(
            replace(table, targets={**table.targets, "large": renamed}).dumps(), encoding="utf-8"
        )
        _until(lambda: app.state.gateway is not old)
        assert not client.is_closed  # its stream is still being answered
        thread.join(timeout=START_TIMEOUT_S)
        assert stream[0].complete and stream[0].models == {"gpt-4o"}
        _until(lambda: client.is_closed)
        assert _stream(server.url).models == {"gpt-4.1"}
    finally:
        server.stop()


def _until(condition: Any) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not condition():
        assert time.monotonic() < deadline, "condition never met"
        time.sleep(0.02)


# --- the parts: change summary, settling, the watch ------------------------------------------------------


def _table(large: str, **server: Any) -> RoutingTable:
    provider = openai_provider("http://127.0.0.1:9/v1", name="fake")
    table = make_table(
        [provider], [target("large", provider, large), target("small", provider, "gpt-4o-mini")]
    )
    return replace(table, server=replace(table.server, **server))


def test_the_change_summary_counts_what_changed() -> None:
    old, new = _table("gpt-4o"), _table("gpt-4.1")
    assert describe_changes(old, new) == "1 target changed"
    assert describe_changes(old, replace(old, routes=old.routes[:-1])) == "1 route removed"
    assert describe_changes(old, _table("gpt-4o", max_body_mb=1)) == "server settings changed"


def test_settling_keeps_the_bound_address_and_names_what_needs_a_restart() -> None:
    started = _table("gpt-4o", port=8082)
    serving = replace(started, server=replace(started.server, port=40123))  # run --port 0
    table, later = settle(started, serving, _table("gpt-4.1", port=9000, max_connections=10))
    assert (table.server.port, table.server.max_connections) == (40123, started.server.max_connections)
    assert later == [
        "server.port changed: takes effect at the next start",
        "server.max_connections changed: takes effect at the next start",
    ]
    assert settle(started, serving, _table("gpt-4.1"))[1] == []


def test_a_touch_is_no_change_and_a_renamed_save_is(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("a: 1\n", encoding="utf-8")
    source = TableSource(str(path), load_routes_json, watched=True)
    os.utime(path, (time.time() + 5, time.time() + 5))
    assert not source.changed()
    _write_like_an_editor(path, "a: 2\n")
    assert source.changed()
    path.unlink()  # between an editor's delete and its write: wait for the file
    assert not source.changed()


def test_a_reload_that_drops_the_token_off_loopback_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, propagating: None
) -> None:
    guarded = replace(_table("gpt-4o"), server=replace(_table("gpt-4o").server, auth_token="${TOKEN}"))
    serving = replace(guarded, server=replace(guarded.server, host="0.0.0.0"))
    routes = tmp_path / "routes.json"
    routes.write_text(_table("gpt-4.1").dumps(), encoding="utf-8")  # no auth_token
    reload = TableReload(TableSource(str(routes), load_routes_json, watched=False), guarded, serving)
    assert reload.prepare(lambda table: table) is None
    assert "server.auth_token is gone, and the gateway listens on 0.0.0.0" in caplog.text
    assert reload.serving is serving


def test_a_change_that_needs_a_restart_alone_is_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, propagating: None
) -> None:
    started = _table("gpt-4o")
    routes = tmp_path / "routes.json"
    routes.write_text(_table("gpt-4o", port=9000).dumps(), encoding="utf-8")
    reload = TableReload(TableSource(str(routes), load_routes_json, watched=False), started, started)
    assert reload.prepare(lambda table: table) is None  # nothing else changed: nothing to swap
    assert "server.port changed: takes effect at the next start" in caplog.text


def test_a_change_waiting_for_a_restart_is_warned_once_then_recalled(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, propagating: None
) -> None:
    caplog.set_level(logging.INFO, "claude_any")
    started = _table("gpt-4o")
    routes = tmp_path / "routes.json"
    routes.write_text(_table("gpt-4.1", port=9000).dumps(), encoding="utf-8")
    reload = TableReload(TableSource(str(routes), load_routes_json, watched=False), started, started)
    for model in ("gpt-4.1", "gpt-4o-mini"):  # two reloads, each with something to apply
        routes.write_text(_table(model, port=9000).dumps(), encoding="utf-8")
        prepared = reload.prepare(lambda table: table)
        assert prepared is not None
        reload.commit(prepared[0])
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == ["server.port changed: takes effect at the next start"]
    assert f"{routes}: the 1 change logged before still waits for the next start" in caplog.text
    routes.write_text(_table("gpt-4.1", port=9000, max_connections=10).dumps(), encoding="utf-8")
    prepared = reload.prepare(lambda table: table)  # one more change waiting: both are warned again
    assert prepared is not None
    reload.commit(prepared[0])
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings[1:] == [
        "server.port changed: takes effect at the next start",
        "server.max_connections changed: takes effect at the next start",
    ]
