"""/status in a real browser (headless Chromium, tests/e2e/chromium.py): it opens with a token, shows the
targets and the request just made, shows a client's markup as text, and arrives with its
Content-Security-Policy (its own style applied, by nonce)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import httpx
from chromium import chromium
from loopback import FakeUpstream, Reply
from selenium import webdriver
from selenium.webdriver.common.by import By

__all__ = ["chromium"]  # the fixture, used by name

ALICE_TOKEN = "alice-secret-1"
HELLO = [{"role": "user", "content": "hello"}]
MARKUP = "<script>document.title='owned'</script><img src=x id=injected>"


def ok(prompt: int, completion: int) -> Reply:
    message = {"role": "assistant", "content": "hi"}
    usage = {"prompt_tokens": prompt, "completion_tokens": completion}
    choice = {"index": 0, "message": message, "finish_reason": "stop"}
    return Reply(json={"id": "c1", "object": "chat.completion", "choices": [choice], "usage": usage})


def ask(url: str, model: str) -> httpx.Response:
    body = {"model": model, "max_tokens": 5, "messages": HELLO}
    return httpx.post(url + "/v1/messages", json=body, headers={"x-api-key": ALICE_TOKEN}, timeout=10)


def open_with_bearer(driver: webdriver.Chrome, url: str) -> None:
    """Load `url` sending alice's token on every request the page makes (the DevTools protocol)."""
    driver.execute_cdp_cmd("Network.enable", {})
    headers = {"Authorization": f"Bearer {ALICE_TOKEN}"}
    driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": headers})
    driver.get(url)


def rows(driver: webdriver.Chrome, table: str) -> list[list[str]]:
    """The text of each cell of each body row of the table with this id, as the browser renders it."""
    found = driver.find_elements(By.CSS_SELECTOR, f"table#{table} tbody tr")
    return [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")] for row in found]


def response_headers(driver: webdriver.Chrome, url: str) -> dict[str, Any]:
    """The headers of the document response for `url`, as the browser received them."""
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.responseReceived":
            response = message["params"]["response"]
            if response["url"] == url:
                return {key.lower(): value for key, value in response["headers"].items()}
    raise AssertionError(f"no response for {url} in the browser's network log")


def test_the_status_page_shows_the_targets_and_the_request_just_made(
    upstream: FakeUpstream, status_gateway: str, chromium: webdriver.Chrome
) -> None:
    upstream.script(ok(1200, 34))
    assert ask(status_gateway, "claude-sonnet-4-6").status_code == 200
    page = status_gateway + "/status?refresh=0"
    open_with_bearer(chromium, page)

    assert chromium.title == "claude-any status"
    targets = {cells[0]: cells for cells in rows(chromium, "targets")}
    assert set(targets) == {"large", "small"}
    assert targets["large"][1:4] == ["fake/gpt-4o", "1", "0"]  # provider/model, requests, errors
    assert targets["small"][1:3] == ["fake/local-model", "0"]
    (request,) = rows(chromium, "requests")
    assert request[1:] == [
        "alice",
        "claude-sonnet-4-6 → large (fake/gpt-4o)",
        "200",
        request[4],  # the latency
        "1200",
        "34",
        "$0.0027",  # 1200 x $2 + 34 x $8 per million
    ]
    assert rows(chromium, "spend") == [["alice", "$0.0027", "0"]]

    headers = response_headers(chromium, page)
    assert headers["content-security-policy"].startswith("default-src 'none'; style-src 'nonce-")
    # The page's own style, allowed by its nonce, applies; a blocked one would leave the 16px default.
    font_size = chromium.execute_script("return getComputedStyle(document.body).fontSize")
    assert font_size == "14px"


def test_a_model_name_with_markup_shows_as_text(
    upstream: FakeUpstream, status_gateway: str, chromium: webdriver.Chrome
) -> None:
    assert ask(status_gateway, MARKUP).status_code == 404  # no route: listed all the same
    open_with_bearer(chromium, status_gateway + "/status?refresh=0")

    (request,) = rows(chromium, "requests")
    assert request[2] == f"{MARKUP} → no target"
    assert chromium.title == "claude-any status"  # the script did not run
    assert chromium.find_elements(By.TAG_NAME, "script") == []
    assert chromium.find_elements(By.ID, "injected") == []


def test_a_browser_is_asked_for_the_token(status_gateway: str, chromium: webdriver.Chrome) -> None:
    # Credentials in the URL are sent only once the server asks for them (WWW-Authenticate: Basic).
    parts = urlsplit(status_gateway)
    chromium.get(f"{parts.scheme}://alice:{ALICE_TOKEN}@{parts.netloc}/status?refresh=0")
    assert chromium.title == "claude-any status"
    assert chromium.find_element(By.ID, "targets").is_displayed()
