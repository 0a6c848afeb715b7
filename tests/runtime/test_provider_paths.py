"""A model name from a client is exactly one URL path segment: it can neither leave the deployment path on
Azure nor change the path or query anywhere. Checked through the gateway, on the path the fake provider
received as it came on the wire."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from loopback import FakeUpstream, Reply, make_table, openai_provider, target

from claude_any.table import Provider

OPENAI_REPLY = {
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}
HOSTILE = {
    "az/../../../admin/x": "az%2F..%2F..%2F..%2Fadmin%2Fx",
    "x/../../admin?api-version=1#frag": "x%2F..%2F..%2Fadmin%3Fapi-version%3D1%23frag",
    "a%2F..%2Fb": "a%252F..%252Fb",
    "../deployments/other": "..%2Fdeployments%2Fother",
}


def _gateway(upstream: FakeUpstream, gateway: Callable[..., str]) -> str:
    azure = Provider(
        "azure",
        "azure",
        "chat",
        {"api_key": "${AZURE_KEY}", "endpoint": upstream.url, "api_version": "2024-10-21"},
    )
    openai = openai_provider(upstream.url + "/v1")
    table = make_table(
        [azure, openai], [target("large", azure, "gpt-4o-prod"), target("small", openai, "gpt-4o-mini")]
    )
    return gateway(table)


def _ask(url: str, model: str) -> httpx.Response:
    body = {"model": model, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    return httpx.post(url + "/v1/messages", json=body, timeout=10)


@pytest.mark.parametrize("model", sorted(HOSTILE))
def test_azure_deployment_names_stay_in_their_segment(
    model: str, upstream: FakeUpstream, gateway: Callable[..., str]
) -> None:
    url = _gateway(upstream, gateway)
    upstream.script(Reply(json=OPENAI_REPLY))
    assert _ask(url, f"azure/{model}").status_code == 200
    (sent,) = upstream.requests
    assert sent.raw_path == f"/openai/deployments/{HOSTILE[model]}/chat/completions"
    assert sent.query == "api-version=2024-10-21"


@pytest.mark.parametrize("model", sorted(HOSTILE))
def test_a_model_in_the_body_changes_no_path(
    model: str, upstream: FakeUpstream, gateway: Callable[..., str]
) -> None:
    url = _gateway(upstream, gateway)
    upstream.script(Reply(json=OPENAI_REPLY))
    assert _ask(url, f"openai/{model}").status_code == 200
    (sent,) = upstream.requests
    assert (sent.raw_path, sent.query, sent.body["model"]) == ("/v1/chat/completions", "", model)


@pytest.mark.parametrize("model", [".", ".."])
def test_a_dot_segment_is_refused_before_anything_is_sent(
    model: str, upstream: FakeUpstream, gateway: Callable[..., str]
) -> None:
    url = _gateway(upstream, gateway)
    answer = _ask(url, f"azure/{model}")
    assert answer.status_code == 400
    assert answer.json()["error"]["type"] == "invalid_request_error"
    assert f"model {model!r} cannot be called" in answer.json()["error"]["message"]
    assert upstream.requests == []
