"""The one did-you-mean: a hint for a typo, none for a name that only shares letters."""

from __future__ import annotations

import pytest

from claude_any.suggest import closest, did_you_mean, nearest, typo_distance

KINDS = ("openai", "azure", "databricks", "anthropic", "echo")


@pytest.mark.parametrize(
    ("typed", "choices", "meant"),
    [
        ("opnai", KINDS, "openai"),  # a letter left out
        ("azrue", KINDS, "azure"),  # two swapped
        ("Sonnet", ("opus", "sonnet", "haiku"), "sonnet"),  # case
        ("base_ulr", ("base_url", "api_key"), "base_url"),
        ("idle", ("idle_s", "ping_s"), "idle_s"),  # the unit left out
        ("max_tokens_total", ("max_tokens", "messages"), "max_tokens"),  # a part added
        ("model_category", ("model_categories", "routes"), "model_categories"),
    ],
)
def test_a_typo_gets_its_name(typed: str, choices: tuple[str, ...], meant: str) -> None:
    assert closest(typed, choices) == meant
    assert did_you_mean(typed, choices) == f"; did you mean {meant!r}?"


@pytest.mark.parametrize("typed", ["oai", "open", "openai-eu", "ollama", "local", "gemini", "vllm", ""])
def test_a_name_that_only_shares_letters_gets_none(typed: str) -> None:
    # Before, difflib's ratio said "did you mean 'openai'?" to `oai`, `open` and `openai-eu`.
    assert closest(typed, KINDS) is None
    assert did_you_mean(typed, KINDS) == ""


def test_nearest_lists_the_closest_first_and_ties_alphabetically() -> None:
    assert nearest("gpt-41", ["gpt-4o", "gpt-4.1", "gpt-4", "o3", "gpt-5"], 3) == [
        "gpt-4",
        "gpt-4.1",
        "gpt-4o",
    ]
    assert closest("gpt-41", ["gpt-4o", "gpt-4.1", "gpt-4"]) == closest(
        "gpt-41", ["gpt-4", "gpt-4.1", "gpt-4o"]
    )


def test_typo_distance_counts_keystrokes() -> None:
    assert [
        typo_distance(a, b) for a, b in [("ab", "ba"), ("kitten", "sitting"), ("", "abc"), ("x", "x")]
    ] == [
        1,
        3,
        3,
        0,
    ]
