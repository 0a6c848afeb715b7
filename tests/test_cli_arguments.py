"""The command line itself, as a new user meets it: `--version`, and every flag's value checked before
anything runs, with one line that says what is wrong and exit status 2 (never a traceback or a usage
block), unknown commands and options with a did-you-mean, numbers written as rules write them."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import httpx
import pytest
from cli_process import Running, assert_no_traceback, claude_any, wait_until_listening

from claude_any import arguments

QUICKSTART = "examples/quickstart.yaml"
PORTS = "expected a number from 1 to 65535 (0: any free port)"
WORKERS = "is not a number of worker processes; expected 1 to 64, or auto (one per core)"


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(flag: str, tmp_path: Path) -> None:
    result = claude_any(flag, home=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        f"claude-any {metadata.version('claude-any')}\n",
        "",
    )


ONE_LINE_ERRORS = [
    # run: the port, the workers, the address, the log level (each before a config is even read)
    (
        ["run", QUICKSTART, "--port", "99999"],
        f"claude-any run: error: --port: '99999' is not a port; {PORTS}",
    ),
    (
        ["run", QUICKSTART, "--port", "80a"],
        f"claude-any run: error: --port: '80a' is not a port; {PORTS}",
    ),
    (["run", QUICKSTART, "--port"], "claude-any run: error: --port: needs a value"),
    (
        ["run", QUICKSTART, "--workers", "0"],
        f"claude-any run: error: --workers: '0' {WORKERS}",
    ),
    (
        ["run", QUICKSTART, "--workers", "Auto"],
        f"claude-any run: error: --workers: 'Auto' {WORKERS}",
    ),
    (
        ["run", QUICKSTART, "--workers", "-3"],
        f"claude-any run: error: --workers: '-3' {WORKERS}",
    ),
    (
        ["run", QUICKSTART, "--host", ""],
        "claude-any run: error: --host: '' is not an address; expected an IP address or a host name, like "
        "127.0.0.1 or localhost",
    ),
    (
        ["run", QUICKSTART, "--host", "my host"],
        "claude-any run: error: --host: 'my host' is not an address; expected an IP address or a host name, "
        "like 127.0.0.1 or localhost",
    ),
    (
        ["run", QUICKSTART, "--log-level", "verbose"],
        "claude-any run: error: --log-level: 'verbose' is not a log level; expected debug, info, warning or "
        "error",
    ),
    (["run", QUICKSTART, "--log-file", ""], "claude-any run: error: --log-file: must not be empty"),
    (
        ["run", QUICKSTART, "--prot", "5"],
        "claude-any run: error: unknown option --prot; did you mean --port?",
    ),
    (
        ["run", QUICKSTART, "--colour"],
        "claude-any run: error: unknown option --colour (see claude-any run --help)",
    ),
    (
        ["run", QUICKSTART, "extra.yaml"],
        "claude-any run: error: unexpected argument 'extra.yaml' (see claude-any run --help)",
    ),
    (["run"], "claude-any run: error: missing ROUTES_OR_CONFIG (see claude-any run --help)"),
    # explain
    (["explain"], "claude-any explain: error: missing MODEL (see claude-any explain --help)"),
    (["explain", "", "--config", QUICKSTART], "claude-any explain: error: MODEL: must not be empty"),
    (
        ["explain", "m", "--config", QUICKSTART, "--tokens", "200x"],
        "claude-any explain: error: --tokens: '200x' is not a number; write digits with an optional k or m, "
        "like 200k or 1.5m",
    ),
    (
        ["explain", "m", "--config", QUICKSTART, "--tokens", "-5"],
        "claude-any explain: error: --tokens: '-5' is not a token count; expected a whole number, 0 or more",
    ),
    (
        ["explain", "m", "--config", QUICKSTART, "--tokens", "1.5"],
        "claude-any explain: error: --tokens: '1.5' is not a token count; expected a whole number, 0 or more",
    ),
    (
        ["explain", "m", "--config", QUICKSTART, "--effort", "hihg"],
        "claude-any explain: error: --effort: 'hihg' is not an effort; expected low, medium, high, xhigh or "
        "max (did you mean high?)",
    ),
    (
        ["explain", "m", "--config", QUICKSTART, "--tool", ""],
        "claude-any explain: error: --tool: must not be empty",
    ),
    (
        ["explain", "m", "--config", QUICKSTART, "--as", "robot"],
        "claude-any explain: error: --as: 'robot' is not one of 'claude-code', 'claude-code-background', "
        "'claude-code-subagent', 'plain'",
    ),
    (
        ["explain", "m", "--tokenz", "5"],
        "claude-any explain: error: unknown option --tokenz; did you mean --tokens?",
    ),
    # compile, and the command itself
    (["compile"], "claude-any compile: error: missing CONFIG (see claude-any compile --help)"),
    (["compile", "confg.yaml"], "claude-any: error: confg.yaml: cannot read: No such file or directory"),
    (
        ["run", "build/nope.json"],
        "claude-any: error: build/nope.json: cannot read: No such file or directory",
    ),
    (
        ["explain", "m", "--config", "nope.yaml"],
        "claude-any: error: nope.yaml: cannot read: No such file or directory",
    ),
    (["compile", QUICKSTART, "-o", ""], "claude-any compile: error: -o/--output: must not be empty"),
    (["expalin", "m"], "claude-any: error: unknown command 'expalin'; did you mean 'explain'?"),
    (
        ["serve"],
        "claude-any: error: unknown command 'serve'; the commands are compile, run, explain, code, "
        "statusline, doctor, usage",
    ),
]


@pytest.mark.parametrize(
    ("args", "line"), ONE_LINE_ERRORS, ids=lambda v: " ".join(v) if isinstance(v, list) else ""
)
def test_a_wrong_argument_is_one_line_and_exit_2(args: list[str], line: str, tmp_path: Path) -> None:
    result = claude_any(*args, home=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", line + "\n")


def test_no_command_prints_the_commands(tmp_path: Path) -> None:
    result = claude_any(home=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: claude-any")
    assert all(command in result.stderr for command in ("compile", "run", "explain", "code", "--version"))


def test_compile_to_a_place_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    result = claude_any("compile", QUICKSTART, "-o", str(tmp_path), home=tmp_path)  # a directory
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"claude-any: error: cannot write {tmp_path}: Is a directory\n"
    assert [p.name for p in tmp_path.iterdir()] == [], "no half-written file is left behind"


def test_run_with_a_log_file_that_cannot_be_written_fails_before_serving(tmp_path: Path) -> None:
    result = claude_any(
        "run", QUICKSTART, "--log-file", str(tmp_path / "no" / "such" / "dir.log"), home=tmp_path
    )
    assert_no_traceback(result)
    assert (result.returncode, result.stdout) == (2, "")
    missing = tmp_path / "no" / "such" / "dir.log"
    assert (
        result.stderr
        == f"claude-any: error: cannot write the log file {missing}: No such file or directory\n"
    )


@pytest.mark.parametrize(
    ("written", "shown"), [("200k", "200,000"), ("1.5m", "1,500,000"), ("150001", "150,001")]
)
def test_explain_takes_tokens_as_rules_write_them(written: str, shown: str, tmp_path: Path) -> None:
    # examples/mixed.yaml routes `tokens > 150k` to `long`: the CLI reads 200k as the rule reads 150k.
    result = claude_any(
        "explain", "claude-sonnet-4-6", "--config", "examples/mixed.yaml", "--tokens", written, home=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert f"tokens = {shown}" in result.stdout
    assert "chosen: routes[1]: tokens > 150k" in result.stdout


def test_run_on_port_0_announces_the_port_it_got(tmp_path: Path) -> None:
    server = Running([QUICKSTART, "--port", "0"], tmp_path)
    try:
        url = server.wait_for_line(r"serving (http://127\.0\.0\.1:\d+) ").group(1)
        assert not url.endswith(":0")
        wait_until_listening(url)
        answer = httpx.post(
            url + "/v1/messages",
            json={
                "model": "claude-haiku-4-5",
                "max_tokens": 16,
                "messages": [{"role": "user", "content": "hi"}],
            },
            timeout=10,
        )
        assert answer.status_code == 200, answer.text  # the Host guard knows the port it really got
    finally:
        status, stderr = server.interrupt()
    assert "Traceback" not in stderr


def test_workers_auto_is_one_per_core_within_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(arguments.os, "sched_getaffinity", lambda _pid: set(range(6)), raising=False)
    assert arguments.workers("auto") == 6
    monkeypatch.setattr(arguments.os, "sched_getaffinity", lambda _pid: set(range(500)), raising=False)
    assert arguments.workers("auto") == arguments.MAX_WORKERS  # a 500-core host: the bound still holds
    monkeypatch.delattr(arguments.os, "sched_getaffinity", raising=False)  # macOS, Windows
    monkeypatch.setattr(arguments.os, "cpu_count", lambda: None)
    assert arguments.workers("auto") == 1
    monkeypatch.setattr(arguments.os, "cpu_count", lambda: 3)
    assert arguments.workers("auto") == 3
    assert arguments.workers("4") == 4


def test_run_help_names_workers_auto(tmp_path: Path) -> None:
    result = claude_any("run", "--help", home=tmp_path)
    assert result.returncode == 0 and "or auto: one per core" in " ".join(result.stdout.split())
