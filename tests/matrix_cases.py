"""The provider × scenario matrix's data: requests, what the model "says", and how each upstream says it.

A `Scenario` is an Anthropic request (written for these tests; no captured prompt text) plus an `Answer`: the
model's reply independent of any wire format. A `Kind` is a provider configuration pointed at the fake
upstream plus its dialect; `upstream_reply(kind, answer, stream)` renders the answer the way that provider
really sends it (Azure's filter results, Databricks' reasoning lists and per-chunk usage, Ollama's tool
chunks, Anthropic's native events), so the matrix exercises each provider's quirks, not one idealised shape.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from loopback import DONE, Reply

from claude_any.capabilities import lookup
from claude_any.table import Provider, Target, empty_params

MODEL = "claude-sonnet-4-6"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
CREATED = 1767225600  # a fixed timestamp: upstream replies must not vary between runs


# --- what the model says -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    id: str
    name: str
    input: dict[str, Any]


@dataclass(frozen=True)
class Answer:
    """A reply in no particular dialect, and the usage the upstream reports for it."""

    text: str = ""
    thinking: str = ""
    calls: tuple[Call, ...] = ()
    prompt_tokens: int = 120
    completion_tokens: int = 20
    cached_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def finish(self) -> str:
        return "tool_calls" if self.calls else "stop"

    @property
    def stop_reason(self) -> str:
        return "tool_use" if self.calls else "end_turn"


@dataclass(frozen=True)
class Scenario:
    name: str
    request: dict[str, Any]  # an Anthropic Messages body, without `stream`
    answer: Answer
    headers: dict[str, str] = field(default_factory=dict)  # extra client headers
    query: dict[str, str] = field(default_factory=dict)  # extra query (Claude Code sends ?beta=true)
    malformed: bool = False  # the upstream breaks its protocol half-way


# --- requests ----------------------------------------------------------------------------------------------


def _text(value: str, **extra: Any) -> dict[str, Any]:
    return {"type": "text", "text": value, **extra}


def _tool(name: str, description: str, **props: Any) -> dict[str, Any]:
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": props,
        "required": sorted(props),
        "additionalProperties": False,
    }
    return {"name": name, "description": description, "input_schema": schema}


STRING = {"type": "string"}
BASH = _tool("Bash", "Run a shell command in the project directory.", command=STRING)
READ = _tool("Read", "Read a text file.", file_path=STRING)
GLOB = _tool("Glob", "List files matching a glob pattern.", pattern=STRING)
GREP = _tool("Grep", "Search file contents with a regular expression.", pattern=STRING, path=STRING)
IMAGE_B64 = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
IMAGE_URL = {"type": "image", "source": {"type": "url", "url": "https://example.test/architecture.png"}}


def _request(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 1024, "messages": list(messages), **fields}


def _user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def _assistant(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"role": "assistant", "content": list(blocks)}


PLAIN = Scenario(
    "plain_text",
    _request(_user("Say hello to the matrix."), temperature=0.2),
    Answer(text="Hello, matrix! Every provider says hi.", prompt_tokens=14, completion_tokens=9),
)

SYSTEM = Scenario(
    "system_blocks",
    _request(
        _user([_text("Where do I work?"), _text("  ")]),
        {"role": "system", "content": "Reminder: the working directory is /srv/app."},
        _assistant(_text("Noted.")),
        _user([_text("Repeat it, please.")]),
        system=[
            _text("client: matrix-suite 1.0"),
            _text("You are a careful coding assistant.", cache_control={"type": "ephemeral"}),
            _text("Answer in one sentence."),
        ],
    ),
    Answer(text="You work in /srv/app.", prompt_tokens=64, completion_tokens=7, cached_tokens=32),
)

TOOL_ROUND_TRIP = Scenario(
    "tool_round_trip",
    _request(
        _user("List the files, then read the config."),
        _assistant(
            _text("Listing."),
            {"type": "tool_use", "id": "toolu_01List", "name": "Bash", "input": {"command": "ls"}},
        ),
        _user(
            [
                {"type": "tool_result", "tool_use_id": "toolu_01List", "content": "app.py\nconfig.toml"},
                _text("Now the config."),
            ]
        ),
        tools=[BASH, READ],
        tool_choice={"type": "auto"},
    ),
    Answer(
        text="Reading the config next.",
        calls=(Call("call_read_1", "Read", {"file_path": "/srv/app/config.toml"}),),
        prompt_tokens=210,
        completion_tokens=31,
    ),
)

PARALLEL_TOOLS = Scenario(
    "parallel_tools",
    _request(_user("Find the Python files and every TODO under src."), tools=[GLOB, GREP]),
    Answer(
        calls=(
            Call("call_glob_1", "Glob", {"pattern": "**/*.py"}),
            Call("call_grep_2", "Grep", {"pattern": "TODO", "path": "src"}),
        ),
        prompt_tokens=180,
        completion_tokens=42,
    ),
)

IMAGES = Scenario(
    "images",
    _request(
        _user([_text("Compare these two diagrams."), IMAGE_B64, IMAGE_URL]),
        _assistant({"type": "tool_use", "id": "toolu_01Shot", "name": "Screenshot", "input": {}}),
        _user(
            [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01Shot",
                    "content": [_text("Captured the window."), IMAGE_B64],
                },
                _text("And this screenshot?"),
            ]
        ),
        tools=[_tool("Screenshot", "Capture the active window.")],
    ),
    Answer(text="Both diagrams show two boxes; the screenshot adds a third.", completion_tokens=14),
)

THINKING = Scenario(
    "thinking",
    _request(
        _user("What is 17 + 25?"),
        _assistant(
            {"type": "thinking", "thinking": "Simple arithmetic.", "signature": "sig-from-an-earlier-turn"},
            _text("Let me check that."),
        ),
        _user("Go ahead."),
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 2048},
    ),
    Answer(
        thinking="The user wants a sum: 17 + 25 = 42.",
        text="17 + 25 = 42.",
        prompt_tokens=40,
        completion_tokens=58,
        reasoning_tokens=48,
    ),
)

STRUCTURED = Scenario(
    "structured_output",
    _request(
        _user("Describe this project as JSON."),
        output_config={
            "format": {
                "type": "json_schema",
                "schema": {
                    "type": "object",
                    "properties": {"name": STRING, "stars": {"type": "integer"}},
                    "required": ["name", "stars"],
                    "additionalProperties": False,
                },
            }
        },
    ),
    Answer(text='{"name": "claude-any", "stars": 5}', prompt_tokens=52, completion_tokens=12),
)

# The shape of a Claude Code turn (tests/fixtures/claude-code), smaller, with its own text.
CLAUDE_CODE = Scenario(
    "claude_code_shaped",
    _request(
        _user(
            [
                _text("<system-reminder>Project notes are in NOTES.md.</system-reminder>"),
                _text("What is in this directory?", cache_control={"type": "ephemeral"}),
            ]
        ),
        model="claude-opus-4-8",
        max_tokens=32000,
        system=[
            _text("x-matrix-header: client=matrix; version=0.0.1"),
            _text(
                "You are an interactive coding agent for the matrix suite.",
                cache_control={"type": "ephemeral"},
            ),
            _text("Use the tools to answer; be brief.", cache_control={"type": "ephemeral"}),
        ],
        tools=[BASH, READ, {**GLOB, "cache_control": {"type": "ephemeral"}}],
        metadata={"user_id": "matrix-user-0001"},
        thinking={"type": "adaptive"},
        output_config={"effort": "medium"},
        context_management={"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
    ),
    Answer(
        thinking="List the directory first.",
        text="Let me look.",
        calls=(Call("call_bash_1", "Bash", {"command": "ls -la"}),),
        prompt_tokens=5200,
        completion_tokens=61,
        cached_tokens=4096,
        reasoning_tokens=9,
    ),
    headers={
        "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14,effort-2025-11-24",
        "x-claude-code-session-id": "matrix-session-1",
        "x-app": "cli",
    },
    query={"beta": "true"},
)

MALFORMED = Scenario(
    "malformed_upstream",
    _request(_user("Say hello to the matrix.")),
    Answer(text="Partial answer"),
    malformed=True,
)

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        PLAIN,
        SYSTEM,
        TOOL_ROUND_TRIP,
        PARALLEL_TOOLS,
        IMAGES,
        THINKING,
        STRUCTURED,
        CLAUDE_CODE,
        MALFORMED,
    )
}


# --- provider kinds ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Wire:
    """How one OpenAI-compatible service writes an answer (the `compat` dialect), from its documentation
    and its users' reports: where reasoning goes, what tool-call ids look like, how usage is counted."""

    reasoning: str | None = None  # the field reasoning rides in: reasoning_content | reasoning
    think_tags: bool = False  # reasoning inline as <think>…</think> before the text (MiniMax)
    details: bool = False  # OpenRouter's reasoning_details next to `reasoning`
    tool_id: Callable[[int, Call], str] = lambda i, call: call.id
    whole_calls: bool = False  # a streamed call arrives whole in one chunk
    indexed_calls: bool = True  # streamed calls carry `index`
    thought_signatures: bool = False  # Gemini: the first call of a step carries one
    cache: str = "details"  # how cached prompt tokens are reported: details | deepseek | kimi | none
    usage_in_choice: bool = False  # the usage rides in the last chunk's choice (Kimi)
    comments: bool = False  # SSE comment lines between events (OpenRouter)
    stop_reason: bool = False  # `stop_reason` on every choice (vLLM)


