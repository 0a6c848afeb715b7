"""What routing rules can know about a request: the facts of docs/ARCHITECTURE.md, read leniently.

Any JSON shape is accepted: a missing or odd field gives a neutral value ("" / 0 / false / no tools), since
validating the request is the translator's job, not the router's. The costly facts (`tokens`, `has_image`,
`system`) are computed on first use, so a table whose rules never read them never pays for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from claude_any.runtime import tokens as token_estimator

FactValue = str | int | bool | tuple[str, ...]

# The names a rule may read; grammar/checker.py FACTS holds the same names with their types.
FACT_NAMES = frozenset(
    {
        "model",
        "family",
        "tokens",
        "max_tokens",
        "thinking",
        "thinking_budget",
        "effort",
        "tools",
        "has_image",
        "stream",
        "messages",
        "system",
    }
)

_FAMILIES = ("opus", "sonnet", "haiku")


@dataclass(frozen=True)
class Facts:
    """The facts of one request. Read them as attributes, or by name with `get`."""

    model: str
    family: str
    max_tokens: int
    thinking: bool
    thinking_budget: int
    effort: str
    tools: tuple[str, ...]
    stream: bool
    messages: int
    headers: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    body: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @cached_property
    def tokens(self) -> int:
        """Estimated input tokens (runtime/tokens.py)."""
        return token_estimator.estimate(self.body)

    @cached_property
    def has_image(self) -> bool:
        """An image block anywhere: in messages, in tool results, in document content."""
        return _has_image(self.body.get("messages"))

    @cached_property
    def system(self) -> str:
        """The system prompt's text, blocks joined with newlines."""
        return _system_text(self.body.get("system"))

    def get(self, name: str) -> FactValue:
        """The value of the fact `name` (one of FACT_NAMES); KeyError for anything else."""
        if name not in FACT_NAMES:
            raise KeyError(name)
        value: FactValue = getattr(self, name)
        return value

    def header(self, name: str) -> str:
        """A request header by case-insensitive name, "" when absent."""
        value = self.headers.get(name)
        if value is None:
            lowered = name.lower()
            value = next((v for k, v in self.headers.items() if k.lower() == lowered), None)
        return value if isinstance(value, str) else ""

    def as_dict(self) -> dict[str, FactValue]:
        """Every fact by name (computes the lazy ones), for explain and logs."""
        return {name: self.get(name) for name in sorted(FACT_NAMES)}


def family_of(model: str) -> str:
    """opus / sonnet / haiku by substring of the lower-cased model name, else "other"."""
    lowered = model.lower()
    return next((fam for fam in _FAMILIES if fam in lowered), "other")


def facts_from_request(body: Any, headers: Mapping[str, str] | None = None) -> Facts:
    """The facts of an Anthropic Messages request. Never raises: odd fields read as neutral values."""
    if not isinstance(body, dict):
        body = {}
    model = _str(body.get("model"))
    thinking = body.get("thinking")
    thinking = thinking if isinstance(thinking, dict) else {}
    output_config = body.get("output_config")
    output_config = output_config if isinstance(output_config, dict) else {}
    messages = body.get("messages")
    return Facts(
        model=model,
        family=family_of(model),
        max_tokens=_int(body.get("max_tokens")),
        thinking=thinking.get("type") in ("enabled", "adaptive"),
        thinking_budget=_int(thinking.get("budget_tokens")),
        effort=_str(output_config.get("effort")),
        tools=_tool_names(body.get("tools")),
        stream=body.get("stream") is True,
        messages=len(messages) if isinstance(messages, list) else 0,
        headers=headers if headers is not None else {},
        body=body,
    )


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int:
    # bool is an int subclass; `max_tokens: true` is not 1.
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return 0


def _tool_names(tools: Any) -> tuple[str, ...]:
    if not isinstance(tools, list):
        return ()
    return tuple(t["name"] for t in tools if isinstance(t, dict) and isinstance(t.get("name"), str))


def _system_text(system: Any) -> str:
    if isinstance(system, str):
        return system
    if not isinstance(system, list):
        return ""
    parts = [b.get("text") for b in system if isinstance(b, dict)]
    return "\n".join(p for p in parts if isinstance(p, str))


def _has_image(content: Any) -> bool:
    """Depth-first search for an image block through messages, content lists and tool results."""
    stack: list[Any] = [content]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            if item.get("type") == "image":
                return True
            # Only fields that can hold blocks: message, tool result and document content, document source.
            for key in ("content", "source"):
                child = item.get(key)
                if isinstance(child, list | dict):
                    stack.append(child)
    return False
