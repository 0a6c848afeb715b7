"""The shipped examples compile cleanly, deterministically, and to the routes.json fixed by snapshots."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from claude_any.compiler import CompileResult, write_routes
from claude_any.provider_kinds import kind_named
from claude_any.table import RoutingTable

EXAMPLES = ("quickstart", "openai", "azure", "databricks", "local", "mixed", "gateway")
ROOT = Path(__file__).resolve().parents[2]


def test_every_example_is_tested() -> None:
    assert sorted(p.stem for p in (ROOT / "examples").glob("*.yaml")) == sorted(EXAMPLES)


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_compiles_without_diagnostics(
    name: str, compile_example: Callable[[str], CompileResult], snapshot: SnapshotAssertion
) -> None:
    result = compile_example(f"examples/{name}.yaml")
    assert [d.render() for d in result.diagnostics] == []
    assert result.table is not None
    assert result.table.dumps() == snapshot


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_output_is_byte_identical_and_round_trips(
    name: str, compile_example: Callable[[str], CompileResult]
) -> None:
    first, second = compile_example(f"examples/{name}.yaml"), compile_example(f"examples/{name}.yaml")
    assert first.table is not None and second.table is not None
    assert first.table.dumps() == second.table.dumps()
    assert RoutingTable.from_json(first.table.to_json()).dumps() == first.table.dumps()


@pytest.mark.parametrize("name", EXAMPLES)
def test_examples_keep_every_secret_as_a_reference(
    name: str, compile_example: Callable[[str], CompileResult]
) -> None:
    table = compile_example(f"examples/{name}.yaml").table
    assert table is not None
    for provider in table.providers.values():
        kind = kind_named(provider.kind)
        for field, value in provider.settings.items():
            if kind.is_secret(field):
                assert value is None or (value.startswith("${") and value.endswith("}")), field


def test_write_routes_creates_dirs_and_mode_0600(
    tmp_path: Path, compile_example: Callable[[str], CompileResult]
) -> None:
    table = compile_example("examples/mixed.yaml").table
    assert table is not None
    out = tmp_path / "build" / "nested" / "routes.json"
    write_routes(table, str(out))
    assert out.read_text(encoding="utf-8") == table.dumps()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert RoutingTable.load(str(out)) == table
    assert "${OPENAI_API_KEY}" in out.read_text(encoding="utf-8")  # never resolved at compile time


def test_write_routes_tightens_an_existing_file(
    tmp_path: Path, compile_example: Callable[[str], CompileResult]
) -> None:
    table = compile_example("examples/quickstart.yaml").table
    assert table is not None
    out = tmp_path / "routes.json"
    out.write_text("old", encoding="utf-8")
    os.chmod(out, 0o644)
    write_routes(table, str(out))
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert out.read_text(encoding="utf-8") == table.dumps()
    assert [p.name for p in tmp_path.iterdir()] == ["routes.json"]  # no temporary file left behind


def test_classic_seed_config_compiles_unchanged(
    tmp_path: Path, compile_example: Callable[[str], CompileResult]
) -> None:
    """The design document's config, flow mappings with ${VAR} included, is valid input as written."""
    config = tmp_path / "config.yaml"
    config.write_text(
        "providers:\n"
        "  openai:     {api_key: ${OPENAI_API_KEY}}\n"
        "  azure:      {api_key: ${AZURE_OPENAI_API_KEY}, endpoint: my-res.openai.azure.com, "
        "api_version: 2024-10-21}\n"
        "  databricks: {token: ${DATABRICKS_TOKEN}, host: adb-123.12.azuredatabricks.net}\n"
        "  local:      {kind: openai, base_url: http://127.0.0.1:11434/v1}\n"
        "model_categories:\n"
        "  large: openai/gpt-4o\n"
        "  small: openai/gpt-4o-mini\n"
        "  long:  azure/gpt-4-1-deployment\n"
        "routes:\n"
        "  - when: tokens > 100k\n"
        "    to: long\n"
        '  - when: thinking and family == "opus"\n'
        "    to: azure/o3-deployment\n"
        '  - when: has_image or "WebSearch" in tools\n'
        "    to: [openai/gpt-4o, azure/gpt-4o-deployment]\n",
        encoding="utf-8",
    )
    result = compile_example(str(config))
    assert result.errors == []
    table = result.table
    assert table is not None
    assert table.providers["azure"].settings == {
        "api_key": "${AZURE_OPENAI_API_KEY}",
        "endpoint": "https://my-res.openai.azure.com",
        "api_version": "2024-10-21",
        "auth": "key",  # the default, written out
        "client_id": None,
    }
    assert table.providers["databricks"].settings["host"] == "https://adb-123.12.azuredatabricks.net"
    assert [(r.name, r.chain, r.origin) for r in table.routes] == [
        ("routes[0]", ("long",), "config"),
        ("routes[1]", ("azure/o3-deployment",), "config"),
        ("routes[2]", ("openai/gpt-4o", "azure/gpt-4o-deployment"), "config"),
        ("default: background", ("small",), "default"),
        ("default: haiku", ("small",), "default"),
        ("default: sonnet/opus", ("large",), "default"),
        ("default: other Claude models", ("large",), "default"),
    ]
    # Azure deployments without base_model are guessed from their names, and the compiler says so.
    assert {d.line for d in result.diagnostics if d.level == "warning"} == {9, 14, 16}
