"""The requests `claude-any explain` describes when it is given no request file: by default one turn of Claude
Code as 2.1.330 really sends it, so rules are checked against real traffic; or its housekeeping, a subagent,
or a plain request.

What Claude Code 2.1.330 sends (captured from the CLI): adaptive thinking with effort `medium` and
`max_tokens` 128000 on every current model, its tools (one deferred), a three-block system prompt and the
session header; its housekeeping (session titles, summaries) comes as the same model with no tools and no
thinking; a subagent's requests add `x-claude-code-agent-id`.
"""

from __future__ import annotations

from typing import Any

SESSION_ID = "00000000-0000-4000-8000-000000000000"  # any id will do: explain keeps no session
# The tools of a `claude -p` session (interactive ones add AskUserQuestion); schemas left out.
CLAUDE_CODE_TOOLS = (
    "Agent",
    "Bash",
    "Edit",
    "ListAgents",
    "Read",
    "ReportFindings",
    "ScheduleWakeup",
    "Skill",
    "ToolSearch",
    "Workflow",
    "Write",
)
DEFERRED_TOOL = "DeferredToolPlaceholder"  # sent with `defer_loading: true`: never reaches the model
PLAIN_MAX_TOKENS = 32_000

PRESETS = {
    "claude-code": "a turn of Claude Code 2.1.330 (adaptive thinking, effort medium, 128k max_tokens, tools)",
    "claude-code-background": "its housekeeping: a session title (no tools, no thinking), as the main model",
    "claude-code-subagent": "a turn of one of its subagents (x-claude-code-agent-id)",
    "plain": f"one user message, max_tokens {PLAIN_MAX_TOKENS:,}, no tools, no thinking",
}
DEFAULT_PRESET = "claude-code"


def sample_request(preset: str, model: str, *, stream: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """(body, headers) of the preset's request for `model`; KeyError for a preset not in PRESETS."""
    if preset not in PRESETS:
        raise KeyError(preset)
    if preset == "plain":
        body = {
            "model": model,
            "max_tokens": PLAIN_MAX_TOKENS,
            "stream": stream,
            "messages": [_user("hello")],
        }
        return body, {}
    headers = {"x-app": "cli", "x-claude-code-session-id": SESSION_ID}
    if preset == "claude-code-background":
        return _title(model, stream), headers
    if preset == "claude-code-subagent":
        headers["x-claude-code-agent-id"] = "a0000000000000000"
    return _turn(model, stream), headers


def _user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "text", "text": text}]}


def _system(instructions: str) -> list[dict[str, Any]]:
    return [
        {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.330; cc_entrypoint=cli;"},
        {"type": "text", "text": "You are Claude Code."},
        {"type": "text", "text": instructions},
    ]


def _tool(name: str) -> dict[str, Any]:
    schema = {"type": "object", "properties": {}}
    return {"name": name, "description": f"the {name} tool", "input_schema": schema}


def _turn(model: str, stream: bool) -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": 128_000,
        "stream": stream,
        "thinking": {"type": "adaptive", "display": "omitted"},
        "output_config": {"effort": "medium"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "system": _system("Help the user with their software project."),
        "messages": [_user("hello")],
        "tools": [
            *(_tool(name) for name in CLAUDE_CODE_TOOLS),
            {**_tool(DEFERRED_TOOL), "defer_loading": True},
        ],
    }


def _title(model: str, stream: bool) -> dict[str, Any]:
    schema = {
        "type": "object",
        "properties": {"title": {"type": "string"}},
        "required": ["title"],
        "additionalProperties": False,
    }
    return {
        "model": model,
        "max_tokens": 128_000,
        "stream": stream,
        "output_config": {"effort": "medium", "format": {"type": "json_schema", "schema": schema}},
        "system": _system("Name this coding session in a few words."),
        "messages": [_user("<session>\nhello\n</session>")],
        "tools": [],
    }
