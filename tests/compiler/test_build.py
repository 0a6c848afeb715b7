"""Targets, capability overrides, chains and defaults in the built table."""

from __future__ import annotations

import pytest

from claude_any.compiler import CompileResult, compile_text
from claude_any.grammar import parse, to_json
from claude_any.table import RoutingTable

BASE = """\
providers:
  openai:
    api_key: ${OPENAI_API_KEY}
    models:
      team-model: {base_model: gpt-4o, capabilities: {max_output: 4000, context: 64000}}
model_categories:
  large: {target: openai/team-model, capabilities: {max_output: 1000}}
  small: {target: openai/team-model, base_model: o3, max_tokens: 512, headers: {X-Team: a}, body: {user: x}}
  long: openai/gpt-4.1
"""


def table_of(text: str) -> RoutingTable:
    result: CompileResult = compile_text(text, "t.yaml")
    assert [d.render() for d in result.errors] == []
    assert result.table is not None
    return result.table


def test_capabilities_merge_lookup_then_provider_models_then_category() -> None:
    table = table_of(BASE)
    large = table.targets["large"]
    assert (large.model, large.base_model) == ("team-model", "gpt-4o")
    assert large.capabilities["family"] == "gpt-4o"  # looked up with the provider's base_model
    assert large.capabilities["context"] == 64000  # provider models: override
    assert large.capabilities["max_output"] == 1000  # category override wins


def test_category_base_model_beats_the_provider_map_and_params_are_kept() -> None:
    small = table_of(BASE).targets["small"]
    assert small.base_model == "o3"
    assert small.capabilities["reasoning"] is True
    assert small.params == {
        "reasoning_effort": None,
        "max_tokens": 512,
        "temperature": None,
        "headers": {"X-Team": "a"},
        "body": {"user": "x"},
    }


def test_provider_model_targets_are_created_for_routes_and_fallbacks_only() -> None:
    table = table_of(
        BASE
        + "routes:\n  - {when: has_image, to: [openai/gpt-4o, large]}\n"
        + "fallbacks:\n  large: [openai/o3, long]\n  openai/o3: [small]\n  long: [small]\n"
    )
    assert sorted(table.targets) == ["large", "long", "openai/gpt-4o", "openai/o3", "small"]
    assert table.targets["openai/gpt-4o"].params["max_tokens"] is None
    # `to` first, then fallbacks breadth first, each target once (long -> small is not repeated).
    assert table.routes[0].chain == ("openai/gpt-4o", "large", "openai/o3", "long", "small")
    assert table.routes[-1].chain == ("large", "openai/o3", "long", "small")


def test_defaults_come_last_and_use_the_same_parser() -> None:
    table = table_of(BASE + "routes:\n  - when: tokens > 100k\n    to: long\n")
    assert [(r.name, r.origin, r.pos) for r in table.routes[1:]] == [
        ("default: background", "default", None),
        ("default: haiku", "default", None),
        ("default: sonnet/opus", "default", None),
        ("default: other Claude models", "default", None),
    ]
    assert table.routes[2].when == to_json(parse('family == "haiku"'))
    assert [r.chain for r in table.routes[1:]] == [("small",), ("small",), ("large",), ("large",)]
    assert table.routes[0].pos is not None and (table.routes[0].pos.line, table.routes[0].pos.col) == (11, 5)


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("my-res.openai.azure.com", "https://my-res.openai.azure.com"),
        ("https://my-res.openai.azure.com/", "https://my-res.openai.azure.com"),
        ("https://my-res.openai.azure.com/openai", "https://my-res.openai.azure.com"),
        ("https://my-res.openai.azure.com/openai/v1/", "https://my-res.openai.azure.com"),
        ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
        ("${AZURE_OPENAI_ENDPOINT}", "${AZURE_OPENAI_ENDPOINT}"),
    ],
)
def test_azure_endpoint_is_normalised(endpoint: str, expected: str) -> None:
    table = table_of(
        f"providers:\n  azure: {{api_key: ${{K}}, endpoint: '{endpoint}', api_version: v1}}\n"
        "model_categories:\n  large: {target: azure/a, base_model: gpt-4o}\n"
        "  small: {target: azure/b, base_model: gpt-4o-mini}\n"
    )
    assert table.providers["azure"].settings["endpoint"] == expected


