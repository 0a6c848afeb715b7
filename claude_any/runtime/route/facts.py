"""What routing rules can know about a request: the rule facts, each declared once, here.

A fact is a method of `Facts` marked with `@fact(type, about)`: its name, its type, the code that reads it
from the request and a one-line description sit together, and everything else follows that one declaration:
the checker types rules with it (grammar/checker.py), the evaluator reads facts by it (rules.py), `explain`
prints it and README's fact table lists it (a test compares them).

Every fact is read on first use and then kept, so a request pays only for the facts its rules read (the
token estimate is the costly one). Any JSON shape is accepted: a missing or odd field gives a neutral value
("" / 0 / false / no tools), since validating the request is the translator's job, not the router's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Generic, TypeVar, overload

from claude_any.runtime.route import tokens as token_estimator
from claude_any.runtime.route.tokens import SessionScale

FactValue = str | int | bool | tuple[str, ...]
T = TypeVar("T", str, int, bool, tuple[str, ...])


@dataclass(frozen=True, eq=False)
class FactType(Generic[T]):
    """A fact's type in the rule language; `T` is the Python value the runtime holds for it."""

    name: str  # as README and the checker's messages write it

    def __repr__(self) -> str:
        return self.name


STRING: FactType[str] = FactType("string")
NUMBER: FactType[int] = FactType("number")
BOOL: FactType[bool] = FactType("bool")
LIST: FactType[tuple[str, ...]] = FactType("list of strings")
FACT_TYPES = (STRING, NUMBER, BOOL, LIST)


@dataclass(frozen=True)
class FactSpec:
    """The declaration of one fact; made by `@fact`, collected in FACTS."""

    name: str
    type: FactType[Any]
    read: Callable[[Facts], FactValue]  # the request (as Facts) -> the value; never raises
    about: str  # one line, as README's fact table shows it
    values: tuple[str, ...] = ()  # the values it can take, when they are a known set
    values_may_grow: bool = False  # the set follows Anthropic's API: another value is a warning, not an error

    def __post_init__(self) -> None:
        if not isinstance(self.type, FactType):
            raise TypeError(f"fact '{self.name}' is declared without a type")
        if not callable(self.read):
            raise TypeError(f"fact '{self.name}' is declared without a reader")
        if not self.about.strip() or "\n" in self.about:
            raise TypeError(f"fact '{self.name}' needs a one-line description")


class _Lazy(Generic[T]):
    """A fact on `Facts`: read on first access, then kept in the instance, which shadows this descriptor.

    `functools.cached_property` without its per-property lock (Python 3.11): a Facts serves one request.
    """

    def __init__(self, spec: FactSpec, read: Callable[[Facts], T]) -> None:
        self.spec = spec
        self.name = spec.name
        self.read: Callable[[Facts], T] = read  # spec.read, with its precise type

    @overload
    def __get__(self, facts: None, owner: type[Facts]) -> _Lazy[T]: ...

    @overload
    def __get__(self, facts: Facts, owner: type[Facts]) -> T: ...

    def __get__(self, facts: Facts | None, owner: type[Facts]) -> _Lazy[T] | T:
        if facts is None:
            return self
        value = self.read(facts)
        facts.__dict__[self.name] = value
        return value


def fact(
    type: FactType[T], about: str, *, values: tuple[str, ...] = (), values_may_grow: bool = False
) -> Callable[[Callable[[Facts], T]], _Lazy[T]]:
    """Declare the method below as a rule fact of `type` (mypy checks that the method returns that type)."""

    def declare(read: Callable[[Facts], T]) -> _Lazy[T]:
        return _Lazy(FactSpec(read.__name__, type, read, about, values, values_may_grow), read)

    return declare


# Claude's model lines, as the Anthropic SDK's `ModelLine` names them; found by substring of the model.
# A newer one is `other` until it is added here; the built-in default still sends it to `large`.
FAMILIES = ("opus", "sonnet", "haiku", "fable", "mythos")

# Headers Claude Code sends (docs: llm-gateway; checked against 2.1.330).
SESSION_HEADER = "x-claude-code-session-id"  # one per conversation
AGENT_HEADERS = ("x-claude-code-agent-id", "x-claude-code-parent-agent-id")  # only on subagents' requests
# Sent with CLAUDE_CODE_GATEWAY_HINT_HEADERS=1 (claude-any code sets it): main, subagent, workflow,
# compaction, auxiliary (titles, summaries, classifiers, ...) or side_reply.
REQUEST_CLASS_HEADER = "x-claude-code-request-class"


