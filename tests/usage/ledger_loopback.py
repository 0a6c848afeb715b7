"""A team gateway on loopback for the usage ledger's tests: alice and bob have tokens, the fake provider's
models have prices, and the ledger is a SQLite file the test chooses."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
from loopback import TEST_ENV, FakeUpstream, ThreadServer, make_table, openai_provider, target

from claude_any.runtime.serve.app import create_app
from claude_any.runtime.serve.server import client_limits
from claude_any.table import Limit, Price, RoutingTable, Usage

ENV = {**TEST_ENV, "ALICE_TOKEN": "alice-secret-1", "BOB_TOKEN": "bob-secret-2"}
TOKENS = {"alice": "alice-secret-1", "bob": "bob-secret-2", "shared": "gw-secret"}
HELLO = [{"role": "user", "content": "hello"}]
# $10 per million tokens in and out: a request of 1,000 + 100 tokens costs $0.011.
PRICE = Price(10.0, 10.0)


def completion(prompt: int = 1000, out: int = 100) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": out, "total_tokens": prompt + out},
    }


def team_table(
    upstream: FakeUpstream,
    database: Path | str | None,
    limits: dict[str, Limit] | None = None,
    enabled: bool = True,
) -> RoutingTable:
    provider = openai_provider(upstream.url + "/v1", name="fake")
    targets = [target("large", provider, "gpt-4o"), target("small", provider, "gpt-4o-mini")]
    tokens = {"alice": "${ALICE_TOKEN}", "bob": "${BOB_TOKEN}"}
    table = make_table([provider], targets, auth_token="${GATEWAY_TOKEN}", tokens=tokens)
    url = database if database is None or str(database).startswith("postgresql") else f"sqlite:///{database}"
    usage = Usage(enabled=enabled, database=str(url) if url is not None else None)
    return replace(table, prices={"large": PRICE}, usage=usage, limits=limits or {})


@contextlib.contextmanager
def running(table: RoutingTable) -> Iterator[str]:
    """The gateway for `table` on loopback; stopping it runs the app's shutdown (the ledger's flush)."""
    server = ThreadServer(create_app(table, ENV), limits=client_limits(table)).start()
    try:
        yield server.url
    finally:
        server.stop()


def ask(url: str, who: str, model: str = "claude-sonnet-4-6", **extra: Any) -> httpx.Response:
    body = {"model": model, "max_tokens": 5, "messages": HELLO, **extra}
    headers = {"x-api-key": TOKENS[who], "x-claude-code-session-id": "5f0c1a2e-0000-4000-8000-00000000000a"}
    return httpx.post(url + "/v1/messages", json=body, headers=headers, timeout=10)


def rows(database: Path) -> list[dict[str, Any]]:
    """The ledger's rows, read with the standard library's sqlite3 (not the code under test)."""
    with contextlib.closing(sqlite3.connect(database)) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute("SELECT * FROM claude_any_requests ORDER BY id")]


def wait_for(condition: Any, seconds: float = 10.0, pause: float = 0.05) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(pause)
