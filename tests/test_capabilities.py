"""Capability lookup against the facts documented in docs/MODELS.md (its "Checked examples" table)."""

from __future__ import annotations

from pathlib import Path
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
