"""The `claude-any` command as a user runs it: a real process (`python -m claude_any …`), its exit status,
what it prints, the files it writes, and (for `run`) the server it starts, reached with the official SDK."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
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
    assert json.loads(first)["version"] == 2
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


# --- code: what Claude Code is started with (a fake `claude` on PATH records it) ---------------------------

FAKE_CLAUDE = """\
#!{python}
import json, os, signal, sys, time, urllib.request
out = os.environ["FAKE_CLAUDE_OUT"]
def record(**extra):
    with open(out, "w") as fh:
        json.dump({{"env": dict(os.environ), "args": sys.argv[1:], **extra}}, fh)
record()
session = os.environ.get("FAKE_CLAUDE_SESSION")
if session:  # one request through the gateway, as Claude Code sends them
    hello = [{{"role": "user", "content": "hi"}}]
    body = {{"model": "claude-sonnet-4-6", "max_tokens": 32, "messages": hello}}
    request = urllib.request.Request(
        os.environ["ANTHROPIC_BASE_URL"] + "/v1/messages", data=json.dumps(body).encode(), headers={{
            "authorization": "Bearer " + os.environ["ANTHROPIC_AUTH_TOKEN"],
            "content-type": "application/json", "x-claude-code-session-id": session}})
    urllib.request.urlopen(request, timeout=10).read()
if os.environ.get("FAKE_CLAUDE_WAIT"):  # wait for a signal, and say which one came
    def stop(signum, frame):
        record(signal=signum)
        sys.exit(40 + signum)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    record(ready=True)
    time.sleep(60)
sys.exit(int(os.environ.get("FAKE_CLAUDE_EXIT", "0")))
"""

OPENAI_CONFIG = """\
providers:
  openai: {api_key: "${OPENAI_API_KEY}"}
model_categories:
  large: openai/gpt-4o
  small: openai/gpt-4o-mini
