"""`claude-any code`: serve the gateway on a loopback port and run Claude Code through it, set up for it.

The gateway runs in a thread of this process, bound to 127.0.0.1 (on a port the OS picks unless `--port`
says), and accepts only a one-time token that is handed to Claude Code as `ANTHROPIC_AUTH_TOKEN`. Claude Code
owns the terminal, so the gateway's request log goes to a file whose path is printed before Claude Code
starts. Claude Code also gets the settings the targets call for (`claude_code_environment`) and, when the
user has none, `claude-any statusline` as its status line. When it exits, the session it ran is summed up
with the command that resumes it through the gateway.
"""

from __future__ import annotations

import logging
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from types import FrameType

import uvicorn

from claude_any import statusline
from claude_any.claude_code_settings import claude_code_settings
from claude_any.runtime.call.targets import StartupError
from claude_any.runtime.serve.access_log import OneLine
from claude_any.runtime.serve.app import create_app
from claude_any.runtime.serve.log_format import formatter
from claude_any.runtime.serve.server import client_limits, uvicorn_config
from claude_any.runtime.serve.sessions import Sessions
from claude_any.secrets import references
from claude_any.table import RoutingTable

CLAUDE_BIN_VARIABLE = "CLAUDE_ANY_CLAUDE"  # path of the claude executable, when it is not on PATH
START_TIMEOUT_S = 10.0

# Client credentials Claude Code would otherwise send instead of (or beside) the one-time token.
_CLIENT_CREDENTIALS = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL")
# Set for every session, whatever the targets (a value the user exported wins):
ALWAYS = {
    # A stream Claude Code finds broken is otherwise sent again without streaming, silently: a tool call in
    # it can then run twice.
    "CLAUDE_CODE_DISABLE_NONSTREAMING_FALLBACK": "1",
    # `/model` lists what the gateway routes (GET /v1/models).
    "CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY": "1",
    # Each request says what it is (x-claude-code-request-class): the `background` and `subagent` facts.
    "CLAUDE_CODE_GATEWAY_HINT_HEADERS": "1",
}

_FORWARDED = (signal.SIGTERM, signal.SIGHUP)  # SIGINT is handled apart (see _forward_signals)


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


def recommended_settings(table: RoutingTable) -> dict[str, str]:
    """The Claude Code environment settings for this table: the targets' limits, then `ALWAYS`."""
    return {**claude_code_settings(table.targets.values()), **ALWAYS}


def claude_environment(env: Mapping[str, str], url: str, token: str, table: RoutingTable) -> dict[str, str]:
    """Claude Code's environment: the gateway's URL and one-time token and no other Anthropic credential,
    plus the recommended settings the user has not set themselves."""
    child = {k: v for k, v in env.items() if k not in _CLIENT_CREDENTIALS}
    for name, value in recommended_settings(table).items():
        child.setdefault(name, value)
    child["ANTHROPIC_BASE_URL"] = url
    child["ANTHROPIC_AUTH_TOKEN"] = token
    return child


def print_env_lines(table: RoutingTable, env: Mapping[str, str], source: str, port: int | None) -> list[str]:
    """Shell lines that set up Claude Code for a gateway started with `claude-any run SOURCE`. The token is
    never printed: it is referenced by the variable the config reads it from."""
    host = table.server.host if table.server.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    url = f"http://{host}:{port if port is not None else table.server.port}"
    lines = [
        f"# Claude Code through claude-any: start the gateway with `claude-any run {source}`,",
        "# then eval these lines in the shell you start `claude` from.",
        f"export ANTHROPIC_BASE_URL={url}",
    ]
    token = table.server.auth_token
    refs = references(token) if token else []
    if token is None and table.server.tokens:
        names = ", ".join(entry.name for entry in table.server.tokens)
        lines.append(f"# export ANTHROPIC_AUTH_TOKEN=<your own server.tokens entry: {names}> (not printed)")
    elif token is None:
        lines.append("export ANTHROPIC_AUTH_TOKEN=unused  # the gateway has no server.auth_token")
    elif len(refs) == 1 and token == f"${{{refs[0]}}}":
        lines.append(f'export ANTHROPIC_AUTH_TOKEN="${refs[0]}"  # server.auth_token')
    else:
        lines.append(f"# export ANTHROPIC_AUTH_TOKEN=<server.auth_token of {source}> (not printed)")
    lines.append("unset ANTHROPIC_API_KEY  # sent beside the token otherwise")
    for name, value in recommended_settings(table).items():
        if name in env:
            lines.append(f"# {name}: keeping your {env[name]}")
        else:
            lines.append(f"export {name}={value}")
    lines.append("# the status line (what answered, tokens and cost): start claude with")
    lines.append(f"#   --settings {shlex.quote(statusline.settings_json())}")
    return lines


