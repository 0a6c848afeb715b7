"""`claude-any explain`: the text a user reads, fixed by snapshots for every example and several requests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from loopback import FIXTURES
from syrupy.assertion import SnapshotAssertion

from claude_any.cli import main
from claude_any.compiler import compile_config, compile_text
from claude_any.explain import ExplainError, explain
from claude_any.table import RoutingTable

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _in_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    # Positions in the output name the config as given: relative paths keep snapshots machine-independent.
    monkeypatch.chdir(ROOT)


def _table(name: str) -> RoutingTable:
    result = compile_config(f"examples/{name}.yaml")
    assert result.table is not None, [d.render() for d in result.diagnostics]
    return result.table


def _explain(table: RoutingTable, model: str, **kwargs: Any) -> tuple[str, bool]:
    return explain(table, model=model, source="config.yaml", **kwargs)


@pytest.mark.parametrize(
    "example", ["quickstart", "openai", "azure", "databricks", "local", "mixed", "gateway"]
)
@pytest.mark.parametrize("model", ["claude-sonnet-4-6", "claude-haiku-4-5"])
def test_every_example(example: str, model: str, snapshot: SnapshotAssertion) -> None:
    text, routable = _explain(_table(example), model)
    assert routable
    assert text == snapshot


MIXED_CASES: dict[str, dict[str, Any]] = {
    "long-context": {"model": "claude-sonnet-4-6", "tokens": 200_000},
    "opus-thinking": {"model": "claude-opus-4-8", "thinking": True},
    "high-effort": {"model": "claude-opus-5-5", "effort": "high"},
    "subagent": {"model": "claude-opus-5-5", "preset": "claude-code-subagent"},
    "background": {"model": "claude-opus-5-5", "preset": "claude-code-background"},
    "fable": {"model": "claude-fable-5-2"},
    "listed-id": {"model": "claude-any/deep"},
    "plain-request": {"model": "claude-sonnet-4-6", "preset": "plain"},
    "image": {"model": "claude-sonnet-4-6", "image": True},
    "web-search-tool": {"model": "claude-sonnet-4-6", "tools": ["WebSearch", "Bash"]},
    "header-rule": {"model": "claude-opus-4-8", "headers": ["X-Project=secret-sauce"]},
    "category-by-name": {"model": "deep"},
    "provider-model-by-name": {"model": "openai/gpt-4o-mini", "no_stream": True},
    "one-m-suffix": {"model": "claude-sonnet-4-6[1m]"},
}


@pytest.mark.parametrize("case", sorted(MIXED_CASES))
def test_mixed_fact_combinations(case: str, snapshot: SnapshotAssertion) -> None:
    args = dict(MIXED_CASES[case])
    model = args.pop("model")
    stream = not args.pop("no_stream", False)
    text, routable = _explain(_table("mixed"), model, stream=stream, **args)
    assert routable
    assert text == snapshot


def test_unroutable_model_says_why(snapshot: SnapshotAssertion) -> None:
    text, routable = _explain(_table("openai"), "gpt-9")
    assert not routable
    assert "not routable: model 'gpt-9' matches no route" in text
    assert text == snapshot


def test_literal_secrets_are_redacted() -> None:
    config = """
providers:
  openai: {api_key: sk-literal-secret-0123456789, organization: org-1}
  azure: {api_key: azure-literal-secret-42, endpoint: res.openai.azure.com, api_version: 2024-10-21}
model_categories:
  large: openai/gpt-4o
  small: azure/mini
