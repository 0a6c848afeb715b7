"""The real Claude Code CLI through claude-any to a Responses API target (issue #8): a Bash round trip.

gpt-5-pro is Responses-only, so claude-any sends it to `/v1/responses` without being told. The scripted
upstream reasons, calls Bash, then answers once the call's output comes back; the test checks that the
command really ran, that its output reached the upstream as a `function_call_output`, and that the
reasoning of the first turn was sent back (encrypted) on the second.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from conftest import RunClaude
from loopback import FakeUpstream, make_table, openai_provider, target
from responses_upstream import tool_then_text


@pytest.fixture
def responses_gateway(upstream: FakeUpstream, gateway: Callable[..., str]) -> str:
    provider = openai_provider(upstream.url + "/v1", name="fake")
    table = make_table(
        [provider], [target("large", provider, "gpt-5-pro"), target("small", provider, "gpt-5-pro")]
    )
    return gateway(table)


def _responses_bodies(upstream: FakeUpstream) -> list[dict[str, Any]]:
    bodies = [r.body for r in upstream.requests if r.path.endswith("/responses") and isinstance(r.body, dict)]
    assert len(bodies) == len(upstream.requests), [r.path for r in upstream.requests]
    return bodies


def test_bash_round_trip_through_responses(
    upstream: FakeUpstream, responses_gateway: str, run_claude: RunClaude
) -> None:
    upstream.responder = tool_then_text(
        "Bash", {"command": "echo resp-$RANDOM-marker"}, "responses round trip done", encrypted="enc-e2e-1"
    )
    session = run_claude(responses_gateway, "run the marker command", "--allowedTools", "Bash")

    result = session.result
    assert result["is_error"] is False, result
    assert result["result"] == "responses round trip done"
    assert result["usage"]["output_tokens"] > 0

    bodies = _responses_bodies(upstream)
    assert len(bodies) == 2
    assert all(b["stream"] is True for b in bodies), "Claude Code fell back to a non-streaming request"
    assert all(b["store"] is False for b in bodies)
    outputs = [i for i in bodies[1]["input"] if i.get("type") == "function_call_output"]
    assert len(outputs) == 1 and re.fullmatch(r"resp-\d+-marker", str(outputs[0]["output"]).strip()), outputs
    replayed = [i for i in bodies[1]["input"] if i.get("type") == "reasoning"]
    assert replayed and replayed[0].get("encrypted_content") == "enc-e2e-1", bodies[1]["input"]