@dataclass(frozen=True)
class Kind:
    """A provider configuration (pointed at the fake upstream by `provider(base)`) and its dialect."""

    name: str
    dialect: str  # openai | azure | databricks | ollama | anthropic | compat (a `wire`)
    provider: Callable[[str], Provider]
    model: str  # sent upstream
    base_model: str  # capabilities looked up with
    scenarios: tuple[str, ...] = tuple(SCENARIOS)
    # The service's real address, for its capabilities (the provider itself points at the fake upstream).
    service_url: str | None = None
    wire: Wire = field(default_factory=Wire)

    @property
    def reports_cache(self) -> bool:
        """Ollama, MiniMax and Gemini report no cached token details; the others do."""
        return self.dialect != "ollama" and self.wire.cache != "none"

    @property
    def shows_reasoning(self) -> bool:
        """OpenAI and Azure Chat Completions and Gemini's endpoint never return reasoning text; the others
        do."""
        shown = self.dialect != "compat" or bool(self.wire.reasoning or self.wire.think_tags)
        return self.dialect not in ("openai", "azure") and shown

    def capabilities(self, kind: str) -> dict[str, Any]:
        return lookup(kind, self.base_model, self.service_url)

    def target(self, target_id: str, provider: Provider) -> Target:
        return Target(
            target_id,
            provider.name,
            self.model,
            self.base_model,
            self.capabilities(provider.kind),
            empty_params(),
        )

    def upstream_ids(self, answer: Answer) -> list[str]:
        """The tool-call ids the provider issues for `answer`'s calls."""
        return [self.wire.tool_id(i, call) for i, call in enumerate(answer.calls)]


