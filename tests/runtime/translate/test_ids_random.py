"""Random message and tool ids: Anthropic's shape (`prefix` + 24 base62 characters), all characters used."""

from __future__ import annotations

import re
from collections import Counter

from claude_any.runtime.translate.ids import random_id


def test_random_ids_have_the_anthropic_shape_and_do_not_repeat() -> None:
    ids = [random_id("msg_") for _ in range(2_000)]
    assert all(re.fullmatch(r"msg_[0-9A-Za-z]{24}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert re.fullmatch(r"toolu_[0-9A-Za-z]{24}", random_id("toolu_"))


def test_every_base62_character_turns_up_about_equally() -> None:
    # 120,000 characters: 1,935 of each expected, standard deviation 44. The bounds are 6 deviations out;
    # a modulo bias (a quarter more of some characters, ~2,420) lands far outside them.
    counts = Counter("".join(random_id("") for _ in range(5_000)))
    assert len(counts) == 62
    assert min(counts.values()) > 1_670 and max(counts.values()) < 2_200
