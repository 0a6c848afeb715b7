"""The `claude-any` command as a user runs it: a real process (`python -m claude_any …`), its exit status,
what it prints, the files it writes, and (for `run`) the server it starts, reached with the official SDK."""

from __future__ import annotations

import json
import re
import socket
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest
from cli_process import (
    REPO,
    START_TIMEOUT_S,
    Running,
    assert_no_traceback,
    bare_env,
    claude_any,
    free_port,
    wait_until_listening,
)
from loopback import FIXTURES

EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))
QUICKSTART = REPO / "examples" / "quickstart.yaml"


# --- compile -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_compile_every_example(example: Path, tmp_path: Path) -> None:
    # Two compiles at once (the output path is not part of routes.json), to keep the test quick.
    outs = [tmp_path / "first" / "routes.json", tmp_path / "second" / "routes.json"]
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "claude_any", "compile", str(example.relative_to(REPO)), "-o", str(out)],
            cwd=REPO,
            env=bare_env(tmp_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for out in outs
    ]
    for run, out in zip(runs, outs, strict=True):
        stdout, stderr = run.communicate(timeout=START_TIMEOUT_S)
        assert run.returncode == 0, stderr
        assert stdout.startswith(f"wrote {out} (")
        assert stat.S_IMODE(out.stat().st_mode) == 0o600, "routes.json may hold inline secrets"
    first, second = (out.read_bytes() for out in outs)
    assert json.loads(first)["version"] == 1
    assert first == second, "compiling twice must give identical bytes"


BAD_CONFIG = """\
providers:
  openai: {api_key: "${OPENAI_API_KEY}", base_ulr: https://example.test/v1}
model_categories:
  large: openai/gpt-4o
  small: opnai/gpt-4o-mini
routes:
  - when: tokens > "many"
    to: large
"""