def _openai(base: str) -> Provider:
    settings = {"api_key": "${OPENAI_API_KEY}", "base_url": base + "/v1", "organization": None}
    return Provider("openai", "openai", "chat", settings)


def _azure(version: str) -> Callable[[str], Provider]:
    def make(base: str) -> Provider:
        settings = {"api_key": "${AZURE_KEY}", "endpoint": base, "api_version": version}
        return Provider("azure", "azure", "chat", settings)

    return make


def _databricks(base: str) -> Provider:
    return Provider("databricks", "databricks", "chat", {"token": "${DATABRICKS_TOKEN}", "host": base})


def _local(base: str) -> Provider:
    return Provider(
        "ollama", "openai", "chat", {"api_key": None, "base_url": base + "/v1", "organization": None}
    )


def _anthropic(base: str) -> Provider:
    return Provider("claude", "anthropic", "chat", {"api_key": "${ANTHROPIC_API_KEY}", "base_url": base})


# The scenarios every open-model service runs (no image or PDF support assumed, no breakage).
_OPEN = ("plain_text", "tool_round_trip", "parallel_tools", "thinking", "claude_code_shaped")
_OPENROUTER_SIG = "EqoBCkgIBxABGAIqQOpenRouterSignature"


def _kimi_id(i: int, call: Call) -> str:
    return f"functions.{call.name}:{i}"


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("openai", "openai", _openai, "gpt-5.1", "gpt-5.1"),
        Kind("azure_deployment", "azure", _azure("2024-10-21"), "gpt-4o-prod", "gpt-4o"),
        Kind("azure_v1", "azure", _azure("v1"), "gpt-4.1", "gpt-4.1"),
        Kind("databricks", "databricks", _databricks, "databricks-gpt-oss-120b", "databricks-gpt-oss-120b"),
        Kind("openai_compatible", "ollama", _local, "qwen3-coder:30b", "qwen3-coder:30b"),
        Kind(
            "anthropic",
            "anthropic",
            _anthropic,
            "claude-sonnet-4-5",
            "claude-sonnet-4-5",
            scenarios=("plain_text", "tool_round_trip", "thinking", "claude_code_shaped"),
        ),
        # Open models behind their vendors' APIs and self-hosted servers (issue #15).
        Kind(
            "vllm",
            "compat",
            _local,
            "openai/gpt-oss-120b",
            "openai/gpt-oss-120b",
            _OPEN,
            "http://127.0.0.1:8000/v1",
            Wire(
                reasoning="reasoning",
                tool_id=lambda i, c: f"chatcmpl-tool-{i:02d}{c.id[-4:]}",
                stop_reason=True,
            ),
        ),
        Kind(
            "deepseek",
            "compat",
            _local,
            "deepseek-v4-pro",
            "deepseek-v4-pro",
            _OPEN,
            "https://api.deepseek.com",
            Wire(reasoning="reasoning_content", tool_id=lambda i, c: f"call_0{i}_{c.id}", cache="deepseek"),
        ),
        Kind(
            "kimi",
            "compat",
            _local,
            "kimi-k2-thinking",
            "kimi-k2-thinking",
            _OPEN,
            "https://api.moonshot.ai/v1",
            Wire(reasoning="reasoning_content", tool_id=_kimi_id, cache="kimi", usage_in_choice=True),
        ),
        Kind(
            "glm",
            "compat",
            _local,
            "glm-4.6",
            "glm-4.6",
            _OPEN,
            "https://api.z.ai/api/paas/v4",
            Wire(
                reasoning="reasoning_content",
                tool_id=lambda i, c: f"call_-81{i}66{len(c.id)}",
                whole_calls=True,
            ),
        ),
        Kind(
            "minimax",
            "compat",
            _local,
            "MiniMax-M2",
            "MiniMax-M2",
            _OPEN,
            "https://api.minimax.io/v1",
            Wire(think_tags=True, tool_id=lambda i, c: f"call_function_{c.id}_{i + 1}", cache="none"),
        ),
        Kind(
            "openrouter",
            "compat",
            _local,
            "anthropic/claude-sonnet-4.5",
            "anthropic/claude-sonnet-4.5",
            _OPEN,
            "https://openrouter.ai/api/v1",
            Wire(
                reasoning="reasoning",
                details=True,
                tool_id=lambda i, c: f"toolu_vrtx_01{c.id}",
                comments=True,
            ),
        ),
        Kind(
            "gemini",
            "compat",
            _local,
            "gemini-3-pro-preview",
            "gemini-3-pro-preview",
            (*_OPEN, "structured_output"),
            "https://generativelanguage.googleapis.com/v1beta/openai/",
            Wire(
                tool_id=lambda i, c: f"function-call-{i}",
                whole_calls=True,
                indexed_calls=False,
                thought_signatures=True,
                cache="none",
            ),
        ),
    )
}