"""
    result = compile_text(config, "secret.yaml")
    assert result.table is not None
    for model in ("claude-sonnet-4-6", "claude-haiku-4-5"):
        text, _ = _explain(result.table, model)
        assert "sk-literal-secret-0123456789" not in text
        assert "azure-literal-secret-42" not in text
        assert "***" in text


def test_request_file_from_claude_code(tmp_path: Path) -> None:
    fixture = FIXTURES / "cc_tool_turn2_with_tool_result.json"
    text, routable = _explain(_table("mixed"), "claude-opus-4-8", request_file=str(fixture))
    assert routable
    body = json.loads(fixture.read_text())
    assert f"tools = [{json.dumps(body['tools'][0]['name'])}" in text
    assert "thinking = true" in text
    assert 'chosen: default: sonnet/opus: family == "sonnet" or family == "opus"' in text  # effort medium
    assert "tools: " in text  # the deferred placeholder tool is dropped, and explain says so


CLAUDE_CODE_MODELS = ["claude-opus-5-5", "claude-sonnet-5-5", "claude-haiku-5-5", "claude-fable-5-2"]


@pytest.mark.parametrize("example", sorted(p.stem for p in (ROOT / "examples").glob("*.yaml")))
def test_no_example_sends_claude_codes_everyday_traffic_by_a_rule(example: str) -> None:
    # Claude Code asks for adaptive thinking on every turn: a rule on `thinking` would take all of its
    # traffic (two examples did, to a reasoning model). Its everyday turns, its housekeeping, each family,
    # must reach the categories the defaults choose.
    table = _table(example)
    for model in CLAUDE_CODE_MODELS:
        turn, _ = _explain(table, model)
        expected = "default: haiku" if "haiku" in model else "default: sonnet/opus"
        if "fable" in model:
            expected = "default: other Claude models"
        assert f"chosen: {expected}:" in turn, (model, turn)
        background, _ = _explain(table, model, preset="claude-code-background")
        assert "chosen: default: background: background" in background, (model, background)


def test_request_file_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"model": ')
    with pytest.raises(ExplainError, match=r"broken.json:1:\d+: not valid JSON"):
        _explain(_table("openai"), "claude-sonnet-4-6", request_file=str(broken))
    with pytest.raises(ExplainError, match="cannot read"):
        _explain(_table("openai"), "claude-sonnet-4-6", request_file=str(tmp_path / "missing.json"))
    listed = tmp_path / "list.json"
    listed.write_text("[]")
    with pytest.raises(ExplainError, match="expected an Anthropic Messages request"):
        _explain(_table("openai"), "claude-sonnet-4-6", request_file=str(listed))


def test_cli_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    config = "examples/openai.yaml"
    assert main(["explain", "claude-sonnet-4-6", "--config", config]) == 0
    assert "chosen:" in capsys.readouterr().out
    assert main(["explain", "gpt-9", "--config", config]) == 2
    assert "not routable" in capsys.readouterr().out
    assert main(["explain", "claude-sonnet-4-6", "--config", config, "--header", "novalue"]) == 2
    assert "expected NAME=VALUE" in capsys.readouterr().err


def test_claude_code_settings_for_small_targets() -> None:
    config = """
providers:
  local: {kind: openai, base_url: http://127.0.0.1:11434/v1}
model_categories:
  large: {target: local/qwen3-coder, capabilities: {context: 65536, max_output: 8192}}
  small: local/llama3.2
"""
    result = compile_text(config, "small.yaml")
    assert result.table is not None
    text, _ = _explain(result.table, "claude-sonnet-4-6")
    # Under Claude Code's 100k compaction minimum: only the window of unrecognised model ids is set.
    assert "start Claude Code with\n" in text
    assert "CLAUDE_CODE_MAX_CONTEXT_TOKENS=65536 CLAUDE_CODE_MAX_OUTPUT_TOKENS=8192" in text
    assert "CLAUDE_CODE_AUTO_COMPACT_WINDOW" not in text


def test_tools_without_reasoning_on_chat_is_explained() -> None:
    config = """
providers:
  openai: {api_key: ${OPENAI_API_KEY}}
model_categories:
  large: openai/gpt-5-pro
  small: openai/gpt-5.4-mini
"""
    result = compile_text(config, "responses.yaml")
    assert result.table is not None
    text, _ = _explain(result.table, "claude-haiku-4-5", tools=["Bash"])
    assert 'reasoning_effort: "none" (with tools, Chat Completions takes no reasoning' in text
    text, _ = _explain(result.table, "claude-opus-4-8", tools=["Bash"], thinking=True)
    assert "api responses (automatic: gpt-5-pro is Responses-only)" in text
    assert "POST https://api.openai.com/v1/responses" in text
