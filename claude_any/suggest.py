"""Did-you-mean hints for a name the user misspelled: one rule for the checker and the compiler alike.

A hint is only worth giving for a typo: a name a few keystrokes away from a real one (`famly`, `opnai`,
`base_ulr`), or the real one with a `_` part left out or added (`idle` for `idle_s`). A different name
that happens to share letters (`oai`, `open`, `openai-eu` for `openai`) gets no hint: a wrong hint is
worse than none.
"""

from __future__ import annotations

from collections.abc import Iterable

# Longer words are not names; comparing them would only cost time (the distance is quadratic).
_MAX_LENGTH = 64


def typo_distance(a: str, b: str) -> int:
    """Keystrokes from `a` to `b`: inserted, deleted or replaced characters and swapped neighbours."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice `word` is most likely a typo of, or None when none is close enough."""
    found = nearest(word, choices, 1)
    return found[0] if found else None


def nearest(word: str, choices: Iterable[str], count: int) -> list[str]:
    """Up to `count` choices `word` could be a typo of, the closest first.

    Close enough: at most one keystroke per three characters of the shorter name (at least one), case
    ignored; or one is the other with a `_…` part added. Ties go to the alphabetically first choice, so
    the answer does not depend on the order of `choices`.
    """
    typed = word.lower()
    if not typed or len(typed) > _MAX_LENGTH:
        return []
    found: list[tuple[int, str]] = []
    for choice in set(choices):
        known = choice.lower()
        if choice == word or len(known) > _MAX_LENGTH:
            continue
        limit = max(1, min(len(typed), len(known)) // 3)
        distance = typo_distance(typed, known)
        if distance <= limit or _same_stem(typed, known):
            found.append((distance, choice))
    return [choice for _, choice in sorted(found)[:count]]


def _same_stem(a: str, b: str) -> bool:
    """One name is the other with a `_…` part added (`idle` and `idle_s`, `max_tokens_total`)."""
    short, long = sorted((a, b), key=len)
    return len(short) >= 3 and long.startswith(short + "_")


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`"; did you mean 'x'?"` for the closest of `choices`, or `""` when nothing is close."""
    match = closest(word, choices)
    return f"; did you mean {match!r}?" if match is not None else ""