class Facts:
    """The facts of one request. Read them as attributes, or by name with `get`; they cannot be set."""

    body: Mapping[str, Any]
    headers: Mapping[str, str]

    sessions: SessionScale | None

    def __init__(
        self, body: Mapping[str, Any], headers: Mapping[str, str], sessions: SessionScale | None = None
    ) -> None:
        self.__dict__.update(body=body, headers=headers, sessions=sessions)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"facts are read-only (tried to set '{name}')")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"facts are read-only (tried to delete '{name}')")

    def __repr__(self) -> str:
        read = ", ".join(f"{name}={self.__dict__[name]!r}" for name in FACTS if name in self.__dict__)
        return f"Facts({read})"

    # The facts, in the order explain prints them and README lists them.

    @fact(STRING, "the model the client asked for")
    def model(self) -> str:
        return _str(self.body.get("model"))

    @fact(
        STRING,
        "`opus`, `sonnet`, `haiku`, `fable`, `mythos` or `other` (substring of the model)",
        values=(*FAMILIES, "other"),
    )
    def family(self) -> str:
        return family_of(self.model)

    @fact(
        NUMBER,
        'estimated input tokens, scaled to the provider\'s count in a session (see "Token counts")',
    )
    def tokens(self) -> int:
        if self.sessions is None:
            return self.estimated_tokens
        return self.sessions.scale(self.session, self.estimated_tokens)

    @fact(NUMBER, "the request's `max_tokens`")
    def max_tokens(self) -> int:
        return _int(self.body.get("max_tokens"))

    @fact(BOOL, "extended or adaptive thinking requested")
    def thinking(self) -> bool:
        return _object(self.body.get("thinking")).get("type") in ("enabled", "adaptive")

    @fact(NUMBER, "`thinking.budget_tokens`, else 0")
    def thinking_budget(self) -> int:
        return _int(_object(self.body.get("thinking")).get("budget_tokens"))

    @fact(
        STRING,
        '`output_config.effort` (`low` … `max`), else `""`',
        values=("", "low", "medium", "high", "xhigh", "max"),
        values_may_grow=True,
    )
    def effort(self) -> str:
        return _str(_object(self.body.get("output_config")).get("effort"))

    @fact(LIST, "names of the tools offered")
    def tools(self) -> tuple[str, ...]:
        return _tool_names(self.body.get("tools"))

    @fact(BOOL, "an image anywhere, tool results included")
    def has_image(self) -> bool:
        return _has_image(self.body.get("messages"))

    @fact(BOOL, "a streaming request")
    def stream(self) -> bool:
        return self.body.get("stream") is True

    @fact(NUMBER, "number of messages")
    def messages(self) -> int:
        messages = self.body.get("messages")
        return len(messages) if isinstance(messages, list) else 0

    @fact(STRING, "the system prompt text")
    def system(self) -> str:
        return _system_text(self.body.get("system"))

    @fact(
        BOOL, "Claude Code's housekeeping: session titles, summaries, quick classifications (not compaction)"
    )
    def background(self) -> bool:
        request_class = self.header(REQUEST_CLASS_HEADER)
        if request_class:
            return request_class == "auxiliary"
        # Without the hint header: Claude Code's one-shot helpers offer an empty tool list and no thinking,
        # while its turns, subagents and compaction always offer tools.
        return bool(self.session) and self.body.get("tools") == [] and not self.thinking

    @fact(BOOL, "a request of one of Claude Code's subagents (`x-claude-code-agent-id` sent)")
    def subagent(self) -> bool:
        return any(self.header(name) for name in AGENT_HEADERS)

    # Not facts: what the runtime needs beside them.

    @cached_property
    def estimated_tokens(self) -> int:
        """The offline estimate, before any session's scale (what the provider's count is compared with)."""
        return token_estimator.estimate(self.body)

    @property
    def session(self) -> str:
        """Claude Code's session id, "" when the client sent none."""
        return self.header(SESSION_HEADER)

    def get(self, name: str) -> FactValue:
        """The value of the fact `name` (one of FACTS); KeyError for anything else."""
        if name not in FACTS:
            raise KeyError(name)
        value: FactValue = getattr(self, name)
        return value

    def header(self, name: str) -> str:
        """A request header by case-insensitive name, "" when absent."""
        value = self.headers.get(name)
        # A server's headers (Starlette's) are looked up case-insensitively already; only a plain dict
        # (explain, tests) needs the scan, which would decode every header again on each absent one.
        if value is None and isinstance(self.headers, dict):
            lowered = name.lower()
            value = next((v for k, v in self.headers.items() if k.lower() == lowered), None)
        return value if isinstance(value, str) else ""

    def as_dict(self) -> dict[str, FactValue]:
        """Every fact by name, in declaration order (reads the lazy ones), for explain and logs."""
        return {name: self.get(name) for name in FACTS}


# The one declaration of the rule facts, by name, in the order of the class body.
FACTS: dict[str, FactSpec] = {
    attr.name: attr.spec for attr in vars(Facts).values() if isinstance(attr, _Lazy)
}
FACT_NAMES = frozenset(FACTS)


def family_of(model: str) -> str:
    """A family of FAMILIES by substring of the lower-cased model name, else "other"."""
    lowered = model.lower()
    return next((fam for fam in FAMILIES if fam in lowered), "other")


def facts_from_request(
    body: Any, headers: Mapping[str, str] | None = None, sessions: SessionScale | None = None
) -> Facts:
    """The facts of an Anthropic Messages request. Never raises: odd fields read as neutral values.

    With `sessions`, `tokens` is scaled by what the provider counted for the request's session."""
    return Facts(body if isinstance(body, dict) else {}, headers if headers is not None else {}, sessions)


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


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
