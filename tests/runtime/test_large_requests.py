"""One huge but valid request does not stall the other clients (issue #13, item 7): a body of a million
tiny content blocks took seconds of CPU to parse, estimate and translate, all of it on the event loop, so
nothing else was served meanwhile; bodies of offload.LARGE_BODY_BYTES or more are now worked on a thread.

No timing thresholds: each test asserts an order of events that the old code could not produce (the small
request answered before the large one reached its upstream, or was answered)."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from faults import SilentUpstream, completion, fake_provider, resilient_table
from loopback import FakeUpstream, Reply

from claude_any.runtime.memo import JSONMemo
from claude_any.runtime.route import tokens
from claude_any.runtime.serve.offload import LARGE_BODY_BYTES
from claude_any.table import RetryPolicy

# Bodies of tiny text blocks: a million (27 MB) take about a second to count here and 3 s to translate, all
# of it on the event loop before; a small request takes milliseconds.
SETTLE_S = 0.3  # for the gateway to read the rest of a body handed to the kernel (a few ms on loopback)


def _tiny_blocks_body(model: str, blocks: int) -> bytes:
    content = b",".join([b'{"type":"text","text":"a"}'] * blocks)
    head = b'{"model":"%s","max_tokens":5,"messages":[{"role":"user","content":[' % model.encode()
    body = head + content + b"]}]}"
    assert len(body) > LARGE_BODY_BYTES
    return body


def _send(url: str, path: str, body: bytes) -> socket.socket:
    """POST `body` on a raw socket; returns once the last byte is handed to the kernel."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port))
    head = (
        f"POST {path} HTTP/1.1\r\nhost: {parts.netloc}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode() + body)
    return sock


def _status(sock: socket.socket) -> int:
    sock.settimeout(60)
    head = b""
    while b"\r\n" not in head:
        data = sock.recv(4096)
        if not data:
            break
        head += data
    sock.close()
    return int(head.split(b" ", 2)[1])


@pytest.fixture
def silent() -> Iterator[SilentUpstream]:
    upstream = SilentUpstream()
    yield upstream
    upstream.stop()


def test_a_small_request_is_answered_while_a_large_one_is_translated(
    upstream: FakeUpstream, silent: SilentUpstream, gateway: Callable[..., str]
) -> None:
    # `large` goes to an upstream that notes when the gateway connects (after parsing, estimating and
    # translating the body), `small` to one that answers at once.
    providers = [fake_provider(silent.url, "slow"), fake_provider(upstream.url)]
    url = gateway(resilient_table(providers, retry=RetryPolicy(attempts=1)))
    upstream.script(Reply(json=completion("small one")))
    big = _send(url, "/v1/messages", _tiny_blocks_body("large", 400_000))
    time.sleep(SETTLE_S)  # the gateway has read the rest of the body and is working on it
    small = httpx.post(
        url + "/v1/messages", json={"model": "small", "max_tokens": 5, "messages": []}, timeout=60
    )
    answered_at = time.monotonic()
    assert small.status_code == 200
    assert small.json()["content"][0]["text"] == "small one"
    assert silent.first_accepted_at is None or answered_at < silent.first_accepted_at
    assert _status(big) == 504  # the silent upstream never answers: first_byte_s
    assert silent.first_accepted_at is not None  # and the large one was served after all


def test_a_small_count_is_answered_while_a_large_one_is_counted(
    upstream: FakeUpstream, gateway: Callable[..., str]
) -> None:
    url = gateway(resilient_table([fake_provider(upstream.url)]))
    big = _send(url, "/v1/messages/count_tokens", _tiny_blocks_body("claude-sonnet-4-6", 1_000_000))
    big_answered = threading.Event()
    statuses: list[int] = []

    def wait_for_big() -> None:
        statuses.append(_status(big))
        big_answered.set()

    threading.Thread(target=wait_for_big, daemon=True).start()
    time.sleep(SETTLE_S)
    small = httpx.post(
        url + "/v1/messages/count_tokens", json={"model": "claude-sonnet-4-6", "messages": []}, timeout=60
    )
    assert small.status_code == 200
    assert not big_answered.is_set()
    assert big_answered.wait(60) and statuses == [200]


# The worker thread and the event loop share the memos of tokens.py and memo.py: they must stay consistent
# when both use them at once (before, a thread switch mid-eviction raised "dictionary changed size during
# iteration" or a KeyError into a request).


@pytest.fixture
def switch_often() -> Iterator[None]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # a thread switch between almost any two bytecodes
    yield
    sys.setswitchinterval(before)


def _in_two_threads(work: Callable[[int], None]) -> list[BaseException]:
    failures: list[BaseException] = []

    def run(offset: int) -> None:
        try:
            work(offset)
        except Exception as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(offset,)) for offset in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


def test_the_token_count_memo_is_thread_safe(switch_often: None) -> None:
    class Small(tokens._FeatureMemo):
        MIN_CHARS, BUDGET_CHARS = 1, 2_000  # evicts all the time

    memo = Small()
    texts = [f"text {i} " * 30 for i in range(200)]

    def work(offset: int) -> None:
        for _ in range(100):
            for text in texts[offset::2]:
                assert memo.get(text) == tokens._features(text)

    assert _in_two_threads(work) == []
    assert memo._chars == sum(len(text) for text in memo._counts) <= Small.BUDGET_CHARS


def test_the_json_memo_is_thread_safe(switch_often: None) -> None:
    memo = JSONMemo(lambda value: value["k"], max_entries=8)

    def work(offset: int) -> None:
        for _ in range(3000):
            for i in range(offset, 40, 2):
                assert memo({"k": i}) == i

    assert _in_two_threads(work) == []
    assert len(memo) <= 8
