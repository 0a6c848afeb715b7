"""`claude-any code`: serve the gateway on a free loopback port and run Claude Code through it.

The gateway runs in a thread of this process, bound to 127.0.0.1 on a port the OS picks, and accepts only a
one-time token that is handed to Claude Code as `ANTHROPIC_AUTH_TOKEN`. Claude Code owns the terminal, so the
gateway's request log goes to a file whose path is printed before Claude Code starts.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace

import uvicorn

from claude_any.runtime.app import create_app
from claude_any.runtime.log import OneLine
from claude_any.runtime.server import client_limits, uvicorn_config
from claude_any.runtime.targets import StartupError
from claude_any.table import RoutingTable

CLAUDE_BIN_VARIABLE = "CLAUDE_ANY_CLAUDE"  # path of the claude executable, when it is not on PATH
START_TIMEOUT_S = 10.0

# Client credentials Claude Code would otherwise send instead of (or beside) the one-time token.
_CLIENT_CREDENTIALS = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL")
# Claude Code's gateway features, unless the user set them: /model lists the config's targets (it reads
# GET /v1/models), and each request says what it is (x-claude-code-request-class: the `background` fact).
_GATEWAY_FEATURES = {
    "CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY": "1",
    "CLAUDE_CODE_GATEWAY_HINT_HEADERS": "1",
}


class LaunchError(Exception):
    """Claude Code or the gateway could not be started (message phrased for the user)."""


def find_claude(env: Mapping[str, str]) -> str:
    """The claude executable: $CLAUDE_ANY_CLAUDE, else `claude` on PATH."""
    configured = env.get(CLAUDE_BIN_VARIABLE)
    if configured:
        if not os.access(configured, os.X_OK):
            raise LaunchError(f"{CLAUDE_BIN_VARIABLE}={configured} is not an executable file")
        return configured
    found = shutil.which("claude", path=env.get("PATH"))
    if found is None:
        raise LaunchError(
            "Claude Code is not installed (no `claude` on PATH). Install it with "
            "`npm install -g @anthropic-ai/claude-code`, or set "
            f"{CLAUDE_BIN_VARIABLE}=/path/to/claude"
        )
    return found


def _log_to_file() -> str:
    """Send the gateway's log lines to a file, since Claude Code draws on the terminal."""
    fd, path = tempfile.mkstemp(prefix="claude-any-", suffix=".log")
    os.close(fd)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.addFilter(OneLine())  # client strings cannot forge a line (runtime/log.py)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger = logging.getLogger("claude_any")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return path


class BackgroundServer:
    """The gateway under uvicorn in a daemon thread, on a socket bound before the thread starts."""

    def __init__(self, table: RoutingTable, env: Mapping[str, str]) -> None:
        self.token = secrets.token_urlsafe(32)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        one_time = replace(table, server=replace(table.server, host="127.0.0.1", auth_token=self.token))
        app = create_app(one_time, env)  # StartupError (missing ${VAR}, bad template) surfaces here
        limits = client_limits(one_time)
        config = uvicorn_config(app, limits, log_level="warning", log_config=None, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.server.started and self.thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        if not self.server.started:
            self.stop()
            raise LaunchError("the gateway did not start; see its log")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=START_TIMEOUT_S)
        self.sock.close()


def claude_environment(env: Mapping[str, str], url: str, token: str) -> dict[str, str]:
    """Claude Code's environment: the gateway's URL and one-time token, no other Anthropic credential."""
    child = _GATEWAY_FEATURES | {k: v for k, v in env.items() if k not in _CLIENT_CREDENTIALS}
    child["ANTHROPIC_BASE_URL"] = url
    child["ANTHROPIC_AUTH_TOKEN"] = token
    return child


def run_claude_code(table: RoutingTable, claude_args: Sequence[str], env: Mapping[str, str]) -> int:
    """Run Claude Code through a private gateway; its exit status is returned."""
    claude = find_claude(env)
    log_path = _log_to_file()
    try:
        server = BackgroundServer(table, env)
    except StartupError as exc:
        raise LaunchError(str(exc)) from exc
    server.start()
    print(f"claude-any: gateway on {server.url} (log: {log_path})", file=sys.stderr)
    try:
        completed = subprocess.run(
            [claude, *claude_args], env=claude_environment(env, server.url, server.token)
        )
        return completed.returncode
    except KeyboardInterrupt:
        return 130
    finally:
        server.stop()
