"""The `claude-any` command as a child process, for the CLI tests: a fresh machine's environment, one-shot
runs, and `claude-any run` kept running while a test talks to it."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 30.0  # a guard against a hung child, not a performance assertion


def bare_env(home: Path, path: str | None = None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A fresh machine: PATH and HOME and nothing else (no keys, PYTHONPATH or CLAUDE_ANY_*), plus `extra`."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin") if path is None else path, "HOME": str(home)}
    return env | dict(extra or {})


def claude_any(
    *args: str,
    home: Path,
    path: str | None = None,
    cwd: Path = REPO,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `claude-any ARGS…` to its end in `cwd`, with `env` added to a bare environment."""
    return subprocess.run(
        [sys.executable, "-m", "claude_any", *args],
        cwd=cwd,
        env=bare_env(home, path, env),
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
    )


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr + result.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Running:
    """`claude-any run …` as a child process; its stdout lines arrive on a queue as they are printed."""

    def __init__(
        self, args: list[str], home: Path, cwd: Path = REPO, env: Mapping[str, str] | None = None
    ) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "claude_any", "run", *args],
            cwd=cwd,
            env=bare_env(home, extra=env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stdout: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.stdout.append(line)
            self.lines.put(line)

    def wait_for_line(self, pattern: str) -> re.Match[str]:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            found = re.search(pattern, line)
            if found:
                return found
        self.proc.kill()
        raise AssertionError(f"no line matching {pattern!r}; stderr: {self.proc.communicate()[1]}")

    def interrupt(self) -> tuple[int, str]:
        """Ctrl-C, as a user stops it; returns the exit status and stderr."""
        self.proc.send_signal(signal.SIGINT)
        try:
            _, stderr = self.proc.communicate(timeout=START_TIMEOUT_S)
        finally:
            self.proc.kill()
        self._reader.join(timeout=START_TIMEOUT_S)
        return self.proc.returncode, stderr


def wait_until_listening(url: str) -> None:
    """Until `url`/health answers (the socket is bound before the URL is printed; with --workers the
    processes start a moment later)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            httpx.get(url + "/health", timeout=5).raise_for_status()
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)
