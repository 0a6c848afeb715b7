"""Which Claude Code the end-to-end tests use, and what they say when there is none (no binary is run)."""

from __future__ import annotations

from pathlib import Path

from conftest import CLAUDE_VERSION, REPO, cached_install, find_claude


def _fake_claude(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    binary = directory / "claude"
    binary.write_text("#!/bin/sh\necho 2.1.330\n")
    binary.chmod(0o755)
    return binary


def test_claude_on_path_is_used_when_nothing_else_is_set(tmp_path: Path) -> None:
    on_path = _fake_claude(tmp_path / "bin")
    env = {"HOME": str(tmp_path / "home"), "PATH": str(on_path.parent)}
    assert find_claude(env) == (on_path, "")


def test_the_ci_cache_comes_before_path_and_the_variable_before_both(tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "PATH": str(_fake_claude(tmp_path / "bin").parent)}
    cached = _fake_claude(cached_install(env).parent)
    assert cached.is_relative_to(tmp_path / "cache" / "claude-any")
    assert find_claude(env) == (cached, "")
    chosen = _fake_claude(tmp_path / "chosen")
    assert find_claude({**env, "CLAUDE_ANY_CLAUDE": str(chosen)}) == (chosen, "")


def test_the_skip_reason_says_what_was_looked_for_and_how_to_install(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path / "home"), "PATH": str(tmp_path / "empty")}
    found, why = find_claude(env)
    assert found is None
    assert "CLAUDE_ANY_CLAUDE is not set" in why and "no `claude` on PATH" in why
    assert str(tmp_path / "home" / ".cache" / "claude-any" / f"claude-code-{CLAUDE_VERSION}") in why
    assert "npm install" in why and ".ci/run" in why


def test_a_wrong_claude_any_claude_is_named(tmp_path: Path) -> None:
    env = {"CLAUDE_ANY_CLAUDE": str(tmp_path / "missing"), "PATH": str(_fake_claude(tmp_path / "bin").parent)}
    assert find_claude(env) == (None, f"CLAUDE_ANY_CLAUDE={tmp_path / 'missing'} is not an executable file")


def test_ci_installs_the_pinned_version_where_the_tests_look() -> None:
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert f"CLAUDE_CODE_VERSION={CLAUDE_VERSION}\n" in ci
    assert (
        'CLAUDE_CODE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/claude-any/claude-code-$CLAUDE_CODE_VERSION"' in ci
    )
    assert 'CLAUDE_CODE_BIN="$CLAUDE_CODE_DIR/node_modules/.bin/claude"' in ci
