"""`claude_code_settings`: what Claude Code is told about targets smaller than it assumes (a 1M-token window
and 128k output tokens in 2.1.330 and 2.1.332), for one target (`explain`) or a whole table (`code`)."""

from __future__ import annotations

from typing import Any

from claude_any.claude_code_settings import (
    ASSUMED_CONTEXT,
    ASSUMED_MAX_OUTPUT,
    MIN_COMPACT_WINDOW,
    claude_code_settings,
)
from claude_any.table import Target


def make(context: Any, max_output: Any) -> Target:
    caps = {"context": context, "max_output": max_output}
    return Target("t", "p", "m", "m", caps)


def test_what_claude_code_assumes() -> None:
    # Checked with `/context` against the real CLI (tests/e2e/test_e2e_launcher.py).
    assert (ASSUMED_CONTEXT, ASSUMED_MAX_OUTPUT, MIN_COMPACT_WINDOW) == (1_000_000, 128_000, 100_000)


def test_a_smaller_target_sets_window_context_and_output() -> None:
    assert claude_code_settings([make(128_000, 16_384)]) == {
        "CLAUDE_CODE_AUTO_COMPACT_WINDOW": "128000",
        "CLAUDE_CODE_MAX_CONTEXT_TOKENS": "128000",
        "CLAUDE_CODE_MAX_OUTPUT_TOKENS": "16384",
    }


def test_a_target_as_large_as_claude_code_assumes_needs_nothing() -> None:
    assert claude_code_settings([make(1_047_576, 128_000)]) == {}
    assert claude_code_settings([make(None, None)]) == {}  # unknown limits: nothing is claimed
    assert claude_code_settings([]) == {}


def test_below_the_compaction_minimum_only_the_window_of_unknown_ids_is_set() -> None:
    # CLAUDE_CODE_AUTO_COMPACT_WINDOW=32768 would be read as 100000, with a warning on every start.
    assert claude_code_settings([make(32_768, 8_192)]) == {
        "CLAUDE_CODE_MAX_CONTEXT_TOKENS": "32768",
        "CLAUDE_CODE_MAX_OUTPUT_TOKENS": "8192",
    }


def test_the_smallest_of_several_targets_wins_each_limit() -> None:
    targets = [make(400_000, 128_000), make(200_000, 100_000), make(None, 16_384)]
    assert claude_code_settings(targets) == {
        "CLAUDE_CODE_AUTO_COMPACT_WINDOW": "200000",
        "CLAUDE_CODE_MAX_CONTEXT_TOKENS": "200000",
        "CLAUDE_CODE_MAX_OUTPUT_TOKENS": "16384",
    }
