"""Each class of config error: the exact rendered diagnostics (message, file, line, column, carets)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from claude_any.compiler import CompileResult

CONFIGS = sorted(p.name for p in (Path(__file__).parent / "configs").glob("*.yaml"))
Render = Callable[[CompileResult], str]


@pytest.mark.parametrize("name", CONFIGS)
def test_bad_config_diagnostics(
    name: str, compile_here: Callable[[str], CompileResult], render: Render, snapshot: SnapshotAssertion
) -> None:
    result = compile_here(f"configs/{name}")
    assert result.diagnostics, "every fixture in configs/ has something to report"
    assert render(result) == snapshot
    has_error = any(d.level == "error" for d in result.diagnostics)
    assert (result.table is None) == has_error


def test_all_errors_come_in_one_run_sorted_by_position(compile_here: Callable[[str], CompileResult]) -> None:
    result = compile_here("configs/wrong_types.yaml")
    positions = [(d.line, d.col) for d in result.diagnostics]
    assert positions == sorted(positions)
    assert len(result.errors) >= 8  # one per mistake in the file, not just the first


def test_internal_errors_never_escape(
    compile_here: Callable[[str], CompileResult], render: Render, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object) -> object:
        raise RuntimeError("sk-secret-in-message")

    monkeypatch.setattr("claude_any.compiler.build", boom)
    result = compile_here("configs/server_port.yaml")
    assert result.table is None
    text = render(result)
    assert "internal compiler error (RuntimeError)" in text
    assert "sk-secret" not in text


def test_missing_file_is_a_diagnostic(tmp_path: Path, compile_here: Callable[[str], CompileResult]) -> None:
    result = compile_here(str(tmp_path / "nope.yaml"))
    assert result.table is None
    assert [d.message for d in result.diagnostics] == ["cannot read config: No such file or directory"]


def test_secrets_never_appear_in_diagnostics(
    tmp_path: Path, compile_here: Callable[[str], CompileResult], render: Render
) -> None:
    config = tmp_path / "leaky.yaml"
    config.write_text(
        "server: {host: 0.0.0.0, auth_token: hunter2-token}\n"
        "providers:\n"
        "  openai: {api_key: sk-LEAK-1, headers: {Authorization: Bearer LEAK-2}}\n"
        "  azure: {api_key: ${1LEAK-3}, endpoint: x, api_version: bad}\n"
        "  databricks: {token: LEAK-4 }}\n",
        encoding="utf-8",
    )
    text = render(compile_here(str(config)))
    for secret in ("hunter2", "LEAK-1", "LEAK-2", "LEAK-3", "LEAK-4"):
        assert secret not in text
    assert "error:" in text