@pytest.mark.parametrize("version", ["2024-10-21", "2025-04-01-preview", "v1", "latest", "preview"])
def test_azure_api_versions_accepted(version: str) -> None:
    table = table_of(
        f"providers:\n  azure: {{api_key: ${{K}}, endpoint: r.openai.azure.com, api_version: {version}}}\n"
        "model_categories:\n  large: {target: azure/a, base_model: gpt-4o}\n"
        "  small: {target: azure/b, base_model: gpt-4o-mini}\n"
    )
    assert table.providers["azure"].settings["api_version"] == version


def test_openai_and_anthropic_defaults() -> None:
    table = table_of(
        "providers:\n  openai: {api_key: ${A}, base_url: 'https://proxy.example.com/v1/'}\n"
        "  claude: {kind: anthropic, api_key: ${B}}\n  try: {kind: echo}\n"
        "model_categories:\n  large: claude/claude-sonnet-4-5\n  small: try/x\n"
    )
    assert table.providers["openai"].settings == {
        "api_key": "${A}",
        "base_url": "https://proxy.example.com/v1",
        "organization": None,
    }
    assert table.providers["claude"].settings == {"api_key": "${B}", "base_url": "https://api.anthropic.com"}
    assert table.providers["try"].settings == {}


def test_server_section() -> None:
    table = table_of(
        "server: {host: 0.0.0.0, port: 9000, auth_token: '${TOKEN}'}\n"
        "providers:\n  echo: {kind: echo}\nmodel_categories:\n  large: echo/a\n  small: echo/b\n"
    )
    assert table.server.to_json() == {
        "host": "0.0.0.0",
        "port": 9000,
        "auth_token": "${TOKEN}",
        "max_body_mb": 32,
        "allowed_origins": [],
        "max_connections": 4096,
        "auth_token_pos": {"file": "t.yaml", "line": 1, "col": 49},  # for run's "not set" message
    }


def warnings_of(text: str) -> list[str]:
    result = compile_text(text, "t.yaml")
    assert result.table is not None, [d.render() for d in result.errors]
    return [d.render() for d in result.diagnostics if d.level == "warning"]


UNKNOWN_MODELS = """\
providers:
  openai: {api_key: "${OPENAI_API_KEY}"}
  ollama: {kind: openai, base_url: "http://127.0.0.1:11434/v1"}
  echo: {}
model_categories:
  large: openai/gpt-41
  small: ollama/llama3.2
  known: openai/gpt-4o-2024-08-06
  dated: openai/gpt-4.1-mini
  told: {target: ollama/my-model, capabilities: {context: 32768}}
  stated: {target: openai/team, base_model: gpt-4o}
  typo: {target: openai/team2, base_model: gpt-4oo}
  local: echo/anything
"""


def test_a_model_the_table_does_not_know_is_a_warning_with_the_closest_names_and_what_was_assumed() -> None:
    warnings = warnings_of(UNKNOWN_MODELS)
    assert warnings == [
        "t.yaml:6:10: warning: large: model 'gpt-41' is not in the capability table (closest known: gpt-4, "
        "gpt-4.1, gpt-4o); assumed as for gpt-4: context 8,192, max output 8,192, no images, no reasoning; "
        "fix the name, or describe the model with base_model: or capabilities:",
        "t.yaml:7:10: warning: small: model 'llama3.2' is not in the capability table (closest known: "
        "llama-3.3); assumed the defaults: context unknown (explain gives no Claude Code settings), "
        "max output unknown, no images, no reasoning; fix the name, or describe the model with base_model: "
        "or capabilities:",
        "t.yaml:12:18: warning: typo: base_model 'gpt-4oo' is not in the capability table (closest known: "
        "gpt-4o, gpt-4.1); assumed as for gpt-4o: context 128,000, max output 16,384, images, no "
        "reasoning; fix the name, or describe the model with base_model: or capabilities:",
    ]


def test_request_parameters_on_an_anthropic_target_are_said_to_be_unused() -> None:
    """An Anthropic target gets the client's body as it came: a category's max_tokens, temperature or
    reasoning_effort would silently do nothing, so the compiler says so."""
    config = """
providers:
  anthropic: {api_key: "${ANTHROPIC_API_KEY}"}
  openai: {api_key: "${OPENAI_API_KEY}"}
model_categories:
  large: {target: anthropic/claude-sonnet-4-6, max_tokens: 4000, temperature: 0.2, headers: {x-team: a}}
  small: {target: openai/gpt-4.1-mini, max_tokens: 4000}
"""
    result = compile_text(config, "c.yaml")
    assert [d.render() for d in result.diagnostics] == [
        "c.yaml:6:19: warning: large: max_tokens, temperature not applied: requests to an Anthropic target "
        "are passed through as the client sent them (headers: and body: still apply)"
    ]