"""


@pytest.fixture
def fake_claude(tmp_path: Path) -> Path:
    """A `claude` on PATH that records its environment and arguments in the file $FAKE_CLAUDE_OUT."""
    folder = tmp_path / "fake-bin"
    folder.mkdir()
    script = folder / "claude"
    script.write_text(FAKE_CLAUDE.format(python=sys.executable), encoding="utf-8")
    script.chmod(0o755)
    return folder


def code(
    tmp_path: Path, fake_claude: Path, *args: str, **env: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """`claude-any code ARGS` with the fake claude first on PATH; its exit and what claude was given."""
    out = tmp_path / "claude-saw.json"
    path = f"{fake_claude}{os.pathsep}{os.environ.get('PATH', '')}"
    result = subprocess.run(
        [sys.executable, "-m", "claude_any", "code", *args],
        cwd=REPO,
        env={**bare_env(tmp_path, path), "FAKE_CLAUDE_OUT": str(out), **env},
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
    )
    saw = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
    return result, saw


def test_code_gives_claude_code_the_settings_its_targets_need(tmp_path: Path, fake_claude: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(OPENAI_CONFIG, encoding="utf-8")
    result, saw = code(
        tmp_path,
        fake_claude,
        "--config",
        str(config),
        "--",
        "-p",
        "hi",
        OPENAI_API_KEY="sk-test",
        ANTHROPIC_API_KEY="sk-ant-users-own",
        FAKE_CLAUDE_EXIT="3",
    )
    assert result.returncode == 3, result.stderr  # Claude Code's exit status, passed through
    assert_no_traceback(result)
    env = saw["env"]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", env["ANTHROPIC_BASE_URL"])
    assert len(env["ANTHROPIC_AUTH_TOKEN"]) >= 32  # the one-time token
    assert "ANTHROPIC_API_KEY" not in env  # the user's own key is neither sent nor prompted for
    settings = {k: v for k, v in env.items() if k.startswith("CLAUDE_CODE_")}
    assert settings == {
        "CLAUDE_CODE_AUTO_COMPACT_WINDOW": "128000",  # gpt-4o's window, not the 1M Claude Code assumes
        "CLAUDE_CODE_MAX_CONTEXT_TOKENS": "128000",
        "CLAUDE_CODE_MAX_OUTPUT_TOKENS": "16384",
        "CLAUDE_CODE_DISABLE_NONSTREAMING_FALLBACK": "1",
        "CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY": "1",
        "CLAUDE_CODE_GATEWAY_HINT_HEADERS": "1",
    }
    # The status line, through --settings (the user's files are not touched), then the user's arguments.
    assert saw["args"][0] == "--settings" and saw["args"][2:] == ["-p", "hi"]
    status_line = json.loads(saw["args"][1])["statusLine"]
    assert status_line == {
        "type": "command",
        "command": f"{sys.executable} -P -m claude_any statusline",
        "padding": 0,
    }
    assert not (tmp_path / ".claude").exists()


def test_code_keeps_what_the_user_exported_and_their_status_line(tmp_path: Path, fake_claude: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(OPENAI_CONFIG, encoding="utf-8")
    (tmp_path / ".claude").mkdir()
    (tmp_path / ".claude" / "settings.json").write_text('{"statusLine": {"type": "command", "command": "x"}}')
    result, saw = code(
        tmp_path,
        fake_claude,
        "--config",
        str(config),
        "--",
        "-p",
        "hi",
        OPENAI_API_KEY="sk-test",
        CLAUDE_CODE_MAX_OUTPUT_TOKENS="4000",
        CLAUDE_CODE_DISABLE_NONSTREAMING_FALLBACK="0",
    )
    assert result.returncode == 0, result.stderr
    assert saw["env"]["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == "4000"
    assert saw["env"]["CLAUDE_CODE_DISABLE_NONSTREAMING_FALLBACK"] == "0"
    assert saw["env"]["CLAUDE_CODE_AUTO_COMPACT_WINDOW"] == "128000"
    assert saw["args"] == ["-p", "hi"]  # the user's status line stays theirs


def test_code_leaves_the_settings_to_a_user_who_passes_their_own(tmp_path: Path, fake_claude: Path) -> None:
    result, saw = code(
        tmp_path, fake_claude, "--config", str(QUICKSTART), "--", "--settings", "{}", "-p", "hi"
    )
    assert result.returncode == 0, result.stderr
    assert saw["args"] == ["--settings", "{}", "-p", "hi"]


@pytest.mark.parametrize("claude_args", [["-p", "hi"], ["--print", "hi"], ["hello"]])
def test_code_says_claude_codes_arguments_go_after_a_double_dash(
    tmp_path: Path, fake_claude: Path, claude_args: list[str]
) -> None:
    result, saw = code(tmp_path, fake_claude, "--config", str(QUICKSTART), *claude_args)
    assert result.returncode == 2
    assert_no_traceback(result)
    shown = " ".join(claude_args)
    assert result.stderr.splitlines()[-1] == (
        f"claude-any code: error: unrecognized arguments: {shown}; Claude Code's arguments go after `--`, "
        f"as in: claude-any code -- {shown}"
    )
    assert saw == {}, "Claude Code was not started"


def test_code_takes_routes_and_a_port(tmp_path: Path, fake_claude: Path) -> None:
    routes = tmp_path / "routes.json"
    compiled = claude_any("compile", "examples/quickstart.yaml", "-o", str(routes), home=tmp_path)
    assert compiled.returncode == 0, compiled.stderr
    port = free_port()
    result, saw = code(tmp_path, fake_claude, "--routes", str(routes), "--port", str(port), "--", "-p", "x")
    assert result.returncode == 0, result.stderr
    assert saw["env"]["ANTHROPIC_BASE_URL"] == f"http://127.0.0.1:{port}"


def test_code_on_a_busy_port_says_so(tmp_path: Path, fake_claude: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result, saw = code(tmp_path, fake_claude, "--config", str(QUICKSTART), "--port", str(port))
    assert result.returncode == 2
    assert_no_traceback(result)
    assert result.stderr.startswith(f"claude-any: error: cannot listen on 127.0.0.1:{port}: ")
    assert saw == {}


def test_code_in_an_empty_folder_suggests_options_it_takes(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "claude_any", "code", "--routes", "nothing.json"],
        cwd=tmp_path,
        env=bare_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
    )
    assert result.returncode == 2
    assert result.stderr == "claude-any: error: nothing.json: cannot read: No such file or directory\n"
    empty = subprocess.run(
        [sys.executable, "-m", "claude_any", "code"],
        cwd=tmp_path,
        env=bare_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
    )
    assert empty.returncode == 2
    assert "pass --config CONFIG or --routes ROUTES" in empty.stderr


def test_code_sums_up_the_session_and_says_how_to_resume_it(tmp_path: Path, fake_claude: Path) -> None:
    session = "0b7f1c1e-6d1c-4cf3-9c45-0e6bbbf0f1a2"
    result, _ = code(
        tmp_path,
        fake_claude,
        "--config",
        "examples/quickstart.yaml",
        "--",
        "-p",
        "hi",
        FAKE_CLAUDE_SESSION=session,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert re.fullmatch(
        rf"claude-any: session {session}: large → echo/echo-large · in \d+ out \d+ · cache 0% · \$0\.00 "
        r"· 1 request",
        lines[-2],
    ), lines
    assert lines[-1] == (
        f"claude-any: resume it with: claude-any code --config examples/quickstart.yaml -- --resume {session}"
    )
    log = re.search(r"\(log: (\S+)\)", result.stderr)
    assert log and "POST /v1/messages" in Path(log[1]).read_text(encoding="utf-8")


def test_code_log_level_quiets_the_request_log(tmp_path: Path, fake_claude: Path) -> None:
    result, _ = code(
        tmp_path,
        fake_claude,
        "--config",
        str(QUICKSTART),
        "--log-level",
        "warning",
        "--",
        "-p",
        "hi",
        FAKE_CLAUDE_SESSION="s-1",
    )
    assert result.returncode == 0, result.stderr
    log = re.search(r"\(log: (\S+)\)", result.stderr)
    assert log and Path(log[1]).read_text(encoding="utf-8") == ""


def test_code_log_format_json_writes_the_request_as_its_usage_record(
    tmp_path: Path, fake_claude: Path
) -> None:
    args = ["--config", str(QUICKSTART), "--log-format", "json", "--", "-p", "hi"]
    result, _ = code(tmp_path, fake_claude, *args, FAKE_CLAUDE_SESSION="s-1")
    assert result.returncode == 0, result.stderr
    log = re.search(r"\(log: (\S+)\)", result.stderr)
    assert log
    entries = [json.loads(line) for line in Path(log[1]).read_text(encoding="utf-8").splitlines()]
    request = next(entry for entry in entries if entry.get("path") == "/v1/messages")
    assert (request["status"], request["target"], request["level"]) == (200, "large", "info")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_code_forwards_a_stop_signal_to_claude_code(tmp_path: Path, fake_claude: Path, signum: int) -> None:
    out = tmp_path / "claude-saw.json"
    path = f"{fake_claude}{os.pathsep}{os.environ.get('PATH', '')}"
    launcher = subprocess.Popen(
        [sys.executable, "-m", "claude_any", "code", "--config", str(QUICKSTART), "--", "-p", "hi"],
        cwd=REPO,
        env={**bare_env(tmp_path, path), "FAKE_CLAUDE_OUT": str(out), "FAKE_CLAUDE_WAIT": "1"},
        stdin=subprocess.DEVNULL,  # no terminal: nothing else delivers a Ctrl-C to Claude Code
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (out.exists() and json.loads(out.read_text() or "{}").get("ready")):
            assert launcher.poll() is None and time.monotonic() < deadline, launcher.communicate()
            time.sleep(0.05)
        launcher.send_signal(signum)
        _, stderr = launcher.communicate(timeout=START_TIMEOUT_S)
    finally:
        launcher.kill()
    assert json.loads(out.read_text())["signal"] == signum
    assert launcher.returncode == 40 + signum, stderr  # Claude Code's own exit status
    assert "Traceback" not in stderr


def test_print_env_prints_shell_lines_and_never_the_token(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        OPENAI_CONFIG + "server: {port: 9100, auth_token: '${CLAUDE_ANY_TOKEN}'}\n", encoding="utf-8"
    )
    env = {
        **bare_env(tmp_path),
        "CLAUDE_ANY_TOKEN": "tok-never-shown",
        "CLAUDE_CODE_MAX_OUTPUT_TOKENS": "9000",
    }
    result = subprocess.run(
        [sys.executable, "-m", "claude_any", "code", "--config", str(config), "--print-env"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
    )
    assert result.returncode == 0, result.stderr
    assert "tok-never-shown" not in result.stdout + result.stderr
    settings = json.dumps(
        {
            "statusLine": {
                "type": "command",
                "command": f"{sys.executable} -P -m claude_any statusline",
                "padding": 0,
            }
        }
    )
    assert result.stdout.splitlines() == [
        f"# Claude Code through claude-any: start the gateway with `claude-any run {config}`,",
        "# then eval these lines in the shell you start `claude` from.",
        "export ANTHROPIC_BASE_URL=http://127.0.0.1:9100",
        'export ANTHROPIC_AUTH_TOKEN="$CLAUDE_ANY_TOKEN"  # server.auth_token',
        "unset ANTHROPIC_API_KEY  # sent beside the token otherwise",
        "export CLAUDE_CODE_AUTO_COMPACT_WINDOW=128000",
        "export CLAUDE_CODE_MAX_CONTEXT_TOKENS=128000",
        "# CLAUDE_CODE_MAX_OUTPUT_TOKENS: keeping your 9000",
        "export CLAUDE_CODE_DISABLE_NONSTREAMING_FALLBACK=1",
        "export CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY=1",
        "export CLAUDE_CODE_GATEWAY_HINT_HEADERS=1",
        "# the status line (what answered, tokens and cost): start claude with",
        f"#   --settings '{settings}'",
    ]
    shell = subprocess.run(
        [
            "sh",
            "-c",
            result.stdout + '\nprintf "%s|%s" "$ANTHROPIC_AUTH_TOKEN" "$CLAUDE_CODE_MAX_CONTEXT_TOKENS"',
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
    )
    assert shell.stdout == "tok-never-shown|128000", "the lines work in a shell"


# --- statusline --------------------------------------------------------------------------------------------


def statusline(stdin: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "claude_any", "statusline"],
        cwd=REPO,
        env={**bare_env(home), **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
    )


def test_statusline_shows_what_answered_the_session(quickstart: tuple[Running, str], tmp_path: Path) -> None:
    _, url = quickstart
    session = "4d1c7b0e-1111-4a5e-9d5e-2f0c1e6a9b70"
    body = {"model": "claude-haiku-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    answer = httpx.post(
        url + "/v1/messages", json=body, headers={"x-claude-code-session-id": session}, timeout=10
    )
    assert answer.status_code == 200
    status_input = json.dumps({"session_id": session, "model": {"id": "claude-haiku-4-5"}, "cost": {}})

    result = statusline(status_input, tmp_path, ANTHROPIC_BASE_URL=url, ANTHROPIC_AUTH_TOKEN="unused")

    assert result.returncode == 0 and result.stderr == ""
    usage = answer.json()["usage"]
    assert result.stdout == (
        f"claude-any: small → echo/echo-small · in {usage['input_tokens']} out {usage['output_tokens']} "
        "· cache 0% · $0.00 · 1 request\n"
    )
    fresh = statusline(json.dumps({"session_id": "new"}), tmp_path, ANTHROPIC_BASE_URL=url)
    assert fresh.stdout == "claude-any: no requests yet\n"


def test_statusline_never_fails(tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    cases = {
        "gateway not reachable": ('{"session_id": "s"}', {"ANTHROPIC_BASE_URL": down}),
        "ANTHROPIC_BASE_URL is not set": ('{"session_id": "s"}', {}),
        "no session id": ("not json at all", {"ANTHROPIC_BASE_URL": down}),
    }
    for expected, (stdin, env) in cases.items():
        result = statusline(stdin, tmp_path, **env)
        assert (result.returncode, result.stdout, result.stderr) == (0, f"claude-any: {expected}\n", "")


def test_the_status_line_command_ignores_a_claude_any_folder_in_the_project(tmp_path: Path) -> None:
    from claude_any.statusline import command

    planted = tmp_path / "claude_any"
    planted.mkdir()
    (planted / "__init__.py").write_text("")
    (planted / "__main__.py").write_text("print('a project file ran')\n")
    result = subprocess.run(
        ["sh", "-c", command()],
        cwd=tmp_path,  # Claude Code runs the status line in the project's folder
        env=bare_env(tmp_path),
        input='{"session_id": "s"}',
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
    )
    assert result.stdout == "claude-any: ANTHROPIC_BASE_URL is not set\n", result.stderr


def test_code_with_a_claude_that_cannot_start_says_so(tmp_path: Path) -> None:
    broken = tmp_path / "claude"
    broken.write_text("#!/nonexistent/interpreter\n")
    broken.chmod(0o755)
    result = subprocess.run(
        [sys.executable, "-m", "claude_any", "code", "--config", str(QUICKSTART)],
        cwd=REPO,
        env={**bare_env(tmp_path), "CLAUDE_ANY_CLAUDE": str(broken)},
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
    )
    assert result.returncode == 2
    assert_no_traceback(result)
    assert (
        result.stderr.splitlines()[-1]
        == f"claude-any: error: cannot start {broken}: No such file or directory"
    )


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