def _log_to_file(level: str, log_format: str = "text") -> str:
    """Send the gateway's log lines (text, or JSON objects: log_format.py) to a file, since Claude Code
    draws on the terminal."""
    fd, path = tempfile.mkstemp(prefix="claude-any-", suffix=".log")
    os.close(fd)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.addFilter(OneLine())  # client strings cannot forge a line (runtime/serve/access_log.py)
    handler.setFormatter(formatter(log_format, "%(asctime)s %(levelname)s %(message)s"))
    logger = logging.getLogger("claude_any")
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False
    return path


class BackgroundServer:
    """The gateway under uvicorn in a daemon thread, on a socket bound before the thread starts."""

    def __init__(self, table: RoutingTable, env: Mapping[str, str], port: int = 0) -> None:
        self.token = secrets.token_urlsafe(32)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind(("127.0.0.1", port))
        except OSError as exc:
            self.sock.close()
            raise LaunchError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None
        self.port: int = self.sock.getsockname()[1]
        one_time = replace(
            table, server=replace(table.server, host="127.0.0.1", auth_token=self.token, tokens=())
        )
        try:
            app = create_app(one_time, env)  # a missing ${VAR} or a bad template surfaces here
        except StartupError:
            self.sock.close()
            raise
        self.sessions: Sessions = app.state.process.sessions
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


def _terminal_delivers_sigint() -> bool:
    """True when Ctrl-C reaches Claude Code from the terminal itself: we run in the terminal's foreground
    process group, which the child shares. Forwarding it then would make one Ctrl-C two."""
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError, AttributeError):
        return False


class _ForwardSignals:
    """While Claude Code runs: SIGTERM and SIGHUP are passed on to it, and SIGINT too unless the terminal
    already delivered it; this process waits for Claude Code to end either way, so the gateway serves it
    to the last request."""

    def __init__(self, child: subprocess.Popen[bytes]) -> None:
        self.child = child
        self.tty_sigint = _terminal_delivers_sigint()
        self.previous: dict[int, object] = {}

    def _forward(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT and self.tty_sigint:
            return
        if self.child.poll() is None:
            self.child.send_signal(signum)

    def __enter__(self) -> _ForwardSignals:
        for signum in (signal.SIGINT, *_FORWARDED):
            self.previous[signum] = signal.signal(signum, self._forward)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]


def _exit_status(returncode: int) -> int:
    """A shell's exit status for a child's return code (killed by signal N: 128 + N)."""
    return 128 - returncode if returncode < 0 else returncode


def _wait(child: subprocess.Popen[bytes]) -> int:
    """Claude Code's return code, however many signals arrive meanwhile."""
    while True:
        try:
            return child.wait()
        except KeyboardInterrupt:  # a SIGINT arriving between handlers; Claude Code decides what it means
            continue


def run_claude_code(
    table: RoutingTable,
    claude_args: Sequence[str],
    env: Mapping[str, str],
    *,
    resume_prefix: Sequence[str] = ("claude-any", "code"),
    port: int = 0,
    log_level: str = "info",
    log_format: str = "text",
) -> int:
    """Run Claude Code through a private gateway; its exit status is returned. `resume_prefix` is the
    command line that started this, for the resume hint printed at the end."""
    claude = find_claude(env)
    log_path = _log_to_file(log_level, log_format)
    try:
        server = BackgroundServer(table, env, port)
    except StartupError as exc:
        raise LaunchError(str(exc)) from exc
    server.start()
    args = statusline.with_status_line(claude_args, env, os.getcwd())
    print(f"claude-any: gateway on {server.url} (log: {log_path})", file=sys.stderr, flush=True)
    try:
        try:
            child = subprocess.Popen(
                [claude, *args], env=claude_environment(env, server.url, server.token, table)
            )
        except OSError as exc:
            raise LaunchError(f"cannot start {claude}: {exc.strerror or exc}") from None
        with _ForwardSignals(child):
            status = _exit_status(_wait(child))
    finally:
        server.stop()
    for line in _goodbye(server.sessions, resume_prefix):
        print(line, file=sys.stderr)
    return status


def _goodbye(sessions: Sessions, resume_prefix: Sequence[str]) -> Iterator[str]:
    """What answered the last session, and how to resume it through the gateway."""
    session_id = sessions.latest
    if session_id is None:
        return
    yield f"claude-any: session {session_id}: {statusline.summary_line(sessions.describe(session_id))}"
    yield f"claude-any: resume it with: {shlex.join([*resume_prefix, '--', '--resume', session_id])}"
