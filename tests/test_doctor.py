"""`claude-any doctor`: every target checked live against the fake provider, through the gateway's own code.

The fake provider behaves like the usual misconfigurations: an Azure api_version too old for a parameter
(400 "Unsupported parameter: 'max_completion_tokens'…"), a deployment that does not exist (404
DeploymentNotFound), a rejected key (401), a model without tool support, a server that serves less context
than the table assumes, and a healthy reasoning model. Each failure must be reported with the provider's
words (no secret in them) and its fix, and the exit status must say whether anything failed.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from identity_fakes import FakeAzureCli
from loopback import DONE, FakeUpstream, Recorded, Reply

from claude_any.compiler import compile_text
from claude_any.doctor import CHECKS, Report, diagnose, render, targets_of
from claude_any.table import RoutingTable

REPO = Path(__file__).resolve().parents[1]
KEYS = {"FAKE_KEY": "sk-fake-good-key-123", "BAD_KEY": "sk-wrong-key-value-456", "AZ_KEY": "az-key-789abc"}
MAX_COMPLETION_TOKENS_REFUSED = (
    "Unsupported parameter: 'max_completion_tokens' is not supported with this model. "
    "Use 'max_tokens' instead."
)
DEPLOYMENT_NOT_FOUND = (
    "The API deployment for this resource does not exist. If you created the deployment within the last "
    "5 minutes, please wait a moment and try again."
)


def config(url: str) -> str:
    return f"""
providers:
  fake: {{kind: openai, base_url: {url}/v1, api_key: ${{FAKE_KEY}}}}
  badkey: {{kind: openai, base_url: {url}/v1, api_key: ${{BAD_KEY}}}}
  azure:
    api_key: ${{AZ_KEY}}
    endpoint: {url}
    api_version: 2024-06-01
    models: {{old-api: {{base_model: gpt-4o}}, missing: {{base_model: gpt-4o}}}}
model_categories:
  large: fake/o4-mini
  small: fake/no-tools
  old: azure/old-api
  missing: azure/missing
  rejected: badkey/gpt-4o
  ctx: fake/gpt-4o
