"""The real Claude Code CLI, headless, for the end-to-end tests.

Recipe: shared/reference/claude-code-offline.md.

The binary comes from `.ci/run` (npm, pinned, cached in `.e2e/claude-code/`) or from $CLAUDE_ANY_CLAUDE. When
neither exists the tests skip with the command that installs it, unless $CLAUDE_ANY_E2E_REQUIRED is set (as
`.ci/run` does): then they fail, so CI cannot pass without running them.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from loopback import FakeUpstream

REPO = Path(__file__).resolve().parents[2]
CLAUDE_VERSION = "2.1.332"
INSTALLED = REPO / ".e2e" / "claude-code" / "node_modules" / ".bin" / "claude"
INSTALL_HINT = (
    f"npm install --prefix .e2e/claude-code @anthropic-ai/claude-code@{CLAUDE_VERSION} --no-audit --no-fund"
)
RUN_TIMEOUT_S = 30  # a run takes about a second; this only stops a hung run from hanging the suite

CLAUDE_ENV = {
    # Claude Code must not phone home or update itself; the tests run offline.
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_ERROR_REPORTING": "1",
    # A broken gateway makes Claude Code retry with backoff for minutes (10 retries by default): fail fast.
    # Two retries still cover the one-429 scenario.
    "CLAUDE_CODE_MAX_RETRIES": "2",
    "API_TIMEOUT_MS": "20000",
}


def claude_binary() -> Path | None:
    """$CLAUDE_ANY_CLAUDE, else the copy `.ci/run` installs; None when neither is an executable file."""
    configured = os.environ.get("CLAUDE_ANY_CLAUDE")
    candidate = Path(configured) if configured else INSTALLED
    return candidate if candidate.is_file() and os.access(candidate, os.X_OK) else None


@pytest.fixture(scope="session")
def claude() -> Path:
    """The claude executable; skips the test when Claude Code is not installed."""
    found = claude_binary()
    if found is None:
        reason = f"Claude Code CLI not installed: run `{INSTALL_HINT}` or set CLAUDE_ANY_CLAUDE"
        if os.environ.get("CLAUDE_ANY_E2E_REQUIRED"):  # set by .ci/run: CI must run these tests
            pytest.fail(reason)
        pytest.skip(reason)
    return found


@dataclass
class Session:
    """One headless Claude Code run: the final JSON result and, with stream-json, every event before it."""

    result: dict[str, Any]
    events: list[dict[str, Any]]
    stderr: str


@dataclass
class Workspace:
    """A fresh HOME (so no user settings or credentials leak in) and the run's working directory."""

    home: Path
    cwd: Path

    def env(self, **extra: str) -> dict[str, str]:
        """A minimal environment: PATH, the fresh HOME, CLAUDE_ENV and `extra`."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "TMPDIR": str(self.home),
        }
        return env | CLAUDE_ENV | extra


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    home, cwd = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    cwd.mkdir()
    return Workspace(home, cwd)


def parse_output(stdout: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(result, events) from `--output-format json` (one object) or `stream-json` (NDJSON, result last)."""
    lines = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    assert lines, "Claude Code printed nothing"
    result = lines[-1]
    assert result.get("type") == "result", f"last line is not the result: {result}"
    return result, lines[:-1]


RunClaude = Callable[..., Session]


@pytest.fixture
def run_claude(claude: Path, workspace: Workspace) -> RunClaude:
    """`run_claude(base_url, prompt, *claude_args, stdin=None, **env)`: `claude -p` through claude-any."""

    def run(base_url: str, prompt: str | None, *args: str, stdin: str | None = None, **env: str) -> Session:
        command = [str(claude), "-p", *([prompt] if prompt is not None else []), *args]
        if "--output-format" not in args:
            command += ["--output-format", "json"]
        child_env = workspace.env(ANTHROPIC_BASE_URL=base_url, ANTHROPIC_API_KEY="sk-e2e-unused", **env)
        return run_process(command, child_env, workspace.cwd, stdin)

    return run


def run_process(
    command: Sequence[str], env: Mapping[str, str], cwd: Path, stdin: str | None = None
) -> Session:
    """Run a command that ends with Claude Code's JSON result on stdout; fail with its output otherwise."""
    done = subprocess.run(
        list(command),
        env=dict(env),
        cwd=cwd,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert done.returncode == 0, f"exit {done.returncode}\nstdout: {done.stdout}\nstderr: {done.stderr}"
    result, events = parse_output(done.stdout)
    return Session(result, events, done.stderr)


@pytest.fixture(scope="session")
def _second_upstream_server() -> Iterator[FakeUpstream]:
    fake = FakeUpstream()
    fake.server.start()
    yield fake
    fake.server.stop()


@pytest.fixture
def second_upstream(_second_upstream_server: FakeUpstream) -> FakeUpstream:
    """Another fake provider (for configs with two), reset for each test."""
    _second_upstream_server.reset()
    return _second_upstream_server
