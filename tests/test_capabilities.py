"""Capability lookup against the facts in shared/reference/models.md."""

from __future__ import annotations

from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from claude_any.capabilities import (
    CAPABILITY_KEYS,
    CLAUDE_CONTEXT,
    CLAUDE_MAX_OUTPUT,
    EFFORT_ORDER,
    KNOWN_MODELS,
    lookup,
    recognised,
)

MCT, MT = "max_completion_tokens", "max_tokens"

# (kind, model) -> facts models.md states for it (§1 family rules, §2 rows, §3 naming, §4.4 defaults).
CASES: list[tuple[str, str, dict[str, Any]]] = [
    (
        "openai",
        "gpt-4o",
        {
            "token_param": MCT,
            "max_output": 16_384,
            "context": 128_000,
            "efforts": [],
            "vision": True,
            "pdf": True,
        },
    ),
    ("openai", "gpt-4o-2024-05-13", {"max_output": 4_096}),
    ("azure", "gpt-4o", {"token_param": MCT, "pdf": False}),  # PDF unverified on Azure
    ("openai", "gpt-4.1-mini", {"context": 1_047_576, "max_output": 32_768, "sampling": "ok"}),
    ("azure", "gpt-4.1", {"context": 300_000}),
    (
        "openai",
        "o3",
        {
            "efforts": ["low", "medium", "high"],
            "default_effort": "medium",
            "sampling": "drop",
            "parallel_tool_calls": "omit",
            "stop": "drop",
            "max_output": 100_000,
        },
    ),
    ("openai", "o3-mini", {"vision": False, "parallel_tool_calls": "omit"}),
    ("openai", "o4-mini", {"reasoning": True, "context": 200_000}),
    (
        "openai",
        "gpt-5-mini",
        {
            "efforts": ["minimal", "low", "medium", "high"],
            "default_effort": "medium",
            "sampling": "drop",
            "tools_effort": "any",
        },
    ),
    ("openai", "gpt-5-2025-08-07", {"family": "gpt-5"}),
    (
        "openai",
        "gpt-5.1",
        {"efforts": ["none", "low", "medium", "high"], "default_effort": "none", "sampling": "only_at_none"},
    ),
    (
        "openai",
        "gpt-5.4",
        {
            "efforts": ["none", "low", "medium", "high", "xhigh"],
            "default_effort": "none",
            "tools_effort": "none_only",
            "context": 1_050_000,
            "max_output": 128_000,
        },
    ),
    ("openai", "gpt-5.4-mini", {"context": 400_000, "tools_effort": "none_only"}),
    ("openai", "gpt-5.5", {"default_effort": "medium", "tools_effort": "none_only"}),
    ("openai", "gpt-5.6-sol", {"default_effort": "medium", "tools_effort": "none_only"}),
    ("openai", "gpt-5-chat-latest", {"reasoning": False, "efforts": [], "max_output": 16_384}),
    ("openai", "gpt-5.1-chat-latest", {"efforts": ["medium"], "sampling": "drop"}),
    ("openai", "gpt-5.2-pro", {"responses_only": True}),
    ("openai", "gpt-5.1-codex-mini", {"responses_only": True}),
    ("openai", "o3-pro", {"responses_only": True}),
    ("openai", "gpt-oss:20b", {"token_param": MT, "efforts": ["low", "medium", "high"], "vision": False}),
    ("openai", "deepseek-v4-flash", {"token_param": MT, "efforts": ["high", "max"], "vision": False}),
    (
        "openai",
        "gemini-3-pro-preview",
        {"token_param": MT, "efforts": ["low", "high"], "default_effort": "high"},
    ),
    ("openai", "gemini-2.5-flash", {"efforts": ["none", "low", "medium", "high"], "max_output": 65_536}),
    # Databricks: names encode the model with dashes (§3); its own effort sets and token field (F11).
    (
        "databricks",
        "databricks-gpt-5-4",
        {
            "family": "gpt-5.4 (databricks)",
            "token_param": MT,
            "efforts": ["low", "medium", "high"],
            "tools_effort": "any",
        },
    ),
    ("databricks", "databricks-gpt-5", {"default_effort": "minimal", "token_param": MT}),
    (
        "databricks",
        "databricks-gpt-5-1",
        {"default_effort": "none", "efforts": ["none", "low", "medium", "high"]},
    ),
    (
        "databricks",
        "databricks-claude-sonnet-4-5",
        {"token_param": MT, "max_output": 64_000, "context": 200_000, "efforts": []},
    ),
    ("databricks", "databricks-claude-opus-4-1", {"max_output": 32_000}),
    ("databricks", "databricks-meta-llama-3-3-70b-instruct", {"max_output": 8_192, "vision": False}),
    ("databricks", "databricks-gemini-2-5-pro", {"efforts": []}),
    ("databricks", "databricks-gpt-oss-120b", {"family": "gpt-oss"}),
    # OpenAI-compatible servers with arbitrary names: generic defaults (§4.4).
    (
        "openai",
        "llama3.1:8b",
        {"family": "unknown", "token_param": MT, "efforts": [], "vision": False, "reasoning": False},
    ),
    ("openai", "qwen3-coder:30b", {"token_param": MT, "max_output": 65_536}),
    (
        "openai",
        "deepseek-r1:14b",
        {"reasoning": True, "sampling": "drop", "stop": "drop", "parallel_tool_calls": "omit"},
    ),
    ("openai", "llava:13b", {"vision": True}),
    ("openai", "Qwen/Qwen2.5-VL-7B-Instruct", {"vision": True}),
    ("azure", "prod-deployment-7", {"family": "unknown", "token_param": MCT, "efforts": []}),
    ("azure", "gpt-5-4-prod", {"family": "gpt-5.4"}),  # Azure deployment named after its model
]