def openrouter_details(a: Answer) -> list[dict[str, Any]]:
    """The reasoning details OpenRouter returns for `a` (a Claude model: signed reasoning text)."""
    if not a.thinking:
        return []
    detail = {"type": "reasoning.text", "text": a.thinking, "signature": _OPENROUTER_SIG}
    return [{**detail, "format": "anthropic-claude-v1", "index": 0}]


def thought_signature(call: Call) -> str:
    """The thought signature Gemini puts on the first call of a step."""
    return f"CiQBVKhc7{call.name}Signature+/=="


# --- rendering an answer in each dialect -------------------------------------------------------------------


def _pieces(text: str, parts: int = 3) -> list[str]:
    """`text` cut into about `parts` pieces at spaces, so deltas arrive as real streams send them."""
    words = text.split(" ")
    size = max(1, -(-len(words) // parts))
    chunks = [" ".join(words[i : i + size]) for i in range(0, len(words), size)]
    return [c + (" " if i < len(chunks) - 1 else "") for i, c in enumerate(chunks)]


def _usage(a: Answer, kind: Kind) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": a.prompt_tokens,
        "completion_tokens": a.completion_tokens,
        "total_tokens": a.prompt_tokens + a.completion_tokens,
    }
    cache = kind.wire.cache if kind.dialect == "compat" else "details"
    if not kind.reports_cache:
        return usage
    if cache == "kimi":  # Moonshot: one top-level count
        usage["cached_tokens"] = a.cached_tokens
        return usage
    usage["prompt_tokens_details"] = {"cached_tokens": a.cached_tokens}
    usage["completion_tokens_details"] = {"reasoning_tokens": a.reasoning_tokens}
    if cache == "deepseek":  # DeepSeek: its own hit / miss counts beside OpenAI's
        usage["prompt_cache_hit_tokens"] = a.cached_tokens
        usage["prompt_cache_miss_tokens"] = a.prompt_tokens - a.cached_tokens
    return usage


_FILTERS = {
    name: {"filtered": False, "severity": "safe"} for name in ("hate", "self_harm", "sexual", "violence")
}


def _tool_calls(a: Answer, kind: Kind) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    for i, (c, call_id) in enumerate(zip(a.calls, kind.upstream_ids(a), strict=True)):
        call = {
            "id": call_id,
            "type": "function",
            "function": {"name": c.name, "arguments": json.dumps(c.input)},
        }
        if kind.wire.thought_signatures and i == 0:
            call["extra_content"] = {"google": {"thought_signature": thought_signature(c)}}
        calls.append(call)
    return calls


def _compat_message(wire: Wire, a: Answer, message: dict[str, Any]) -> None:
    if a.thinking and wire.reasoning:
        message[wire.reasoning] = a.thinking
    if a.thinking and wire.think_tags:
        message["content"] = f"<think>\n{a.thinking}\n</think>\n\n{a.text}"
    if wire.details:
        message["reasoning_details"] = openrouter_details(a)
        message["refusal"] = None


def _completion(kind: Kind, a: Answer) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": a.text or None}
    if kind.dialect == "databricks" and a.thinking:
        summary = {"type": "summary_text", "text": a.thinking, "signature": "dbx-signature-1"}
        message["content"] = [{"type": "reasoning", "summary": [summary]}]
        if a.text:
            message["content"].append({"type": "text", "text": a.text})
    if kind.dialect == "ollama" and a.thinking:
        message["reasoning"] = a.thinking
    if kind.dialect == "compat":
        _compat_message(kind.wire, a, message)
    if a.calls:
        message["tool_calls"] = _tool_calls(a, kind)
    choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": a.finish}
    if kind.wire.stop_reason:
        choice["stop_reason"] = None
    body: dict[str, Any] = {
        "id": "chatcmpl-matrix",
        "object": "chat.completion",
        "created": CREATED,
        "model": kind.model,
        "choices": [choice],
        "usage": _usage(a, kind),
    }
    if kind.dialect == "azure":
        body["prompt_filter_results"] = [{"prompt_index": 0, "content_filter_results": _FILTERS}]
        choice["content_filter_results"] = _FILTERS
    return body


def _chunk(kind: Kind, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {
        "id": "chatcmpl-matrix",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": kind.model,
        "choices": [choice],
    }


def _openai_chunks(kind: Kind, a: Answer) -> list[Any]:
    """OpenAI and Azure: role first, text deltas, each call announced then its arguments in fragments,
    finish, and the usage chunk (`choices: []`) that `stream_options.include_usage` asks for."""
    chunks: list[Any] = []
    if kind.dialect == "azure":  # Azure opens with the prompt's content-filter verdict and no choices
        chunks.append(
            {
                "id": "",
                "object": "",
                "created": 0,
                "model": "",
                "choices": [],
                "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": _FILTERS}],
            }
        )
    chunks.append(_chunk(kind, {"role": "assistant", "content": "", "refusal": None}))
    chunks += [_chunk(kind, {"content": piece}) for piece in _pieces(a.text)] if a.text else []
    for i, (call, call_id) in enumerate(zip(a.calls, kind.upstream_ids(a), strict=True)):
        head = {
            "index": i,
            "id": call_id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        chunks.append(_chunk(kind, {"tool_calls": [head]}))
        arguments = json.dumps(call.input)
        for part in (arguments[: len(arguments) // 2], arguments[len(arguments) // 2 :]):
            chunks.append(_chunk(kind, {"tool_calls": [{"index": i, "function": {"arguments": part}}]}))
    chunks.append(_chunk(kind, {}, a.finish))
    chunks.append({**_chunk(kind, {}), "choices": [], "usage": _usage(a, kind)})
    return [*chunks, DONE]


def _databricks_chunks(kind: Kind, a: Answer) -> list[Any]:
    """Databricks: reasoning as a content list with the signature on its last piece, a cumulative usage
    object on every chunk, and tool arguments that start with a `{}` placeholder."""
    deltas: list[tuple[dict[str, Any], str | None]] = [({"role": "assistant", "content": ""}, None)]
    if a.thinking:
        pieces = _pieces(a.thinking)
        for n, piece in enumerate(pieces):
            summary: dict[str, Any] = {"type": "summary_text", "text": piece}
            if n == len(pieces) - 1:
                summary["signature"] = "dbx-signature-1"
            deltas.append(({"content": [{"type": "reasoning", "summary": [summary]}]}, None))
    deltas += [({"content": piece}, None) for piece in _pieces(a.text)] if a.text else []
    for i, call in enumerate(a.calls):
        head = {
            "index": i,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": "{}"},
        }
        deltas.append(({"tool_calls": [head]}, None))
        deltas.append(
            ({"tool_calls": [{"index": i, "function": {"arguments": json.dumps(call.input)}}]}, None)
        )
    deltas.append(({}, a.finish))
    chunks: list[Any] = []
    for n, (delta, finish) in enumerate(deltas, start=1):
        so_far = replace(a, completion_tokens=a.completion_tokens * n // len(deltas))
        chunks.append({**_chunk(kind, delta, finish), "usage": _usage(so_far, kind)})
    return [*chunks, DONE]


def _ollama_chunks(kind: Kind, a: Answer) -> list[Any]:
    """Ollama's /v1: reasoning in `reasoning`, each tool call whole in one chunk and all at index 0, and
    `finish_reason: "stop"` even after tool calls."""
    chunks: list[Any] = (
        [
            _chunk(kind, {"role": "assistant", "content": "", "reasoning": piece})
            for piece in _pieces(a.thinking)
        ]
        if a.thinking
        else []
    )
    chunks += (
        [_chunk(kind, {"role": "assistant", "content": piece}) for piece in _pieces(a.text)] if a.text else []
    )
    for call in a.calls:
        whole = {
            "id": call.id,
            "index": 0,
            "type": "function",
            "function": {"name": call.name, "arguments": json.dumps(call.input)},
        }
        chunks.append(_chunk(kind, {"role": "assistant", "content": "", "tool_calls": [whole]}))
    chunks.append(_chunk(kind, {"role": "assistant", "content": ""}, "stop"))
    chunks.append({**_chunk(kind, {}), "choices": [], "usage": _usage(a, kind)})
    return [*chunks, DONE]


def _compat_chunks(kind: Kind, a: Answer) -> list[Any]:
    """An OpenAI-compatible service as its `wire` says: reasoning deltas in its field (or inline tags, or
    with OpenRouter's details), text, tool calls in fragments or whole, the finish, and the usage."""
    wire = kind.wire
    chunks: list[Any] = [_chunk(kind, {"role": "assistant", "content": ""})]
    if a.thinking and wire.reasoning:
        pieces = _pieces(a.thinking)
        for n, piece in enumerate(pieces):
            delta: dict[str, Any] = {wire.reasoning: piece, "content": None}
            if wire.details:
                fragment = {
                    "type": "reasoning.text",
                    "text": piece,
                    "format": "anthropic-claude-v1",
                    "index": 0,
                }
                if n == len(pieces) - 1:
                    fragment["signature"] = _OPENROUTER_SIG
                delta["reasoning_details"] = [fragment]
            chunks.append(_chunk(kind, delta))
    text = f"<think>\n{a.thinking}\n</think>\n\n{a.text}" if a.thinking and wire.think_tags else a.text
    chunks += [_chunk(kind, {"content": piece}) for piece in _pieces(text, 5)] if text else []
    if wire.comments:
        chunks.insert(1, ": OPENROUTER PROCESSING\n\n")
    for i, call in enumerate(_tool_calls(a, kind)):
        arguments = call["function"]["arguments"]
        if wire.whole_calls:
            fragments = [call]
        else:
            head = {**call, "function": {"name": call["function"]["name"], "arguments": ""}}
            half = len(arguments) // 2
            parts = (arguments[:half], arguments[half:])
            fragments = [head] + [{"function": {"arguments": part}} for part in parts]
        for fragment in fragments:
            chunks.append(
                _chunk(kind, {"tool_calls": [{**fragment, "index": i} if wire.indexed_calls else fragment]})
            )
    usage = _usage(a, kind)
    finish = _chunk(kind, {}, a.finish)
    if wire.stop_reason:
        finish["choices"][0]["stop_reason"] = None
    if wire.usage_in_choice:
        finish["choices"][0]["usage"] = usage
        return [*chunks, finish, DONE]
    return [*chunks, finish, {**_chunk(kind, {}), "choices": [], "usage": usage}, DONE]


def anthropic_message(kind: Kind, a: Answer) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if a.thinking:
        content.append({"type": "thinking", "thinking": a.thinking, "signature": "ant-signature-1"})
    if a.text:
        content.append({"type": "text", "text": a.text})
    content += [
        {"type": "tool_use", "id": f"toolu_{c.id}", "name": c.name, "input": c.input} for c in a.calls
    ]
    usage = {
        "input_tokens": a.prompt_tokens - a.cached_tokens,
        "output_tokens": a.completion_tokens,
        "cache_read_input_tokens": a.cached_tokens,
        "cache_creation_input_tokens": 0,
    }
    return {
        "id": "msg_01MatrixNative",
        "type": "message",
        "role": "assistant",
        "model": kind.model,
        "content": content,
        "stop_reason": a.stop_reason,
        "stop_sequence": None,
        "usage": usage,
    }


def _event(data: dict[str, Any]) -> str:
    return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n"


def _anthropic_events(kind: Kind, a: Answer) -> list[Any]:
    message = anthropic_message(kind, a)
    start = {**message, "content": [], "stop_reason": None, "usage": {**message["usage"], "output_tokens": 1}}
    events = [_event({"type": "message_start", "message": start}), _event({"type": "ping"})]
    for index, block in enumerate(message["content"]):
        empty: dict[str, dict[str, Any]] = {
            "thinking": {"thinking": "", "signature": ""},
            "text": {"text": ""},
            "tool_use": {"input": {}},
        }
        opened = {**block, **empty[block["type"]]}
        events.append(_event({"type": "content_block_start", "index": index, "content_block": opened}))
        if block["type"] == "thinking":
            deltas = [
                {"type": "thinking_delta", "thinking": block["thinking"]},
                {"type": "signature_delta", "signature": block["signature"]},
            ]
        elif block["type"] == "text":
            deltas = [{"type": "text_delta", "text": piece} for piece in _pieces(block["text"])]
        else:
            deltas = [{"type": "input_json_delta", "partial_json": json.dumps(block["input"])}]
        events += [_event({"type": "content_block_delta", "index": index, "delta": d}) for d in deltas]
        events.append(_event({"type": "content_block_stop", "index": index}))
    delta = {"stop_reason": a.stop_reason, "stop_sequence": None}
    events.append(
        _event({"type": "message_delta", "delta": delta, "usage": {"output_tokens": a.completion_tokens}})
    )
    events.append(_event({"type": "message_stop"}))
    return events


_STREAMS = {
    "openai": _openai_chunks,
    "azure": _openai_chunks,
    "databricks": _databricks_chunks,
    "ollama": _ollama_chunks,
    "anthropic": _anthropic_events,
    "compat": _compat_chunks,
}
BROKEN_CHUNK = 'data: {"choices": [{"index": 0, "delta": {"content": "more\n\n'


def upstream_reply(kind: Kind, scenario: Scenario, stream: bool) -> Reply:
    """The scripted upstream answer for a scenario, in the kind's dialect (JSON, or SSE chunks)."""
    a = scenario.answer
    if scenario.malformed:  # valid start, then a data line that is not JSON (or a truncated JSON body)
        if stream:
            return Reply(chunks=[*_STREAMS[kind.dialect](kind, a)[:3], BROKEN_CHUNK, DONE])
        return Reply(
            raw=json.dumps(_completion(kind, a)).encode()[:60], headers={"content-type": "application/json"}
        )
    if stream:
        return Reply(chunks=_STREAMS[kind.dialect](kind, a))
    if kind.dialect == "anthropic":
        return Reply(json=anthropic_message(kind, a))
    return Reply(json=_completion(kind, a))
