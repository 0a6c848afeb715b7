"""Whatever a config contains, compiling it gives diagnostics, never an exception or an internal error."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from json_paths import json_paths

from claude_any.compiler import CompileResult, compile_text
from claude_any.table import RoutingTable

ROOT = Path(__file__).resolve().parents[2]

VALID: dict[str, Any] = {
    "server": {"host": "127.0.0.1", "port": 8082, "auth_token": "${CLAUDE_ANY_TOKEN}"},
    "providers": {
        "openai": {"api_key": "${OPENAI_API_KEY}", "headers": {"X-Team": "a"}, "body": {"user": "u"}},
        "azure": {
            "api_key": "${K}",
            "endpoint": "r.openai.azure.com",
            "api_version": "v1",
            "models": {"dep": {"base_model": "gpt-4o", "capabilities": {"max_output": 100}}},
        },
        "databricks": {"token": "${T}", "host": "adb-1.2.azuredatabricks.net"},
        "local": {"kind": "openai", "base_url": "http://127.0.0.1:11434/v1"},
        "try": {"kind": "echo"},
    },
    "model_categories": {
        "large": "openai/gpt-4o",
        "small": {
            "target": "azure/dep",
            "max_tokens": 100,
            "temperature": 0.5,
            "reasoning_effort": "low",
            "capabilities": {"vision": False},
        },
        "long": "databricks/databricks-gpt-5-4",
    },
    "routes": [
        {"when": "tokens > 100k", "to": "long"},
        {"when": 'has_image or "WebSearch" in tools', "to": ["large", "local/llama3"]},
    ],
    "fallbacks": {"large": ["small"], "long": ["try/echo"]},
}

GARBAGE_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["${", "${1X}", "openai/", "/", "large", "tokens >", "0.0.0.0", "https://", "${A}"]),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        doc = doc[step]
    return doc


def _mutate(doc: dict[str, Any], data: st.DataObject) -> None:
    path = data.draw(st.sampled_from([p for p in json_paths(doc) if p]))
    parent, last = _parent(doc, path), path[-1]
    action = data.draw(st.sampled_from(["delete", "rename", "replace", "insert"]))
    if action == "delete":
        del parent[last]
    elif action == "rename" and isinstance(parent, dict):
        parent[data.draw(st.text(max_size=12))] = parent.pop(last)
    elif action == "insert" and isinstance(parent, dict):
        parent[data.draw(st.text(min_size=1, max_size=12))] = data.draw(GARBAGE_VALUES)
    else:
        parent[last] = data.draw(GARBAGE_VALUES)


def _assert_sane(result: CompileResult) -> None:
    for diagnostic in result.diagnostics:
        assert "internal compiler error" not in diagnostic.message, diagnostic.render()
        assert diagnostic.line >= 1 and diagnostic.col >= 1
        assert diagnostic.render().startswith(
            f"c.yaml:{diagnostic.line}:{diagnostic.col}: {diagnostic.level}: "
        )
    assert (result.table is None) == any(d.level == "error" for d in result.diagnostics)
    if result.table is not None:
        assert RoutingTable.from_json(result.table.to_json()).dumps() == result.table.dumps()


def test_the_fuzz_base_config_is_valid() -> None:
    result = compile_text(yaml.safe_dump(VALID), "c.yaml")
    assert result.errors == []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_structural_mutations_never_raise(data: st.DataObject) -> None:
    doc = copy.deepcopy(VALID)
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        if not json_paths(doc)[1:]:
            break
        _mutate(doc, data)
    _assert_sane(compile_text(yaml.safe_dump(doc, allow_unicode=True), "c.yaml"))


EXAMPLE_TEXTS = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "examples").glob("*.yaml"))]


@settings(max_examples=300, deadline=None)
@given(
    text=st.sampled_from(EXAMPLE_TEXTS),
    where=st.floats(min_value=0, max_value=1),
    cut=st.integers(min_value=0, max_value=30),
    insert=st.text(
        alphabet=st.sampled_from(list(" \t\n:-[]{}&*!|>'\"#,?${}%@`\\abc0.") + ["\x00", "é"]), max_size=15
    ),
)
def test_text_mutations_never_raise(text: str, where: float, cut: int, insert: str) -> None:
    at = int(where * len(text))
    _assert_sane(compile_text(text[:at] + insert + text[at + cut :], "c.yaml"))


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_random_garbage_gives_diagnostics(text: str) -> None:
    result = compile_text(text, "c.yaml")
    _assert_sane(result)
    assert result.table is None
