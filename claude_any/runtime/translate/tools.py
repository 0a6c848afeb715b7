"""Tools for an OpenAI-style upstream: name mapping, tool definitions, tool_choice (docs/PROTOCOL.md)."""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Any

from claude_any.runtime.errors import invalid_request, json_type
from claude_any.runtime.translate.schema import clean_schema
from claude_any.runtime.translate.structured_output import strict_problem

log = logging.getLogger(__name__)

# OpenAI function names: letters, digits, underscore, dash; at most 64 characters.
_VALID_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_INVALID_CHARS = re.compile(r"[^A-Za-z0-9_-]")
_MAX_LEN = 64
_HASH_LEN = 8


def is_valid_tool_name(name: str) -> bool:
    """True when `name` is accepted as an OpenAI function name as is."""
    return bool(_VALID_NAME.match(name))


def _safe_name(claude_name: str) -> str:
    """A deterministic upstream-safe name: a readable prefix plus a short hash of the full name."""
    digest = hashlib.sha256(claude_name.encode("utf-8")).hexdigest()[:_HASH_LEN]
    prefix = _INVALID_CHARS.sub("_", claude_name)[: _MAX_LEN - _HASH_LEN - 1] or "tool"
    return f"{prefix}_{digest}"


class ToolNameMap:
    """Claude tool name <-> upstream-safe name, for one request.

    Valid names are kept as they are (the common case, and what users see in provider logs). Others (too
    long MCP names, dots, spaces) become a readable prefix plus a short hash, so the mapping is stable
    across the requests of one conversation and never needs shared state.
    """

    __slots__ = ("_to_claude", "_to_upstream")

    def __init__(self) -> None:
        self._to_upstream: dict[str, str] = {}
        self._to_claude: dict[str, str] = {}

    def to_upstream(self, claude_name: str) -> str:
        """The upstream name for `claude_name`, registering the pair on first use."""
        known = self._to_upstream.get(claude_name)
        if known is not None:
            return known
        name = claude_name if is_valid_tool_name(claude_name) else _safe_name(claude_name)
        # A valid Claude name could equal another tool's hashed name; keep the map a bijection.
        while name in self._to_claude and self._to_claude[name] != claude_name:
            name = _safe_name(name + "\0" + claude_name)
        self._to_upstream[claude_name] = name
        self._to_claude[name] = claude_name
        return name

    def to_claude(self, upstream_name: str) -> str:
        """The Claude name for `upstream_name`; unknown names pass through unchanged."""
        return self._to_claude.get(upstream_name, upstream_name)

    def __len__(self) -> int:
        return len(self._to_upstream)

    def __repr__(self) -> str:
        return f"ToolNameMap({self._to_upstream!r})"


# --- tool definitions and tool_choice ------------------------------------------------------------------


# Server tools whose results come from Anthropic's side (a search, a fetched page, code that ran): without
# them the model would answer as if it had searched or run something, so a request with one is refused.
_RUN_BY_ANTHROPIC = ("web_search_", "web_fetch_", "code_execution_")


def is_dropped_tool(tool: dict[str, Any]) -> str | None:
    """Why `tool` is not sent upstream (a server tool, or deferred), or None to keep it.

    Anthropic-defined tools (`web_search_*`, `bash_*`, `text_editor_*`, `code_execution_*`, ...) carry a
    versioned `type` and run on Anthropic's side; an OpenAI-style model cannot call them.
    """
    kind = tool.get("type")
    if kind not in (None, "custom"):
        return f"server tool type {kind!r}"
    if tool.get("defer_loading") is True:
        return "defer_loading"
    return None


def tools_to_openai(
    tools: list[Any], names: ToolNameMap, path: str = "tools", *, dialect: str = "openai"
) -> list[dict[str, Any]]:
    """Claude tool definitions as OpenAI `tools`, with deferred and client-side Anthropic-defined tools left
    out (and logged) and server tools Anthropic runs refused (400); parameter schemas in the target's
    `dialect` (capabilities `schema_dialect`)."""
    out: list[dict[str, Any]] = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise invalid_request(f"{path}.{i}: expected an object, got {json_type(tool)}")
        name = tool.get("name")
        reason = is_dropped_tool(tool)
        if reason is not None:
            kind = tool.get("type")
            if isinstance(kind, str) and kind.startswith(_RUN_BY_ANTHROPIC):
                raise invalid_request(
                    f"{path}.{i}: {kind} is a server tool that runs on Anthropic's side, and this target "
                    "cannot run it: answering without it would pretend to have searched, fetched or run "
                    "code. Route this request to an Anthropic target, or leave the tool out"
                )
            # Debug, not info: Claude Code sends a deferred placeholder tool with every request.
            log.debug("dropped tool %r: %s", name, reason)
            continue
        if not isinstance(name, str):
            raise invalid_request(f"{path}.{i}.name: expected a string")
        description = tool.get("description")
        function: dict[str, Any] = {
            "name": names.to_upstream(name),
            "description": description if isinstance(description, str) else "",
            "parameters": clean_schema(tool.get("input_schema"), dialect),
        }
        if tool.get("strict") is True:  # the client wants inputs that always match the schema
            problem = strict_problem(function["parameters"]) if dialect == "openai" else "no strict mode here"
            if problem is None:
                function["strict"] = True
            else:
                log.info("tool %r: sent without strict mode (not guaranteed): %s", name, problem)
        out.append({"type": "function", "function": function})
    return out


def tool_choice_to_openai(choice: dict[str, Any], names: ToolNameMap, sent: set[str]) -> str | dict[str, Any]:
    """Anthropic `tool_choice` as OpenAI's; `sent` holds the upstream names of the tools actually sent.

    A choice naming a tool that was dropped or never defined falls back to "auto" rather than a 400.
    """
    kind = choice.get("type")
    if kind == "any":
        return "required"
    if kind == "none":
        return "none"
    if kind == "tool":
        name = choice.get("name")
        upstream = names.to_upstream(name) if isinstance(name, str) else None
        if upstream in sent:
            return {"type": "function", "function": {"name": upstream}}
        log.info("tool_choice names unknown or dropped tool %r; using auto", name)
    return "auto"
