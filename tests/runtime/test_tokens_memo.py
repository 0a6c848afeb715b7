"""The token estimator's memo: counting pieces separately (and from the memo) gives exactly the count of the
joined text, and the memo stays within its character budget."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from loopback import FIXTURES

from claude_any.runtime.route import tokens
from claude_any.runtime.route.tokens import count_joined, count_text, estimate

# Every character class the features distinguish: lower, upper, digits, punctuation, spaces, newlines,
# accented and CJK text, an emoji and a lone surrogate (encoded with surrogatepass).
_ALPHABET = "aZq09 .,;{}\"'\n\t-_éü漢字😀\ud800"
_TEXT = st.text(alphabet=_ALPHABET, max_size=40)
_LONG_TEXT = st.builds(lambda part, n: part * n, _TEXT, st.integers(1, 60))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_TEXT, _LONG_TEXT), max_size=8))
def test_counting_pieces_equals_counting_the_joined_text(texts: list[str]) -> None:
    expected = count_text("\n".join(texts))
    assert count_joined(texts) == expected
    assert count_joined(texts) == expected  # again, now from the memo


def test_long_pieces_are_memoised_and_short_ones_are_not() -> None:
    long_text = "memo " * 200 + "unique-1f3a"
    short_text = "short and unique 9c2e"
    count_joined([short_text, long_text])
    assert long_text in tokens._MEMO._counts
    assert short_text not in tokens._MEMO._counts


def test_the_memo_keeps_within_its_character_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    memo = tokens._FeatureMemo()
    monkeypatch.setattr(tokens._FeatureMemo, "BUDGET_CHARS", 5_000)
    monkeypatch.setattr(tokens._FeatureMemo, "MAX_CHARS", 3_000)
    texts = [f"{i} " + "x" * 1_000 for i in range(20)]
    for text in texts:
        assert memo.get(text) == tokens._features(text)
    assert memo._chars <= 5_000
    assert sum(len(t) for t in memo._counts) == memo._chars
    assert texts[-1] in memo._counts and texts[0] not in memo._counts  # oldest out first
    huge = "y" * 4_000
    assert memo.get(huge) == tokens._features(huge)
    assert huge not in memo._counts  # too long to keep


def test_a_hit_makes_an_entry_the_most_recently_used(monkeypatch: pytest.MonkeyPatch) -> None:
    memo = tokens._FeatureMemo()
    monkeypatch.setattr(tokens._FeatureMemo, "BUDGET_CHARS", 2_500)
    first, second, third = ("a" * 1_000, "b" * 1_000, "c" * 1_000)
    memo.get(first)
    memo.get(second)
    memo.get(first)  # now second is the oldest
    memo.get(third)
    assert first in memo._counts and third in memo._counts and second not in memo._counts


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.json")))
def test_claude_code_requests_give_the_same_estimate_cold_and_warm(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    monkeypatch.setattr(tokens, "_MEMO", tokens._FeatureMemo())  # cold
    cold = estimate(body)
    assert estimate(body) == cold
    assert estimate(json.loads(json.dumps(body))) == cold  # equal texts in new objects hit the memo