def test_compile_bad_config_reports_every_error_with_its_position(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(BAD_CONFIG, encoding="utf-8")
    out = tmp_path / "routes.json"

    result = claude_any("compile", str(config), "-o", str(out), home=tmp_path)

    assert result.returncode == 2
    assert_no_traceback(result)
    assert not out.exists(), "nothing is written when there are errors"
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    positioned = [line for line in errors if re.match(rf"^{re.escape(str(config))}:\d+:\d+: error: ", line)]
    assert len(positioned) == 3, result.stderr
    assert any(":2:" in line and "base_ulr" in line and "base_url" in line for line in positioned)
    assert any(":5:" in line and "opnai" in line for line in positioned)
    assert any(":7:" in line and "tokens" in line for line in positioned)
    assert result.stderr.rstrip().endswith("3 errors; nothing compiled")


# --- explain -----------------------------------------------------------------------------------------------


def test_explain_a_routable_model(tmp_path: Path) -> None:
    result = claude_any("explain", "claude-sonnet-4-6", "--config", "examples/quickstart.yaml", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "chain:  large" in result.stdout
    assert "echo-large" in result.stdout


def test_explain_an_unroutable_model_says_why(tmp_path: Path) -> None:
    result = claude_any("explain", "gpt-foo", "--config", "examples/quickstart.yaml", home=tmp_path)
    assert result.returncode == 2
    assert_no_traceback(result)
    assert "not routable: model 'gpt-foo' matches no route" in result.stdout
    assert "routable: large, small" in result.stdout


def test_explain_a_claude_code_request(tmp_path: Path) -> None:
    request = FIXTURES / "cc_tool_turn1_request.json"
    model = json.loads(request.read_text(encoding="utf-8"))["model"]
    result = claude_any(
        "explain", model, "--config", "examples/quickstart.yaml", "--request", str(request), home=tmp_path
    )
    assert result.returncode == 0, result.stderr
    facts = result.stdout.split("rules, in order")[0]
    assert 'family = "opus"' in facts and "thinking = true" in facts
    assert re.search(r"tools = \[.*\"Bash\"", facts), facts
    tokens = re.search(r"\btokens = ([\d,]+)", facts)
    assert tokens and int(tokens.group(1).replace(",", "")) > 1000, (
        "a Claude Code request is thousands of tokens"
    )


# --- run ---------------------------------------------------------------------------------------------------


@pytest.fixture
def quickstart(tmp_path: Path) -> Iterator[tuple[Running, str]]:
    port = free_port()
    server = Running(["examples/quickstart.yaml", "--port", str(port)], tmp_path)
    url = server.wait_for_line(r"serving (http://127\.0\.0\.1:\d+) ").group(1)
    assert url == f"http://127.0.0.1:{port}"
    wait_until_listening(url)
    yield server, url
    if server.proc.poll() is None:
        server.proc.kill()
        server.proc.communicate()


def test_run_quickstart_on_a_fresh_machine(quickstart: tuple[Running, str]) -> None:
    server, url = quickstart
    hint = server.wait_for_line(r"start Claude Code with: +(.*)").group(1)
    assert f"ANTHROPIC_BASE_URL={url}" in hint

    client = anthropic.Anthropic(base_url=url, api_key="unused", max_retries=0, timeout=10)
    prompt = [{"role": "user", "content": "hello from the CLI test"}]
    expected = (
        "echo from claude-any: model claude-sonnet-4-6 → target large (echo/echo-large). "
        'You said: "hello from the CLI test"'
    )
    created = client.messages.create(model="claude-sonnet-4-6", max_tokens=64, messages=prompt)  # type: ignore[arg-type]
    assert [b.text for b in created.content if b.type == "text"] == [expected]
    with client.messages.stream(model="claude-haiku-4-5", max_tokens=64, messages=prompt) as stream:  # type: ignore[arg-type]
        streamed = stream.get_final_message()
    assert streamed.content[0].type == "text"
    assert "model claude-haiku-4-5 → target small (echo/echo-small)" in streamed.content[0].text
    assert streamed.stop_reason == "end_turn"

    status, stderr = server.interrupt()
    assert status in (0, 130), stderr  # 130: the conventional status after Ctrl-C
    assert "Traceback" not in stderr
    assert len(re.findall(r"POST /v1/messages .* status=200 ", stderr)) == 2, "one log line per request"


def test_run_on_a_busy_port_fails_before_announcing(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = claude_any("run", "examples/quickstart.yaml", "--port", str(port), home=tmp_path)
    assert "serving" not in result.stdout, "no URL is announced that nothing listens on"
    assert result.returncode == 2
    assert_no_traceback(result)
    assert result.stderr.startswith("claude-any: error: ") and str(port) in result.stderr


def test_run_with_an_unset_variable_names_it(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "providers:\n"
        "  openai: {api_key: '${CLI_TEST_UNSET_KEY}'}\n"
        "model_categories:\n"
        "  large: openai/gpt-4o\n"
        "  small: openai/gpt-4o-mini\n",
        encoding="utf-8",
    )
    result = claude_any("run", str(config), "--port", str(free_port()), home=tmp_path)
    assert result.returncode == 2
    assert_no_traceback(result)
    assert "CLI_TEST_UNSET_KEY is not set" in result.stderr
    assert "providers.openai.api_key" in result.stderr


def test_run_refuses_routes_of_another_version(tmp_path: Path) -> None:
    routes = tmp_path / "routes.json"
    compiled = claude_any("compile", "examples/quickstart.yaml", "-o", str(routes), home=tmp_path)
    assert compiled.returncode == 0, compiled.stderr
    table = json.loads(routes.read_text(encoding="utf-8"))
    routes.write_text(json.dumps({**table, "version": 99}), encoding="utf-8")

    result = claude_any("run", str(routes), "--port", str(free_port()), home=tmp_path)

    assert result.returncode == 2
    assert_no_traceback(result)
    assert "version" in result.stderr and "99" in result.stderr


# --- code --------------------------------------------------------------------------------------------------


def test_code_without_claude_installed_says_how_to_install_it(tmp_path: Path) -> None:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    result = claude_any(
        "code", "--config", "examples/quickstart.yaml", "--", "-p", "hi", home=tmp_path, path=str(empty_bin)
    )
    assert result.returncode == 2
    assert_no_traceback(result)
    assert "npm install -g @anthropic-ai/claude-code" in result.stderr
    assert "CLAUDE_ANY_CLAUDE" in result.stderr


def test_run_with_two_workers_serves_and_logs(tmp_path: Path) -> None:
    port = free_port()
    server = Running(["examples/quickstart.yaml", "--port", str(port), "--workers", "2"], tmp_path)
    try:
        url = server.wait_for_line(r"serving (http://127\.0\.0\.1:\d+) ").group(1)
        wait_until_listening(url)  # worker processes start after the socket is bound
        body = {"model": "claude-haiku-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "w"}]}
        for _ in range(4):
            answer = httpx.post(url + "/v1/messages", json=body, timeout=10)
            assert answer.status_code == 200 and "target small" in answer.text
    finally:
        status, stderr = server.interrupt()
    assert "Traceback" not in stderr
    assert len(re.findall(r"POST /v1/messages .* status=200 ", stderr)) == 4, stderr


# --- request templates -------------------------------------------------------------------------------------


def test_compile_refuses_template_bombs_with_their_positions(tmp_path: Path) -> None:
    config = "tests/compiler/configs/template_bombs.yaml"  # include, import, extends, range(10**9), ...
    result = claude_any("compile", config, "-o", str(tmp_path / "routes.json"), home=tmp_path)
    assert result.returncode == 2
    assert_no_traceback(result)
    positions = re.findall(rf"^{re.escape(config)}:(\d+:\d+): error: ", result.stderr, flags=re.M)
    assert positions == ["5:22", "6:21", "7:22", "8:20", "9:25", "12:19", "13:22", "16:20", "19:56"]
    assert "`{% include %}` is not allowed" in result.stderr
    assert "range of 1,000,000,000 items" in result.stderr
    assert result.stderr.rstrip().endswith("9 errors; nothing compiled")


LOCAL_CONFIG = """\
providers:
  local: {kind: openai, base_url: http://127.0.0.1:9/v1}
  corp: {kind: template, template: corp.j2, settings: {base_url: https://gw.example}}
model_categories:
  large: local/qwen3
  small: corp/small
"""
CORP_TEMPLATE = '{% set url = settings.base_url ~ "/chat/completions" %}\n'


def _hand_edited_routes(tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    (tmp_path / "config.yaml").write_text(LOCAL_CONFIG, encoding="utf-8")
    (tmp_path / "corp.j2").write_text(CORP_TEMPLATE, encoding="utf-8")
    routes = tmp_path / "routes.json"
    compiled = claude_any("compile", str(tmp_path / "config.yaml"), "-o", str(routes), home=tmp_path)
    assert compiled.returncode == 0, compiled.stderr
    table = json.loads(routes.read_text(encoding="utf-8"))
    edit(table)
    routes.write_text(json.dumps(table), encoding="utf-8")
    return routes


def _include_header(table: dict[str, Any]) -> None:
    table["providers"]["local"]["headers"] = {"X-Team": "{% include 'secrets.txt' %}"}


def _range_body(table: dict[str, Any]) -> None:
    table["providers"]["local"]["body"] = {"user": "{{ range(10**9) | length }}"}


def _broken_kind_template(table: dict[str, Any]) -> None:
    table["providers"]["corp"]["template"]["source"] = CORP_TEMPLATE + "{% set headers = {'A': %}\n"


def _unknown_kind(table: dict[str, Any]) -> None:
    table["providers"]["local"]["kind"] = "nosuch"


BAD_ROUTES = {
    "include": (_include_header, "providers.local.headers.X-Team: `{% include %}` is not allowed"),
    "range": (_range_body, "providers.local.body.user: range of 1,000,000,000 items"),
    "kind-template": (_broken_kind_template, "corp.j2:2): unexpected '%'"),
    "unknown-kind": (_unknown_kind, "providers.local: unknown provider kind 'nosuch'"),
}


@pytest.mark.parametrize("case", sorted(BAD_ROUTES))
def test_run_stops_on_a_hand_edited_routes_json_with_a_bad_template(case: str, tmp_path: Path) -> None:
    edit, message = BAD_ROUTES[case]
    routes = _hand_edited_routes(tmp_path, edit)
    result = claude_any("run", str(routes), "--port", str(free_port()), home=tmp_path)
    assert result.returncode == 2
    assert_no_traceback(result)
    assert "serving" not in result.stdout
    assert result.stderr.startswith("claude-any: error: providers."), result.stderr
    assert message in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr


@pytest.mark.parametrize("case", sorted(BAD_ROUTES))
def test_explain_says_a_hand_edited_template_is_broken(case: str, tmp_path: Path) -> None:
    edit, message = BAD_ROUTES[case]
    routes = _hand_edited_routes(tmp_path, edit)
    model = "small" if case == "kind-template" else "large"
    result = claude_any("explain", model, "--routes", str(routes), home=tmp_path)
    assert result.returncode == 2
    assert_no_traceback(result)
    assert message in result.stderr, result.stderr
