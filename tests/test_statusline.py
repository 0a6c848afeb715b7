"""`claude-any statusline` (claude_any/statusline.py): the line, its failures (never a hang, never a crash),
and when `claude-any code` installs it."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

from loopback import black_hole

from claude_any import statusline
from claude_any.statusline import TIMEOUT_S, has_status_line, render, summary_line, with_status_line

SUMMARY: dict[str, Any] = {
    "target": "large",
    "model": "openai/gpt-4.1",
    "requests": 3,
    "unmetered": 0,
    "input_tokens": 2_000,
    "output_tokens": 1_500,
    "cache_read_tokens": 6_000,
    "cache_write_tokens": 0,
    "cost_usd": 0.0211,
    "unpriced": 0,
}


def test_the_line_names_the_target_and_model_tokens_cache_and_cost() -> None:
    assert (
        summary_line(SUMMARY)
        == "large → openai/gpt-4.1 · in 8.0k out 1.5k · cache 75% · $0.0211 · 3 requests"
    )
    big = {**SUMMARY, "input_tokens": 1_500_000, "cost_usd": 12.5}
    assert summary_line(big) == "large → openai/gpt-4.1 · in 1.5M out 1.5k · cache 0% · $12.50 · 3 requests"


def test_unknown_prices_are_shown_as_unknown() -> None:
    assert "· cost unknown ·" in summary_line({**SUMMARY, "unpriced": 3, "cost_usd": 0})
    assert "· $0.0211 + 1 unpriced ·" in summary_line({**SUMMARY, "unpriced": 1})
    assert (
        summary_line({**SUMMARY, "unmetered": 3}) == "large → openai/gpt-4.1 · 3 requests · 3 without usage"
    )
    assert summary_line({"requests": 0}) == "no requests yet"
    assert summary_line({"requests": "many"}) == "no requests yet"  # a strange answer is not a crash


def test_estimated_tokens_make_an_estimated_cost() -> None:
    """A provider that reports no usage: the gateway's estimate is priced, and the line says it is one."""
    assert summary_line({**SUMMARY, "estimated": 2}) == (
        "large → openai/gpt-4.1 · in 8.0k out 1.5k · cache 75% · ~$0.0211 · 3 requests · "
        "2 with estimated tokens"
    )


def test_a_gateway_that_does_not_answer_is_given_up_on_quickly() -> None:
    with black_hole() as hole:
        host, port = hole.getsockname()
        started = time.monotonic()
        line = render('{"session_id": "s"}', {"ANTHROPIC_BASE_URL": f"http://{host}:{port}"})
        waited = time.monotonic() - started
    assert line == "claude-any: the gateway did not answer in time"
    assert waited < TIMEOUT_S * 5  # a guard against hanging Claude Code's screen, not a benchmark


def test_a_terminal_on_stdin_is_not_waited_on() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert statusline.read_input(Terminal("never read")) == ""
    assert statusline.read_input(io.StringIO('{"session_id": "s"}')) == '{"session_id": "s"}'


def test_a_status_line_in_any_settings_file_is_the_users(tmp_path: Path) -> None:
    home, project = tmp_path / "home", tmp_path / "work" / "sub"
    project.mkdir(parents=True)
    env = {"HOME": str(home)}
    assert not has_status_line(env, str(project))
    assert with_status_line(["-p", "x"], env, str(project))[0] == "--settings"

    local = tmp_path / "work" / ".claude" / "settings.local.json"
    local.parent.mkdir()
    local.write_text(json.dumps({"statusLine": {"type": "command", "command": "mine"}}))
    assert has_status_line(env, str(project))
    assert with_status_line(["-p", "x"], env, str(project)) == ["-p", "x"]

    local.write_text("{not json")  # unreadable: says nothing either way
    assert not has_status_line(env, str(project))
    user = tmp_path / "config" / "settings.json"
    user.parent.mkdir()
    user.write_text(json.dumps({"statusLine": {"type": "command", "command": "mine"}}))
    assert has_status_line({**env, "CLAUDE_CONFIG_DIR": str(user.parent)}, str(project))
