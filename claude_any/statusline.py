"""`claude-any statusline`: the line Claude Code shows under its prompt, saying what really answered this
session (the gateway's target and provider model), its tokens, prompt-cache hits and cost; and how Claude
Code is told to run it.

Claude Code runs the command after each turn with a JSON document on stdin (`session_id`, `model`, `cost`,
`context_window`, `workspace` …) and its own environment, which holds the gateway's `ANTHROPIC_BASE_URL`
and `ANTHROPIC_AUTH_TOKEN`. The command asks the gateway for the session's summary
(`GET /v1/claude-any/sessions/{id}`) and prints one line. It must never hold Claude Code up or fail: the
request has a short timeout, and every failure prints a short line instead, with exit status 0.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urlsplit

import httpx

from claude_any.network import is_loopback

TIMEOUT_S = 1.0
MAX_INPUT_BYTES = 1_000_000
SESSION_PATH = "/v1/claude-any/sessions/"
PREFIX = "claude-any"

# Settings files that may already hold a status line (Claude Code's user, project and managed settings).
_MANAGED = (
    Path("/etc/claude-code/managed-settings.json"),
    Path("/Library/Application Support/ClaudeCode/managed-settings.json"),
)


# --- how Claude Code is told to run it ---------------------------------------------------------------------


def command() -> str:
    """The shell command Claude Code runs: this Python, so it works whether or not claude-any is on PATH;
    `-P` keeps a `claude_any` folder in the project Claude Code runs in from being imported instead."""
    return f"{shlex.quote(sys.executable)} -P -m claude_any statusline"


def settings_json() -> str:
    """Claude Code settings (for `--settings`) that make this its status line."""
    return json.dumps({"statusLine": {"type": "command", "command": command(), "padding": 0}})


def settings_files(env: Mapping[str, str], cwd: str) -> list[Path]:
    """Where Claude Code reads settings from: the user's, each project folder's from `cwd` up, managed."""
    config_dir = env.get("CLAUDE_CONFIG_DIR")
    home = Path(env.get("HOME") or Path.home())
    files = [Path(config_dir) / "settings.json" if config_dir else home / ".claude" / "settings.json"]
    for folder in (Path(cwd), *Path(cwd).parents):
        files += [folder / ".claude" / "settings.json", folder / ".claude" / "settings.local.json"]
    return [*files, *_MANAGED]


def has_status_line(env: Mapping[str, str], cwd: str) -> bool:
    """True when one of the settings files configures a status line (unreadable files say nothing)."""
    for path in settings_files(env, cwd):
        try:
            settings = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(settings, dict) and settings.get("statusLine"):
            return True
    return False


def with_status_line(claude_args: Sequence[str], env: Mapping[str, str], cwd: str) -> list[str]:
    """Claude Code's arguments, with `--settings` for this status line in front unless the user has a
    status line or passes settings of their own (their files are never touched)."""
    own = any(arg == "--settings" or arg.startswith("--settings=") for arg in claude_args)
    if own or has_status_line(env, cwd):
        return list(claude_args)
    return ["--settings", settings_json(), *claude_args]


# --- the line ------------------------------------------------------------------------------------------


def _count(tokens: int) -> str:
    if tokens >= 1_000_000:
        return f"{tokens / 1_000_000:.1f}M"
    if tokens >= 1_000:
        return f"{tokens / 1_000:.1f}k"
    return str(tokens)


def _dollars(amount: float) -> str:
    return f"${amount:.2f}" if amount >= 1 or amount == 0 else f"${amount:.4f}"


def _int(summary: Mapping[str, Any], key: str) -> int:
    value = summary.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def summary_line(summary: Mapping[str, Any]) -> str:
    """A session summary (the gateway's JSON) as one line: target and model, tokens, cache hits, cost."""
    requests = _int(summary, "requests")
    if not requests:
        return "no requests yet"
    uncached, read, written = (
        _int(summary, "input_tokens"),
        _int(summary, "cache_read_tokens"),
        _int(summary, "cache_write_tokens"),
    )
    metered = requests - _int(summary, "unmetered")
    unpriced = _int(summary, "unpriced")
    parts = [f"{summary.get('target')} → {summary.get('model')}"]
    if metered:
        parts.append(f"in {_count(uncached + read + written)} out {_count(_int(summary, 'output_tokens'))}")
        if uncached + read + written:
            parts.append(f"cache {100 * read // (uncached + read + written)}%")
        cost = summary.get("cost_usd")
        cost = float(cost) if isinstance(cost, int | float) else 0.0
        about = "~" if _int(summary, "estimated") else ""  # estimated tokens: an estimated cost
        if unpriced == metered:
            parts.append("cost unknown")
        else:
            parts.append(about + _dollars(cost) + (f" + {unpriced} unpriced" if unpriced else ""))
    parts.append(f"{requests} request{'s' if requests != 1 else ''}")
    if _int(summary, "estimated"):
        parts.append(f"{_int(summary, 'estimated')} with estimated tokens")
    if metered < requests:
        parts.append(f"{requests - metered} without usage")
    return " · ".join(parts)


def _session_id(status_input: str, env: Mapping[str, str]) -> str:
    try:
        document = json.loads(status_input) if status_input.strip() else {}
    except ValueError:
        document = {}
    found = document.get("session_id") if isinstance(document, dict) else None
    return found if isinstance(found, str) and found else env.get("CLAUDE_CODE_SESSION_ID", "")


def render(status_input: str, env: Mapping[str, str]) -> str:
    """The status line for Claude Code's JSON document `status_input`; never raises."""
    try:
        return f"{PREFIX}: {_ask_gateway(status_input, env)}"
    except Exception as exc:  # the status line must never break Claude Code's screen
        return f"{PREFIX}: no status ({type(exc).__name__})"


def _ask_gateway(status_input: str, env: Mapping[str, str]) -> str:
    base = env.get("ANTHROPIC_BASE_URL", "").rstrip("/")
    if not base:
        return "ANTHROPIC_BASE_URL is not set"
    session_id = _session_id(status_input, env)
    if not session_id:
        return "no session id"
    headers = {}
    if env.get("ANTHROPIC_AUTH_TOKEN"):
        headers["Authorization"] = f"Bearer {env['ANTHROPIC_AUTH_TOKEN']}"
    elif env.get("ANTHROPIC_API_KEY"):
        headers["x-api-key"] = env["ANTHROPIC_API_KEY"]
    url = base + SESSION_PATH + quote(session_id, safe="")
    loopback = is_loopback(urlsplit(base).hostname or "")
    try:
        # A gateway on this machine is reached directly, whatever the proxy variables say.
        response = httpx.get(url, headers=headers, timeout=TIMEOUT_S, trust_env=not loopback)
    except httpx.TimeoutException:
        return "the gateway did not answer in time"
    except httpx.HTTPError:
        return "gateway not reachable"
    if response.status_code in (401, 403):
        return "the gateway refused the token"
    if response.status_code != 200:
        return f"no session summary here (HTTP {response.status_code}; is this claude-any?)"
    summary = response.json()
    if not isinstance(summary, dict):
        return "unreadable session summary"
    return summary_line(summary)


def read_input(stream: IO[str]) -> str:
    """Claude Code's JSON document; nothing when stdin is a terminal (someone trying the command)."""
    if stream.isatty():
        return ""
    return stream.read(MAX_INPUT_BYTES)


def main(stdin: IO[str] = sys.stdin, env: Mapping[str, str] = os.environ) -> str:
    """The line to print for `claude-any statusline`."""
    try:
        status_input = read_input(stdin)
    except (OSError, ValueError):
        status_input = ""
    return render(status_input, env)
