"""Capability lookup against the facts documented in docs/MODELS.md (its "Checked examples" table)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from claude_any.capabilities import (
    CAPABILITY_KEYS,
    EFFORT_ORDER,
    KNOWN_MODELS,
    REASONING_REPLAYS,
    SCHEMA_DIALECTS,
    lookup,
    recognised,
)
from claude_any.compiler.overrides import CAPABILITY_TYPES

MCT, MT = "max_completion_tokens", "max_tokens"
MODELS_MD = Path(__file__).resolve().parents[1] / "docs" / "MODELS.md"


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _efforts(cell: str) -> tuple[list[str], str | None]:
    """`low, **medium**, high` -> (["low", "medium", "high"], "medium"); "—" -> ([], None)."""
    if cell == "—":
        return [], None
    efforts = [e.strip() for e in cell.split(",")]
    default = next((e.strip("*") for e in efforts if e.startswith("**")), None)
    return [e.strip("*") for e in efforts], default


def _expected(row: dict[str, str]) -> dict[str, Any]:
    """One row of the table as the capabilities lookup() returns."""

    def number(cell: str) -> int | None:
        return None if cell == "—" else int(cell.replace(",", ""))

    def yes(cell: str) -> bool:
        assert cell in ("yes", "no"), cell
        return cell == "yes"

    efforts, default = _efforts(row["efforts, default in bold"])
    return {
        "family": row["family"],
        "context": number(row["context"]),
        "max_output": number(row["output"]),
        "token_param": {"mct": MCT, "mt": MT}[row["token field"]],
        "reasoning": yes(row["reasoning"]),
        "efforts": efforts,
        "default_effort": default,
        "sampling": row["sampling"].replace(" ", "_"),
        "tools_effort": row["tools with effort"].replace(" ", "_"),
        "parallel_tool_calls": row["parallel_tool_calls"],
        "stop": row["stop"],
        "vision": yes(row["vision"]),
        "pdf": yes(row["PDF"]),
        "responses_only": yes(row["Responses only"]),
    }


def _documented_cases() -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, model, facts) for every row of the table under "Checked examples" in docs/MODELS.md."""
    section = MODELS_MD.read_text(encoding="utf-8").split("## Checked examples", 1)[1]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = _cells(lines[0])
    cases = []
    for line in lines[2:]:
        row = dict(zip(header, _cells(line), strict=True))
        cases.append((row["kind"], row["model"].strip("`"), _expected(row)))
    return cases


# (kind, model) -> the facts docs/MODELS.md states for it: family rules, per-model rows, naming, defaults.
CASES = _documented_cases()


def test_the_documented_table_covers_every_kind_and_the_tricky_names() -> None:
    assert len(CASES) >= 35
    assert {kind for kind, _, _ in CASES} == {"openai", "azure", "databricks"}
    models = {model for _, model, _ in CASES}
    assert {"gpt-5.4", "o3", "databricks-gpt-5-4", "gpt-5-4-prod", "llama3.1:8b"} <= models


@pytest.mark.parametrize("kind,model,expected", CASES, ids=[f"{k}:{m}" for k, m, _ in CASES])
def test_lookup_matches_docs_models_md(kind: str, model: str, expected: dict[str, Any]) -> None:
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
    assert caps["reasoning_replay"] in REASONING_REPLAYS and caps["schema_dialect"] in SCHEMA_DIALECTS
    assert isinstance(caps["thought_signatures"], bool) and isinstance(caps["prompt_cache_key"], bool)


# (kind, model) -> how the provider speaks of it: how it takes its reasoning back, its schema dialect,
# thought signatures, prompt_cache_key (docs/MODELS.md "Wire dialects"), whoever serves it.
WIRE_CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("openai", "gpt-oss-120b", {"reasoning_replay": "reasoning", "prompt_cache_key": False}),
    ("databricks", "databricks-gpt-oss-120b", {"reasoning_replay": "drop"}),  # its own signed summaries
    ("openai", "deepseek-v4-pro", {"reasoning_replay": "reasoning_content"}),
    ("openai", "kimi-k2-thinking", {"reasoning_replay": "reasoning_content", "reasoning": True}),
    ("openai", "moonshotai/Kimi-K2-Instruct-0905", {"family": "kimi-k2", "reasoning": False}),
    ("openai", "zai-org/GLM-4.6", {"reasoning_replay": "reasoning_content", "context": 200_000}),
    ("openai", "glm-4.5v", {"family": "glm-v", "vision": True}),
    ("openai", "MiniMax-M2", {"reasoning_replay": "think_tags", "context": 204_800}),
    (
        "openai",
        "gemini-3-flash-preview",
        {"schema_dialect": "gemini", "thought_signatures": True, "reasoning_replay": "drop"},
    ),
    ("databricks", "databricks-gemini-3-1-pro", {"schema_dialect": "openai", "thought_signatures": False}),
    ("openai", "gpt-5.4", {"prompt_cache_key": True, "reasoning_replay": "drop"}),
    ("azure", "gpt-4o", {"prompt_cache_key": True}),
    ("databricks", "gpt-4o", {"prompt_cache_key": False}),  # an external-model endpoint named so
]