"""


def _error(status: int, message: str, code: str | None = None) -> Reply:
    return Reply(status, json={"error": {"message": message, "type": "invalid_request_error", "code": code}})


def _chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"id": "c", "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}], **extra}


def provider(recorded: Recorded) -> Reply:
    """The fake provider: a healthy OpenAI-compatible server, but for the models that stand for a mistake."""
    if recorded.method == "GET":
        models = [{"id": "o4-mini", "max_model_len": 200000}, {"id": "gpt-4o", "max_model_len": 32768}]
        return Reply(json={"object": "list", "data": models})
    body = recorded.body if isinstance(recorded.body, dict) else {}
    model = body.get("model") or recorded.path.split("/")[3]  # Azure: /openai/deployments/<name>/…
    if recorded.headers.get("authorization") == f"Bearer {KEYS['BAD_KEY']}":
        return _error(401, f"Incorrect API key provided: {KEYS['BAD_KEY']}.", "invalid_api_key")
    if model == "old-api" and "max_completion_tokens" in body:
        return _error(400, MAX_COMPLETION_TOKENS_REFUSED, "unsupported_parameter")
    if model == "missing":
        return Reply(404, json={"error": {"code": "DeploymentNotFound", "message": DEPLOYMENT_NOT_FOUND}})
    if model == "no-tools" and body.get("tools"):
        return _error(400, f"registry.ollama.ai/library/{model} does not support tools")
    if isinstance(body.get("tool_choice"), dict):
        call = {"id": "call_1", "type": "function"}
        call["function"] = {"name": body["tool_choice"]["function"]["name"], "arguments": '{"answer": "OK"}'}
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
        finish = "tool_calls"
    else:
        message, finish = {"role": "assistant", "content": "OK"}, "stop"
    usage = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    if body.get("stream"):
        last = _chunk(finish=finish)
        return Reply(chunks=[_chunk({"content": "OK"}), last, _chunk(usage=usage) | {"choices": []}, DONE])
    choice = {"index": 0, "message": message, "finish_reason": finish}
    return Reply(json={"id": "c", "choices": [choice], "usage": usage})


def table_for(url: str) -> RoutingTable:
    result = compile_text(config(url), "config.yaml")
    assert result.table is not None, [d.render() for d in result.diagnostics]
    return result.table


@pytest.fixture
def fake(upstream: FakeUpstream) -> FakeUpstream:
    upstream.responder = provider
    return upstream


def run_doctor(
    table: RoutingTable, only: str | None = None, env: dict[str, str] | None = None
) -> list[Report]:
    return asyncio.run(diagnose(table, env if env is not None else KEYS, targets_of(table, only)))


def statuses(report: Report) -> dict[str, str]:
    return {check.name: check.status for check in report.checks}


def test_a_healthy_reasoning_model_passes_every_check_through_the_gateways_translation(
    fake: FakeUpstream,
) -> None:
    [report] = run_doctor(table_for(fake.url), "large")
    assert statuses(report) == dict.fromkeys(CHECKS, "ok"), render([report])
    assert not report.failed
    sent = [r.body for r in fake.requests if r.method == "POST"]
    # What `run` would send: the translator's token field, stream usage, the forced tool, reasoning effort.
    assert all("max_completion_tokens" in body for body in sent)
    assert sent[1]["stream_options"] == {"include_usage": True}
    assert sent[2]["tool_choice"] == {"type": "function", "function": {"name": "record_answer"}}
    assert sent[3]["messages"][-1]["role"] == "tool", "the tool call's result goes back"
    assert sent[4]["reasoning_effort"] == "low"
    assert all(r.headers["authorization"] == f"Bearer {KEYS['FAKE_KEY']}" for r in fake.requests)
    context = next(c for c in report.checks if c.name == "context")
    assert context.detail == "200,000 tokens"


def test_each_mistake_is_reported_with_the_providers_words_and_its_fix(fake: FakeUpstream) -> None:
    reports = {r.target: r for r in run_doctor(table_for(fake.url))}
    failures = {(r.target, c.name): c for r in reports.values() for c in r.checks if c.status == "FAIL"}
    assert set(failures) == {
        ("small", "tools"),
        ("old", "request"),
        ("missing", "request"),
        ("rejected", "request"),
        ("ctx", "context"),
    }
    assert statuses(reports["small"]) == {
        **dict.fromkeys(CHECKS, "ok"),
        "tools": "FAIL",
        "reasoning": "skip",  # the model takes no reasoning parameter
        "context": "skip",  # the server does not list it
    }
    assert statuses(reports["old"])["stream"] == "skip", "after a failed request nothing more is spent"

    old = failures[("old", "request")]
    assert MAX_COMPLETION_TOKENS_REFUSED in old.detail and old.detail.startswith("HTTP 400")
    assert "api_version 2024-06-01 is too old for max_completion_tokens" in old.fix
    missing = failures[("missing", "request")]
    assert missing.detail.startswith("HTTP 404 not_found_error: azure: deployment 'missing' not found")
    assert "no deployment named 'missing'" in missing.fix
    rejected = failures[("rejected", "request")]
    assert rejected.detail.startswith(
        "HTTP 401 authentication_error: badkey: Incorrect API key provided: ***"
    )
    assert rejected.fix == "the provider rejected the key: check ${BAD_KEY}"
    tools = failures[("small", "tools")]
    assert "does not support tools" in tools.detail
    assert "route it to a model that does" in tools.fix
    ctx = failures[("ctx", "context")]
    assert "add capabilities: {context: 32768}" in ctx.fix


def test_the_command_says_it_spends_tokens_prints_the_table_and_fails_on_any_failure(
    fake: FakeUpstream, tmp_path: Path
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(config(fake.url))
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **KEYS}

    def doctor(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "claude_any", "doctor", str(path), *args]
        return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)

    everything = doctor()
    assert everything.returncode == 1, everything.stderr
    out = everything.stdout
    assert out.splitlines()[0].startswith(
        "claude-any doctor: checks each target live, with a few small requests"
    )
    header = out.splitlines()[1].split()
    assert header == ["target", "provider/model", *CHECKS]
    assert "rejected (badkey/gpt-4o) request: HTTP 401" in out
    assert "  fix: the provider rejected the key: check ${BAD_KEY}" in out
    assert "5 of 6 targets failed" in out
    for value in KEYS.values():
        assert value not in out + everything.stderr
        assert value[: len(value) // 2] not in out + everything.stderr
    assert "Traceback" not in everything.stderr

    one = doctor("--target", "large")
    assert one.returncode == 0, one.stdout + one.stderr
    assert "all 1 targets ok" in one.stdout

    unknown = doctor("--target", "nope")
    assert unknown.returncode == 2
    assert "no target 'nope'" in unknown.stderr


def test_a_credential_that_cannot_be_had_is_the_first_failure_with_what_to_run(
    upstream: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    az = FakeAzureCli(tmp_path / "bin", monkeypatch)
    az.log_out()
    result = compile_text(
        "providers:\n"
        f"  azure: {{auth: entra, endpoint: {upstream.url}, api_version: 2024-10-21,\n"
        "          models: {team-gpt4o: {base_model: gpt-4o}}}\n"
        "model_categories: {large: azure/team-gpt4o, small: azure/team-gpt4o}\n",
        "config.yaml",
    )
    assert result.table is not None
    [report] = run_doctor(result.table, "large", env={})
    credential = report.checks[0]
    assert (credential.name, credential.status) == ("credential", "FAIL")
    assert "AzureCliCredential" in credential.detail
    assert "az login" in credential.fix
    assert [c.status for c in report.checks[1:]] == ["skip"] * (len(CHECKS) - 1)
    assert upstream.requests == []

    az.hand_out(("entra-token-1", time.time() + 3600))
    upstream.responder = provider
    [healthy] = run_doctor(result.table, "large", env={})
    assert healthy.checks[0].detail == "Entra ID token via azure-identity"
    assert statuses(healthy)["request"] == "ok"
    assert upstream.requests[0].headers["authorization"] == "Bearer entra-token-1"