@pytest.mark.parametrize("kind,model,expected", CASES, ids=[f"{k}:{m}" for k, m, _ in CASES])
def test_lookup_matches_models_md(kind: str, model: str, expected: dict[str, Any]) -> None:
    caps = lookup(kind, model)
    assert {k: caps[k] for k in expected} == expected


@pytest.mark.parametrize("kind,model,_", CASES, ids=[f"{k}:{m}" for k, m, _ in CASES])
def test_lookup_is_complete_and_consistent(kind: str, model: str, _: Any) -> None:
    caps = lookup(kind, model)
    assert set(caps) == set(CAPABILITY_KEYS)
    assert caps["token_param"] in (MCT, MT)
    assert caps["sampling"] in ("ok", "only_at_none", "drop")
    assert caps["tools_effort"] in ("any", "none_only")
    assert caps["parallel_tool_calls"] in ("send", "omit") and caps["stop"] in ("send", "drop")
    assert all(e in EFFORT_ORDER for e in caps["efforts"])
    assert caps["efforts"] == sorted(caps["efforts"], key=EFFORT_ORDER.index)
    assert caps["default_effort"] is None or caps["default_effort"] in caps["efforts"]
    if caps["tools_effort"] == "none_only":
        assert "none" in caps["efforts"]
    if caps["sampling"] == "only_at_none":
        assert "none" in caps["efforts"]


def test_lookup_returns_a_fresh_dict() -> None:
    first = lookup("openai", "o3")
    first["efforts"].append("max")
    first["max_output"] = 1
    again = lookup("openai", "o3")
    assert again["efforts"] == ["low", "medium", "high"] and again["max_output"] == 100_000


def test_case_and_whitespace_do_not_matter() -> None:
    assert lookup("openai", " GPT-4o ") == lookup("openai", "gpt-4o")


def test_claude_limits_for_explain() -> None:
    assert CLAUDE_CONTEXT == 200_000 and CLAUDE_MAX_OUTPUT >= 32_000


def test_table_snapshot(snapshot: SnapshotAssertion) -> None:
    """The whole resolved table for the cases above, for review when the seed data changes."""
    table = {f"{kind}:{model}": lookup(kind, model) for kind, model, _ in CASES}
    assert table == snapshot.use_extension(JSONSnapshotExtension)


def test_every_known_model_is_recognised_and_near_misses_are_not() -> None:
    # KNOWN_MODELS feeds the compiler's "closest known" hint: each must be one the table describes.
    assert [m for m in KNOWN_MODELS if not recognised("openai", m)] == []
    for kind, model in [
        ("openai", "gpt-4o-mini"),
        ("databricks", "databricks-gpt-5-4"),
        ("openai", "qwen3:32b"),
    ]:
        assert recognised(kind, model), model
    for kind, model in [
        ("openai", "gpt-41"),
        ("openai", "gpt-4.5"),
        ("openai", "llama3.2"),
        ("openai", "x-r1"),
    ]:
        assert not recognised(kind, model), model
