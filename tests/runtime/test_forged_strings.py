"""Client strings cannot forge log lines or response headers (issue #13, item 10): whatever a client sends
(model names, and the ad hoc target ids built from them) is escaped and length-capped by one function,
`log.printable`, in the request log line, in any other log record and in the x-claude-any-* headers."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable

import httpx
import pytest
from faults import completion, fake_provider, request_body, resilient_table
from hypothesis import given
from hypothesis import strategies as st
from loopback import FakeUpstream, Reply

from claude_any.runtime.route.router import MAX_AD_HOC_MODEL_CHARS
from claude_any.runtime.serve import access_log as log
from claude_any.runtime.serve.access_log import FIELD_CHARS, HEADER_CHARS, LINE_CHARS, printable

FORGED = "gpt-4o\r\n2026-01-01 12:00:00 INFO claude_any: req_forged POST /v1/messages status=200\x1b[2J"


def _printable_ascii(text: str) -> bool:
    return text.isascii() and text.isprintable()


@pytest.fixture
def url(upstream: FakeUpstream, gateway: Callable[..., str]) -> str:
    upstream.responder = lambda _: Reply(json=completion())
    return gateway(resilient_table([fake_provider(upstream.url)]))


def test_a_huge_model_name_makes_headers_every_client_accepts(url: str) -> None:
    # An ad hoc target's id is the client's string: the longest one routed still makes valid headers.
    model = "fake/" + "m" * MAX_AD_HOC_MODEL_CHARS
    response = httpx.post(url + "/v1/messages", json=request_body(model=model), timeout=10)
    assert response.status_code == 200
    for name in ("x-claude-any-target", "x-claude-any-attempts"):
        value = response.headers[name]
        assert len(value) <= HEADER_CHARS and _printable_ascii(value)
        assert value.startswith("fake/mmmm")


def test_a_model_name_beyond_any_real_one_gets_a_short_printable_404(url: str) -> None:
    model = "fake/" + "m\r\n" * 50_000
    response = httpx.post(url + "/v1/messages", json=request_body(model=model), timeout=10)
    assert response.status_code == 404
    message = response.json()["error"]["message"]
    assert len(message) < 1_000 and message.isprintable()
    assert all(len(value) <= HEADER_CHARS and _printable_ascii(value) for value in response.headers.values())


def test_control_characters_in_a_model_cannot_add_a_header(url: str) -> None:
    response = httpx.post(url + "/v1/messages", json=request_body(model="fake/" + FORGED), timeout=10)
    assert response.status_code == 200
    target = response.headers["x-claude-any-target"]
    assert target.startswith("fake/gpt-4o\\r\\n2026-01-01") and target.endswith("\\x1b[2J")
    assert "req_forged" not in "".join(k for k in response.headers)


@pytest.mark.parametrize("model", ["fake/" + FORGED, FORGED, "fake/" + "m" * 100_000, "m" * 100_000])
def test_the_request_log_line_stays_one_bounded_line(
    url: str, model: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="claude_any"):
        httpx.post(url + "/v1/messages", json=request_body(model=model), timeout=10)
    lines = [r.getMessage() for r in caplog.records if r.name == "claude_any" and r.levelno == logging.INFO]
    assert len(lines) == 1
    line = lines[0]
    assert _printable_ascii(line) and len(line) < 4 * FIELD_CHARS + 200
    assert "\\r\\n2026-01-01" in line or "chars]" in line


def test_records_of_child_loggers_are_one_line_once_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(log.logger, "handlers", list(log.logger.handlers))  # configure() replaces them
    monkeypatch.setattr(log.logger, "propagate", log.logger.propagate)
    monkeypatch.setattr(log.logger, "level", log.logger.level)
    log.configure("info")
    stream = io.StringIO()
    log.logger.handlers[0].setStream(stream)  # type: ignore[attr-defined]
    logging.getLogger("claude_any.runtime.translate.example").warning("tool %s dropped", "x\nINFO forged")
    assert stream.getvalue().count("\n") == 1
    assert "tool x\\nINFO forged dropped" in stream.getvalue()


@pytest.mark.parametrize(
    ("value", "limit", "shown"),
    [
        ("claude-sonnet-4-6", FIELD_CHARS, "claude-sonnet-4-6"),
        ("a\r\nb\tc\x00\x7f", FIELD_CHARS, "a\\r\\nb\\tc\\x00\\x7f"),
        ("caf\u00e9 \u2028 \ud800 \U0001f600", FIELD_CHARS, "caf\\xe9 \\u2028 \\ud800 \\U0001f600"),
        ("x" * 50, 30, "x" * 17 + "...[50 chars]"),
        ("\u2028" * 10, 30, "\\u2028" * 2 + "...[10 chars]"),  # a cut escape is left out whole
    ],
)
def test_printable(value: str, limit: int, shown: str) -> None:
    assert printable(value, limit) == shown


@given(st.text(), st.integers(min_value=30, max_value=LINE_CHARS))
def test_printable_is_bounded_printable_ascii_and_idempotent(value: str, limit: int) -> None:
    shown = printable(value, limit)
    assert _printable_ascii(shown) and len(shown) <= limit
    assert printable(shown, limit) == shown
    if _printable_ascii(value) and len(value) <= limit:
        assert shown == value


# Without "claude" in them: every Claude-looking model routes to `large` by the built-in default.
@pytest.mark.parametrize("model", [FORGED.replace("claude_any", "gw"), "m" * 100_000, "gpt-\x00\x1b[31m-red"])
def test_the_404_for_an_unknown_model_shows_it_escaped_and_cut(openai_gateway: str, model: str) -> None:
    response = httpx.post(openai_gateway + "/v1/messages", json=request_body(model=model), timeout=10)
    assert response.status_code == 404
    message = response.json()["error"]["message"]
    assert response.json()["error"]["type"] == "not_found_error"
    assert message.startswith("model '") and "matches no route; routable: large, small" in message
    shown = message.removeprefix("model '").split("' matches no route")[0]
    assert shown == printable(model) and _printable_ascii(shown)
