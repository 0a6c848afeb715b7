"""Every cache keyed by what clients send stays within its documented bounds, however many distinct names,
tools or prompts arrive (issue #13 item 7): ad-hoc `provider/model` targets, the tool-schema and tool-token
memos, and the token estimator's memo of long texts. Counted in entries where the bound is in entries."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from loopback import TEST_ENV, ThreadServer, make_table, target

from claude_any.runtime.call.targets import Destinations
from claude_any.runtime.memo import LRU
from claude_any.runtime.route import tokens
from claude_any.runtime.route.router import LOGGED_MODELS, MAX_AD_HOC_MODEL_CHARS, Router
from claude_any.runtime.route.tokens import SessionScale
from claude_any.runtime.serve.app import create_app
from claude_any.runtime.translate import schema
from claude_any.table import Provider

ECHO = Provider("echo", "echo", "chat", {})
HELLO = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, Destinations]]:
    """An echo gateway (no network: thousands of requests stay fast), and its destinations to count."""
    app = create_app(
        make_table([ECHO], [target("large", ECHO, "echo-1"), target("small", ECHO, "echo-2")]), TEST_ENV
    )
    server = ThreadServer(app).start()
    try:
        yield server.url, app.state.gateway.destinations
    finally:
        server.stop()


def post(client: httpx.Client, url: str, **body: Any) -> httpx.Response:
    return client.post(url + "/v1/messages", json={"max_tokens": 5, "messages": HELLO, **body}, timeout=10)


def test_ad_hoc_targets_are_kept_up_to_the_bound_least_recently_used_out(
    served: tuple[str, Destinations],
) -> None:
    url, destinations = served
    bound = Destinations.AD_HOC_ENTRIES
    with httpx.Client() as client:
        for i in range(bound + 150):
            assert post(client, url, model=f"echo/model-{i}").status_code == 200
            assert post(client, url, model="echo/hot").status_code == 200  # used all along: stays
            assert len(destinations.ad_hoc) <= bound
    assert len(destinations.ad_hoc) == bound
    assert "echo/hot" in destinations.ad_hoc
    assert "echo/model-0" not in destinations.ad_hoc  # the least recently used went first
    assert f"echo/model-{bound + 149}" in destinations.ad_hoc
    assert [d.target.id for d in destinations] == ["large", "small"]  # declared ones are never dropped


def test_a_model_name_longer_than_any_real_one_is_refused_not_kept(served: tuple[str, Destinations]) -> None:
    url, destinations = served
    with httpx.Client() as client:
        kept = len(destinations.ad_hoc)
        for i in range(20):
            response = post(client, url, model=f"echo/{i}" + "x" * MAX_AD_HOC_MODEL_CHARS)
            assert response.status_code == 404
            assert f"at most {MAX_AD_HOC_MODEL_CHARS} characters" in response.json()["error"]["message"]
    assert len(destinations.ad_hoc) == kept
    assert destinations.ad_hoc.weight <= Destinations.AD_HOC_CHARS


def test_tool_memos_stay_bounded_in_entries_and_bytes(served: tuple[str, Destinations]) -> None:
    url, _ = served
    memos = (schema._clean_memo, tokens._tool_tokens)
    fat = {"type": "object", "properties": {"blob": {"type": "string", "description": "d" * 200_000}}}
    with httpx.Client() as client:
        for i in range(12):  # 2,400 distinct tools, then 60 of 200 KB each
            tools = [{"name": f"t{i}_{j}", "input_schema": {"type": "object"}} for j in range(200)]
            assert post(client, url, model="large", tools=tools).status_code == 200
            for memo in memos:
                assert len(memo) <= 1024
        for i in range(3):
            tools = [{"name": f"fat{i}_{j}", "input_schema": fat} for j in range(20)]
            assert post(client, url, model="large", tools=tools).status_code == 200
            for memo in memos:
                assert memo.key_bytes <= 8_000_000


def test_the_token_memo_keeps_at_most_its_budget_of_long_system_prompts() -> None:
    """The system prompt's count was memoised apart (an lru_cache of 256 prompts of any length)."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(12):  # 12 distinct prompts of 900 KB, each dropped by the client once sent
            tokens.estimate({"model": "m", "system": f"prompt {i}: " + "word " * 180_000, "messages": HELLO})
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 2 * tokens._FeatureMemo.BUDGET_CHARS  # ASCII: a byte a character, and 10.8 MB were sent


def test_lru_bounds_entries_and_weight() -> None:
    cache: LRU[str, int] = LRU(3, 10, len)
    for key in ("a", "bb", "ccc"):
        cache.put(key, len(key))
    assert cache.get("a") == 1  # now the most recently used
    cache.put("dddd", 4)  # 10 characters in all: "bb" goes
    assert ("bb" in cache, len(cache), cache.weight) == (False, 3, 8)
    cache.put("eeeeeeeeeee", 11)  # heavier than the whole bound: not kept
    assert "eeeeeeeeeee" not in cache and cache.weight == 8
    cache.put("fffffff", 7)  # evicts until it fits: ccc and a go, then dddd
    assert (len(cache), cache.weight, cache.get("fffffff")) == (1, 7, 7)


def test_session_ratios_are_kept_up_to_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SessionScale, "MAX_SESSIONS", 20)
    app = create_app(make_table([ECHO], [target("large", ECHO, "echo-1"), target("small", ECHO, "echo-2")]))
    sessions = app.state.process.session_scale
    server = ThreadServer(app).start()
    long = [{"role": "user", "content": "a few words to count " * 300}]  # over SessionScale.MIN_ESTIMATE
    try:
        with httpx.Client() as client:
            for i in range(50):
                headers = {"x-claude-code-session-id": f"session-{i}"}
                body = {"model": "claude-sonnet-4-6", "max_tokens": 5, "messages": long}
                assert client.post(server.url + "/v1/messages", json=body, headers=headers).status_code == 200
                assert len(sessions) <= 20
    finally:
        server.stop()
    assert len(sessions) == 20
    assert sessions.ratio("session-49") == 1.0  # echo reports the estimate: nothing to correct
    assert sessions.ratio("session-0") is None


def test_models_logged_as_of_no_named_family_are_bounded() -> None:
    router = Router(make_table([ECHO], [target("large", ECHO, "echo-1"), target("small", ECHO, "echo-2")]))
    for i in range(LOGGED_MODELS + 50):
        router.pick({"model": f"claude-new{i}-1", "messages": HELLO}, {})
    assert len(router.logged_models) == LOGGED_MODELS
