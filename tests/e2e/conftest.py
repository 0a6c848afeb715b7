"""The real Claude Code CLI, headless, for the end-to-end tests.

Each run is `claude -p PROMPT --output-format json` with a fresh HOME (no user settings or credentials), the
gateway as ANTHROPIC_BASE_URL, and Claude Code's telemetry, updates and error reporting switched off, so the
tests run offline.

The binary is, in this order: $CLAUDE_ANY_CLAUDE; the pinned copy `.ci/run` installs in the user's cache
(`${XDG_CACHE_HOME:-~/.cache}/claude-any/claude-code-2.1.332/node_modules/.bin/claude`, shared by every
clone on the machine); `claude` on PATH. The tests pass on 2.1.330 and 2.1.332; another version usually
works but may not. When none is found the tests skip, saying what was looked for and how to install it,
unless $CLAUDE_ANY_E2E_REQUIRED is set (as `.ci/run` does): then they fail, so CI cannot pass without
running them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from loopback import FakeUpstream

REPO = Path(__file__).resolve().parents[2]
CLAUDE_VERSION = "2.1.332"
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


def cached_install(env: Mapping[str, str] = os.environ) -> Path:
    """Where `.ci/run` installs the pinned Claude Code (keep the two in step)."""
    cache = Path(env.get("XDG_CACHE_HOME") or Path(env.get("HOME") or Path.home()) / ".cache")
    return cache / "claude-any" / f"claude-code-{CLAUDE_VERSION}" / "node_modules" / ".bin" / "claude"


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_claude(env: Mapping[str, str] = os.environ) -> tuple[Path | None, str]:
    """The claude executable to test with, or None and a sentence saying why there is none."""
    configured = env.get("CLAUDE_ANY_CLAUDE")
    if configured:
        if _executable(Path(configured)):
            return Path(configured), ""
        return None, f"CLAUDE_ANY_CLAUDE={configured} is not an executable file"
    cached = cached_install(env)
    if _executable(cached):
        return cached, ""
    on_path = shutil.which("claude", path=env.get("PATH"))
    if on_path:
        return Path(on_path), ""
    directory = cached.parents[2]
    return None, (
        f"Claude Code is not installed: CLAUDE_ANY_CLAUDE is not set, {cached} (where .ci/run installs it) "
        "does not exist, and there is no `claude` on PATH. Run .ci/run, or `npm install --prefix "
        f"{directory} @anthropic-ai/claude-code@{CLAUDE_VERSION}`, or set CLAUDE_ANY_CLAUDE=/path/to/claude"
    )


@pytest.fixture(scope="session")
def claude() -> Path:
    """The claude executable; skips the test (with the reason) when Claude Code is not installed."""
    found, why = find_claude()
    if found is None:
        if os.environ.get("CLAUDE_ANY_E2E_REQUIRED"):  # set by .ci/run: CI must run these tests
            pytest.fail(why)
        pytest.skip(why)
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
