"""Compiler tests run from tests/compiler so diagnostics name files as `configs/NAME.yaml`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from claude_any.compiler import CompileResult, compile_config

HERE = Path(__file__).parent
ROOT = HERE.parents[1]


def rendered(result: CompileResult) -> str:
    """Every diagnostic as the CLI prints it, one after the other."""
    return "\n".join(d.render() for d in result.diagnostics) + "\n"


@pytest.fixture
def render() -> Callable[[CompileResult], str]:
    """`rendered`, as a fixture (test modules do not import conftest)."""
    return rendered


@pytest.fixture
def compile_here(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], CompileResult]:
    """Compile a path relative to tests/compiler."""
    monkeypatch.chdir(HERE)
    return compile_config


@pytest.fixture
def compile_example(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], CompileResult]:
    """Compile a path relative to the repository root (for examples/)."""
    monkeypatch.chdir(ROOT)
    return compile_config