@pytest.mark.parametrize("kind,model,expected", WIRE_CASES, ids=[f"{k}:{m}" for k, m, _ in WIRE_CASES])
def test_models_decide_their_wire_dialect(kind: str, model: str, expected: dict[str, Any]) -> None:
    caps = lookup(kind, model)
    assert {k: caps[k] for k in expected} == expected


# (kind, model, base_url) -> facts a known service decides whatever model it serves.
SERVICE_CASES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("openai", "deepseek-v4-pro", "https://api.deepseek.com", {"reasoning_replay": "reasoning_content"}),
    (
        "openai",
        "kimi-k2-0905-preview",
        "https://api.moonshot.ai/v1",
        {"reasoning_replay": "reasoning_content"},
    ),
    ("openai", "glm-4.7", "https://api.z.ai/api/paas/v4", {"reasoning_replay": "reasoning_content"}),
    ("openai", "MiniMax-M2", "https://api.minimax.io/v1", {"reasoning_replay": "think_tags"}),
    (
        "openai",
        "google/gemini-3-pro-preview",
        "https://openrouter.ai/api/v1",
        {"reasoning_replay": "reasoning_details", "thought_signatures": False, "schema_dialect": "openai"},
    ),
    (
        "openai",
        "deepseek/deepseek-v3.2",
        "https://openrouter.ai/api/v1",
        {"reasoning_replay": "reasoning_details", "prompt_cache_key": False},
    ),
    (
        "openai",
        "gemini-2.5-flash",
        "https://generativelanguage.googleapis.com/v1beta/openai/",
        {"schema_dialect": "gemini", "thought_signatures": True, "prompt_cache_key": False},
    ),
    (
        "openai",
        "gpt-4.1",
        "https://api.openai.com/v1",
        {"prompt_cache_key": True, "reasoning_replay": "drop"},
    ),
    # A host that is not a known service, or one not known until run time, leaves the model's row in charge.
    ("openai", "gpt-oss-120b", "http://127.0.0.1:8000/v1", {"reasoning_replay": "reasoning"}),
    ("openai", "kimi-k2-thinking", "${KIMI_URL}", {"reasoning_replay": "reasoning_content"}),
    ("openai", "gpt-oss-120b", "https://openrouter.ai.example.com/v1", {"reasoning_replay": "reasoning"}),
    ("openai", "gpt-oss-120b", "https://eu.openrouter.ai/api/v1", {"reasoning_replay": "reasoning_details"}),
]


@pytest.mark.parametrize(
    "kind,model,base_url,expected", SERVICE_CASES, ids=[f"{m}@{u}" for _, m, u, _ in SERVICE_CASES]
)
def test_services_decide_their_wire_dialect(
    kind: str, model: str, base_url: str, expected: dict[str, Any]
) -> None:
    caps = lookup(kind, model, base_url)
    assert {k: caps[k] for k in expected} == expected
    assert set(caps) == set(CAPABILITY_KEYS)


def test_every_capability_can_be_overridden_in_a_config() -> None:
    assert set(CAPABILITY_TYPES) == set(CAPABILITY_KEYS)


def test_lookup_returns_a_fresh_dict() -> None:
    first = lookup("openai", "o3")
    first["efforts"].append("max")
    first["max_output"] = 1
    again = lookup("openai", "o3")
    assert again["efforts"] == ["low", "medium", "high"] and again["max_output"] == 100_000


def test_case_and_whitespace_do_not_matter() -> None:
    assert lookup("openai", " GPT-4o ") == lookup("openai", "gpt-4o")


def test_table_snapshot(snapshot: SnapshotAssertion) -> None:
    """The whole resolved table for the cases above, for review when the seed data changes."""
    table = {f"{kind}:{model}": lookup(kind, model) for kind, model, _ in [*CASES, *WIRE_CASES]}
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
