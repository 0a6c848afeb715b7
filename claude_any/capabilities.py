"""Per-model capability table: what a Chat Completions upstream accepts for a given model.

Seed data from docs/MODELS.md, with its sources (family rules F1-F12, checked examples, the defaults for
unknown models). It is data, not logic: `_ROWS` is an ordered list of (provider kinds, name pattern, facts)
and the first row matching the normalised model name wins. Facts a row leaves out come from `_BASE`, and
the token field from the provider kind. The compiler stores the result in routes.json, where the config
may override any key per target (docs/ARCHITECTURE.md "Capabilities").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from claude_any.provider_kinds import KINDS, MAX_COMPLETION_TOKENS, MAX_TOKENS

# reasoning_effort values from lowest to highest (2026 OpenAI SDK enum); used to pick the nearest value.
EFFORT_ORDER: tuple[str, ...] = ("none", "minimal", "low", "medium", "high", "xhigh", "max")

MCT = MAX_COMPLETION_TOKENS
MT = MAX_TOKENS

# Every key lookup() returns; the compiler rejects other keys in a config's `capabilities:` override.
CAPABILITY_KEYS: tuple[str, ...] = (
    "family",
    "token_param",
    "max_output",
    "context",
    "reasoning",
    "sampling",
    "efforts",
    "default_effort",
    "tools_effort",
    "parallel_tool_calls",
    "stop",
    "vision",
    "pdf",
    "responses_only",
    "reasoning_replay",
    "thought_signatures",
    "schema_dialect",
    "prompt_cache_key",
)

# How a provider wants the reasoning of earlier turns back (translate/replay.py): not at all, in an
# assistant message field (DeepSeek, Kimi and GLM `reasoning_content`; vLLM and Ollama `reasoning`;
# OpenRouter's structured `reasoning_details`), or inline as `<think>…</think>` before the text (MiniMax).
REASONING_REPLAYS: tuple[str, ...] = (
    "drop",
    "reasoning_content",
    "reasoning",
    "reasoning_details",
    "think_tags",
)
# Which JSON-schema keywords a provider's tool parameters accept (translate/schema.py).
SCHEMA_DIALECTS: tuple[str, ...] = ("openai", "gemini")

_BASE: dict[str, Any] = {
    "family": "unknown",
    "max_output": None,
    "context": None,
    "reasoning": False,
    "sampling": "ok",
    "efforts": [],
    "default_effort": None,
    "tools_effort": "any",
    "parallel_tool_calls": "send",
    "stop": "send",
    "vision": False,
    "pdf": False,
    "responses_only": False,
    "reasoning_replay": "drop",
    "thought_signatures": False,  # Gemini: tool calls carry a thought signature that must come back
    "schema_dialect": "openai",
    "prompt_cache_key": False,  # OpenAI's prompt-cache routing hint (others may reject the field)
}

# Shared fact groups, spelled once and spread into rows below.
# OpenAI's own models (on OpenAI and Azure): `prompt_cache_key` routes a session to a warm prompt cache.
_OPENAI_WIRE: dict[str, Any] = {"prompt_cache_key": True}
_O_SERIES: dict[str, Any] = {
    **_OPENAI_WIRE,
    "context": 200_000,
    "max_output": 100_000,
    "reasoning": True,
    "sampling": "drop",
    "efforts": ["low", "medium", "high"],
    "default_effort": "medium",
    "parallel_tool_calls": "omit",  # even `false` is a 400 on o-series (F2)
    "stop": "drop",
    "vision": True,
    "pdf": True,
}
_GPT5: dict[str, Any] = {
    **_OPENAI_WIRE,
    "context": 400_000,
    "max_output": 128_000,
    "reasoning": True,
    "sampling": "drop",
    "efforts": ["minimal", "low", "medium", "high"],
    "default_effort": "medium",
    "stop": "drop",
    "vision": True,
}
_GPT5_NONE: dict[str, Any] = {  # gpt-5.1 and later: effort `none` is the default and enables sampling
    **_GPT5,
    "sampling": "only_at_none",
    "efforts": ["none", "low", "medium", "high", "xhigh"],
    "default_effort": "none",
}
_GPT5_TOOLS_NONE: dict[str, Any] = {  # F5: function tools on /chat/completions only with effort "none"
    **_GPT5_NONE,
    "tools_effort": "none_only",
}
_CHAT_128K: dict[str, Any] = {**_OPENAI_WIRE, "context": 128_000, "max_output": 16_384, "vision": True}
_GPT41: dict[str, Any] = {**_OPENAI_WIRE, "max_output": 32_768, "vision": True}
_GEMINI: dict[str, Any] = {
    "token_param": MT,
    "context": 1_048_576,
    "max_output": 65_536,
    "reasoning": True,
    "efforts": ["none", "low", "medium", "high"],
    "vision": True,
    "pdf": True,
}
# Google's OpenAI endpoint: a narrower schema dialect, and thought signatures on tool calls (F10).
_GEMINI_API: dict[str, Any] = {"schema_dialect": "gemini", "thought_signatures": True}
_CLAUDE: dict[str, Any] = {"context": 200_000, "max_output": 64_000, "vision": True, "pdf": True}
# Open-weights models on vLLM (>= 0.16 reads `reasoning` on input), Ollama or SGLang: their chat templates
# keep the reasoning of the current tool loop (gpt-oss needs it between tool calls), so it is sent back.
_OPEN_WEIGHTS: dict[str, Any] = {"token_param": MT, "reasoning_replay": "reasoning"}
_GPT_OSS: dict[str, Any] = {
    **_OPEN_WEIGHTS,
    "context": 131_072,
    "max_output": 32_768,
    "reasoning": True,
    "efforts": ["low", "medium", "high"],
    "default_effort": "medium",
}
# DeepSeek, Kimi and GLM thinking models: `reasoning_content` goes back on assistant turns (DeepSeek and Kimi
# reject a tool-calling turn without it in thinking mode).
_REASONING_CONTENT: dict[str, Any] = {"token_param": MT, "reasoning_replay": "reasoning_content"}
_KIMI: dict[str, Any] = {"context": 262_144}
# MODELS.md defaults: ids that look like reasoning models get no sampling, stop or parallel_tool_calls.
_GUESSED_REASONING: dict[str, Any] = {
    **_OPEN_WEIGHTS,
    "reasoning": True,
    "sampling": "drop",
    "parallel_tool_calls": "omit",
    "stop": "drop",
}


@dataclass(frozen=True)
class _Row:
    kinds: frozenset[str] | None  # None = any provider kind
    pattern: re.Pattern[str]
    facts: dict[str, Any]


def _row(pattern: str, family: str, facts: dict[str, Any], kinds: str | None = None) -> _Row:
    return _Row(
        frozenset(kinds.split()) if kinds else None,
        re.compile(pattern),
        {**facts, "family": family},
    )


# Ordered, first match wins: specific ids before their family, provider-specific rows before general ones.
# Patterns see the normalised name (see _normalise): lower case, vendor prefix gone, `gpt-5-4` as `gpt-5.4`.
_ROWS: tuple[_Row, ...] = (
    # Databricks pay-per-token endpoints keep their own effort sets and defaults (F11).
    _row(
        r"gpt-5\.[45]",
        "gpt-5.4 (databricks)",
        {**_GPT5, "efforts": ["low", "medium", "high"], "default_effort": None, "context": 1_050_000},
        "databricks",
    ),
    _row(
        r"gpt-5\.[12](?!\d)",
        "gpt-5.1 (databricks)",
        {**_GPT5_NONE, "efforts": ["none", "low", "medium", "high"]},
        "databricks",
    ),
    _row(r"gpt-5(?![.\d])", "gpt-5 (databricks)", {**_GPT5, "default_effort": "minimal"}, "databricks"),
    _row(
        r"gemini-2\.5",
        "gemini-2.5 (databricks)",
        {**_GEMINI, "reasoning": False, "efforts": []},
        "databricks",
    ),
    _row(
        r"gemini-3", "gemini-3 (databricks)", {**_GEMINI, "efforts": ["low", "medium", "high"]}, "databricks"
    ),
    _row(r"(meta-)?llama-4", "llama-4 (databricks)", {**_OPEN_WEIGHTS, "context": 128_000}, "databricks"),
    # Databricks Llama endpoints cap output below the model card (F11).
    _row(
        r"(meta-)?llama-3\.3",
        "llama-3.3 (databricks)",
        {**_OPEN_WEIGHTS, "context": 128_000, "max_output": 8_192},
        "databricks",
    ),
    _row(
        r"qwen3-next",
        "qwen3-next (databricks)",
        {**_OPEN_WEIGHTS, "context": 262_144, "max_output": 32_768},
        "databricks",
    ),
    # F6: Responses-API-only families; the compiler refuses them on the chat API.
    _row(r"o\d-pro", "o-pro", {**_O_SERIES, "responses_only": True}),
    _row(
        r"gpt-5(\.\d+)?-pro(?![\w.])",
        "gpt-pro",
        {**_GPT5, "efforts": ["high"], "default_effort": "high", "responses_only": True, "pdf": True},
    ),
    _row(
        r".*codex|computer-use",
        "codex",
        {**_GPT5, "efforts": ["low", "medium", "high"], "responses_only": True, "pdf": True},
    ),
    # F7: chat-tuned gpt-5 variants (before the gpt-5 rows they would otherwise match).
    _row(r"gpt-5-chat", "gpt-5-chat", {**_CHAT_128K, "pdf": True}),
    _row(
        r"gpt-5\.[12]-chat",
        "gpt-5.1-chat",
        {
            **_CHAT_128K,
            "reasoning": True,
            "sampling": "drop",
            "efforts": ["medium"],
            "default_effort": "medium",
            "stop": "drop",
        },
    ),
    # 5.3-chat is reasoning per one source and not per another: drop what a reasoning model rejects.
    _row(
        r"gpt-5\.\d+-chat",
        "gpt-5.3-chat",
        {**_CHAT_128K, "reasoning": True, "sampling": "drop", "stop": "drop"},
    ),
    _row(r"(gpt-)?chat-latest", "chat-latest", _CHAT_128K),
    # F5 and F4: gpt-5.x on OpenAI / Azure.
    _row(
        r"gpt-5\.6",
        "gpt-5.6",
        {**_GPT5_TOOLS_NONE, "context": 1_050_000, "default_effort": "medium", "pdf": True},
    ),
    _row(
        r"gpt-5\.5",
        "gpt-5.5",
        {**_GPT5_TOOLS_NONE, "context": 1_050_000, "default_effort": "medium", "pdf": True},
    ),
    _row(r"gpt-5\.4-(mini|nano)", "gpt-5.4-mini", _GPT5_TOOLS_NONE),
    _row(r"gpt-5\.4", "gpt-5.4", {**_GPT5_TOOLS_NONE, "context": 1_050_000, "pdf": True}),
    # 5.2 + tools + effort is reported to fail on chat: assume the gpt-5.4 rule rather than a broken session.
    _row(r"gpt-5\.2", "gpt-5.2", _GPT5_TOOLS_NONE),
    _row(r"gpt-5\.1", "gpt-5.1", {**_GPT5_NONE, "efforts": ["none", "low", "medium", "high"]}),
    _row(
        r"gpt-5\.\d", "gpt-5.x", _GPT5_TOOLS_NONE
    ),  # a newer 5.x nobody described: the strictest known rules
    _row(r"gpt-5", "gpt-5", _GPT5),
    # F2: o-series.
    _row(r"o3-mini", "o3-mini", {**_O_SERIES, "vision": False, "pdf": False}),
    _row(r"o\d", "o-series", _O_SERIES),
    # F1: non-reasoning OpenAI chat models.
    _row(r"gpt-4\.1-nano", "gpt-4.1", {**_GPT41, "context": 1_047_576}),
    _row(r"gpt-4\.1", "gpt-4.1", {**_GPT41, "context": 300_000}, "azure"),
    _row(r"gpt-4\.1", "gpt-4.1", {**_GPT41, "context": 1_047_576, "pdf": True}),
    _row(r"gpt-4o-2024-05-13", "gpt-4o", {**_CHAT_128K, "max_output": 4_096, "pdf": True}),
    _row(r"(chatgpt-)?gpt-4o|chatgpt-4o", "gpt-4o", {**_CHAT_128K, "pdf": True}),
    _row(r"gpt-4-turbo", "gpt-4-turbo", {**_CHAT_128K, "max_output": 4_096}),
    _row(r"gpt-4", "gpt-4", {**_OPENAI_WIRE, "context": 8_192, "max_output": 8_192}),
    _row(r"gpt-3\.?5", "gpt-3.5", {**_OPENAI_WIRE, "context": 16_385, "max_output": 4_096}),
    # F8: gpt-oss on any server (Databricks caps output at 32k, so take the lower published value).
    # Databricks returns its reasoning as signed summaries of its own: nothing of ours goes back there.
    _row(r"gpt-oss", "gpt-oss", {**_GPT_OSS, "reasoning_replay": "drop"}, "databricks"),
    _row(r"gpt-oss", "gpt-oss", _GPT_OSS),
    # F9: DeepSeek API (V4 and the retired V3 aliases).
    _row(
        r"deepseek-(v4|reasoner|chat)",
        "deepseek",
        {
            **_REASONING_CONTENT,
            "context": 1_000_000,
            "max_output": 384_000,
            "reasoning": True,
            "efforts": ["high", "max"],
        },
    ),
    # F10: Gemini on Google's OpenAI endpoint.
    _row(
        r"gemini-2\.5-pro", "gemini-2.5-pro", {**_GEMINI, **_GEMINI_API, "efforts": ["low", "medium", "high"]}
    ),
    _row(
        r"gemini-3-pro",
        "gemini-3-pro",
        {**_GEMINI, **_GEMINI_API, "efforts": ["low", "high"], "default_effort": "high"},
    ),
    _row(
        r"gemini-3\.\d+-pro",
        "gemini-3.1-pro",
        {**_GEMINI, **_GEMINI_API, "efforts": ["low", "medium", "high"], "default_effort": "high"},
    ),
    _row(r"gemini", "gemini", {**_GEMINI, **_GEMINI_API}),
    # Kimi K2 (Moonshot), GLM 4.5+ (Z.ai) and MiniMax M2: open weights with interleaved thinking, on their
    # vendors' APIs or self-hosted; each chat template reads the reasoning of the current tool loop back.
    _row(
        r"kimi-k2(\.\d+)?-thinking|kimi-k2\.\d",
        "kimi-k2-thinking",
        {**_REASONING_CONTENT, **_KIMI, "reasoning": True},
    ),
    _row(r"kimi-k2", "kimi-k2", {**_REASONING_CONTENT, **_KIMI}),
    _row(
        r"glm-(4\.[5-9]|[5-9])(\.\d+)?v", "glm-v", {**_REASONING_CONTENT, "reasoning": True, "vision": True}
    ),
    _row(r"glm-(4\.[5-9]|[5-9])", "glm", {**_REASONING_CONTENT, "reasoning": True, "context": 200_000}),
    _row(
        r"minimax-m\d",
        "minimax-m2",
        {"token_param": MT, "reasoning_replay": "think_tags", "reasoning": True, "context": 204_800},
    ),
    # Claude behind an OpenAI-style surface (Databricks chat endpoints, gateways): budget thinking, no effort.
    _row(r"claude-opus-4-[67]", "claude-opus-4.6", {**_CLAUDE, "context": 1_000_000, "max_output": 128_000}),
    _row(r"claude-sonnet-4-6", "claude-sonnet-4.6", {**_CLAUDE, "context": 1_000_000}),
    _row(r"claude-opus-4-1", "claude-opus-4.1", {**_CLAUDE, "max_output": 32_000}),
    _row(r"claude", "claude", _CLAUDE),
    # Open-weights families on vLLM / Ollama; their context is the server's setting, so none is assumed.
    _row(r"qwen3-coder|qwen3\.[5-9]", "qwen3-coder", {**_OPEN_WEIGHTS, "max_output": 65_536}),
    _row(r"qwen.*vl", "qwen-vl", {**_OPEN_WEIGHTS, "vision": True}),
    _row(r"qwen3", "qwen3", {**_OPEN_WEIGHTS, "max_output": 16_384}),
    _row(r"(meta-)?llama-?4", "llama-4", {**_OPEN_WEIGHTS, "max_output": 16_384, "vision": True}),
    _row(r"(meta-)?llama-?3\.3", "llama-3.3", {**_OPEN_WEIGHTS, "max_output": 4_096}),
    # MODELS.md defaults: guesses for names nobody described.
    _row(r".*(-thinking|reasoner|(?<![a-z0-9])r1(?![0-9]))", "reasoning (guessed)", _GUESSED_REASONING),
    _row(
        r".*(vision|llava|pixtral|gemma-?3|-vl(?![a-z])|minicpm-v|moondream)",
        "vision (guessed)",
        {**_OPEN_WEIGHTS, "vision": True},
    ),
    # Azure deployment names are the user's; unknown ones still speak OpenAI's dialect (token field by kind).
    _row(r"", "unknown", {}, "azure"),
    # An `openai`-kind provider with an unfamiliar name is almost always Ollama, vLLM or another server.
    _row(r"", "unknown", {**_OPEN_WEIGHTS}),
)

# Model ids the rows above describe (one or more per row), for the compiler's did-you-mean when a config
# names a model the table does not know. tests/test_capabilities.py checks each is `recognised`.
KNOWN_MODELS: tuple[str, ...] = (
    "gpt-5.6",
    "gpt-5.5",
    "gpt-5.4",
    "gpt-5.4-mini",
    "gpt-5.4-nano",
    "gpt-5.2",
    "gpt-5.1",
    "gpt-5",
    "gpt-5-mini",
    "gpt-5-nano",
    "gpt-5-chat-latest",
    "gpt-5.1-chat-latest",
    "chat-latest",
    "gpt-5-pro",
    "gpt-5.2-pro",
    "gpt-5-codex",
    "gpt-5.1-codex",
    "codex-mini-latest",
    "computer-use-preview",
    "o1",
    "o1-pro",
    "o3",
    "o3-mini",
    "o3-pro",
    "o4-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "gpt-4o",
    "gpt-4o-mini",
    "chatgpt-4o-latest",
    "gpt-4-turbo",
    "gpt-4",
    "gpt-3.5-turbo",
    "gpt-oss-120b",
    "gpt-oss-20b",
    "deepseek-chat",
    "deepseek-reasoner",
    "deepseek-v4",
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "gemini-3-pro",
    "gemini-3.1-pro",
    "claude-opus-4-7",
    "claude-opus-4-6",
    "claude-sonnet-4-6",
    "claude-opus-4-1",
    "claude-sonnet-4-5",
    "claude-haiku-4-5",
    "qwen3-coder",
    "qwen3",
    "qwen2.5-vl",
    "llama-4",
    "llama-4-maverick",
    "llama-3.3",
    "llama-3.3-70b-instruct",
)

_VENDOR_PREFIX = re.compile(r"^(?:ft:|databricks-|system\.ai\.)|^.*/")
# `gpt-5-4` (Databricks, Azure deployment names) means gpt-5.4; a dated suffix (`gpt-5-2025-08-07`) does not.
_DASHED_VERSION = re.compile(r"^((?:meta-)?(?:gpt|gemini|llama)-\d+)-(\d)(?=-|$)")


def _normalise(model: str) -> str:
    """The name rows are matched against: lower case, no vendor prefix, dotted version."""
    name = _VENDOR_PREFIX.sub("", model.strip().lower())
    name = name.split(":", 1)[0]  # Ollama tag (`qwen3:32b`), fine-tune suffix (`ft:gpt-4o:org::id`)
    return _DASHED_VERSION.sub(r"\1.\2", name)


# Services reached through kind `openai` with their own base URL: how they speak, whatever model they serve
# (a host or any subdomain of it). These facts win over the model's row: OpenRouter serves Gemini and
# DeepSeek models in its own dialect, Google's endpoint serves only Gemini.
_SERVICES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("api.openai.com", {"reasoning_replay": "drop"}),
    ("api.deepseek.com", {"reasoning_replay": "reasoning_content", "prompt_cache_key": False}),
    ("api.moonshot.ai", {"reasoning_replay": "reasoning_content", "prompt_cache_key": False}),
    ("api.moonshot.cn", {"reasoning_replay": "reasoning_content", "prompt_cache_key": False}),
    ("api.z.ai", {"reasoning_replay": "reasoning_content", "prompt_cache_key": False}),
    ("open.bigmodel.cn", {"reasoning_replay": "reasoning_content", "prompt_cache_key": False}),
    ("api.minimax.io", {"reasoning_replay": "think_tags", "prompt_cache_key": False}),
    ("api.minimaxi.com", {"reasoning_replay": "think_tags", "prompt_cache_key": False}),
    (
        "openrouter.ai",
        {
            "reasoning_replay": "reasoning_details",
            "thought_signatures": False,  # OpenRouter carries them in reasoning_details
            "schema_dialect": "openai",
            "prompt_cache_key": False,
        },
    ),
    (
        "generativelanguage.googleapis.com",
        {**_GEMINI_API, "reasoning_replay": "drop", "prompt_cache_key": False},
    ),
)


def _service_facts(base_url: str | None) -> dict[str, Any]:
    """The facts `_SERVICES` gives the provider at `base_url` (none for a `${VAR}` or an unknown host)."""
    if not base_url or "${" in base_url:
        return {}
    host = (urlsplit(base_url if "//" in base_url else "//" + base_url).hostname or "").lower()
    for domain, facts in _SERVICES:
        if host == domain or host.endswith("." + domain):
            return facts
    return {}


def lookup(kind: str, model: str, base_url: str | None = None) -> dict[str, Any]:
    """The capabilities of `model` served by a provider of `kind`, as a fresh dict with CAPABILITY_KEYS.

    `model` is the base model (a deployment's configured `base_model`, else the model name); `base_url`, the
    provider's when it has one, names a known service whose wire dialect then applies. Unknown names get the
    conservative defaults of docs/MODELS.md; nothing here raises.
    """
    name = _normalise(model)
    for row in _ROWS:
        if (row.kinds is None or kind in row.kinds) and row.pattern.match(name):
            facts = row.facts
            break
    else:  # unreachable: the last row matches everything
        facts = {}
    # The token field and PDF parts are the kind's (provider_kinds.py): OpenAI's current dialect takes
    # max_completion_tokens (§4.4), and only OpenAI itself documents PDF file parts on /chat/completions
    # (§4.1), so a row's `pdf: True` counts only there unless the config says otherwise.
    declared = KINDS.get(kind)
    token_param = declared.token_param if declared is not None else MT
    caps: dict[str, Any] = {**_BASE, "token_param": token_param, **facts, **_service_facts(base_url)}
    caps["efforts"] = list(caps["efforts"])  # callers may mutate their copy
    if declared is None or not declared.pdf_parts:
        caps["pdf"] = False
    if declared is None or not declared.prompt_cache_key:
        caps["prompt_cache_key"] = False
    return caps


def recognised(kind: str, model: str) -> bool:
    """True when a row describes `model` itself, so `lookup` knows rather than assumes: not a guess from
    the name, not the catch-all, and not a longer name that only begins like a known one (`gpt-41` is not
    gpt-4, `gpt-4.5` not gpt-4; `gpt-4o-mini` and `gpt-4o-2024-08-06` are gpt-4o)."""
    name = _normalise(model)
    for row in _ROWS:
        match = row.pattern.match(name) if row.kinds is None or kind in row.kinds else None
        if match is None:
            continue
        family = str(row.facts["family"])
        rest = name[match.end() :]
        return family != "unknown" and not family.endswith("(guessed)") and (not rest or rest[0] in "-_@")
    return False
