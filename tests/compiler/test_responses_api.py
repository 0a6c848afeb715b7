"""`api: responses` and the automatic choice of the Responses API for Responses-only models."""

from __future__ import annotations

from claude_any import provider_templates
from claude_any.compiler import CompileResult, compile_text
from claude_any.explain import explain
from claude_any.runtime.route.router import Router
from claude_any.table import RoutingTable

CATEGORIES = """\
model_categories:
  large: openai/gpt-5-pro
  small: openai/gpt-4.1-mini
"""


def compiled(text: str) -> CompileResult:
    return compile_text(text, "t.yaml")


def table_of(text: str) -> RoutingTable:
    result = compiled(text)
    assert [d.render() for d in result.errors] == []
    assert result.table is not None
    return result.table


def url(table: RoutingTable, target_id: str) -> tuple[str, str]:
    target = table.targets[target_id]
    request = provider_templates.describe(table.providers[target.provider], target)
    return request["protocol"], request["url"]


def test_unset_api_chooses_responses_for_responses_only_models_only() -> None:
    table = table_of("providers:\n  openai: {api_key: ${OPENAI_API_KEY}}\n" + CATEGORIES)
    assert table.providers["openai"].api == "chat"  # the provider keeps what was written (nothing)
    assert (table.targets["large"].api, table.targets["small"].api) == ("responses", "chat")
    assert url(table, "large") == ("responses", "https://api.openai.com/v1/responses")
    assert url(table, "small") == ("chat", "https://api.openai.com/v1/chat/completions")
    assert '"api": "responses"' in table.dumps()


def test_explicit_chat_with_a_responses_only_model_is_an_error() -> None:
    result = compiled("providers:\n  openai: {api_key: ${OPENAI_API_KEY}, api: chat}\n" + CATEGORIES)
    (error,) = [d.render() for d in result.errors]
    assert error.startswith("t.yaml:4:10: error: large: gpt-5-pro is only served by the Responses API")
    assert "remove `api: chat` from providers.openai" in error


def test_explicit_responses_applies_to_every_model_of_the_provider() -> None:
    table = table_of("providers:\n  openai: {api_key: ${OPENAI_API_KEY}, api: responses}\n" + CATEGORIES)
    assert {t.api for t in table.targets.values()} == {"responses"}


def test_azure_uses_the_v1_responses_url_with_the_deployment_as_model() -> None:
    table = table_of(
        "providers:\n"
        "  azure: {api_key: ${AZ}, endpoint: res.openai.azure.com, api_version: 2024-10-21, api: responses}\n"
        "model_categories:\n"
        "  large: {target: azure/prod-gpt5, base_model: gpt-5}\n"
        "  small: {target: azure/mini, base_model: gpt-4.1-mini}\n"
    )
    target = table.targets["large"]
    request = provider_templates.describe(table.providers["azure"], target)
    assert (request["protocol"], request["url"]) == (
        "responses",
        "https://res.openai.azure.com/openai/v1/responses",
    )
    assert request["body"] == {"model": "prod-gpt5"}


def test_databricks_openai_endpoints_use_serving_endpoints_responses_and_claude_stays_native() -> None:
    table = table_of(
        "providers:\n"
        "  databricks: {token: ${DB}, host: adb-1.2.azuredatabricks.net, api: responses}\n"
        "model_categories:\n"
        "  large: databricks/databricks-gpt-5-4\n"
        "  small: databricks/databricks-claude-haiku-4-5\n"
    )
    assert url(table, "large") == (
        "responses",
        "https://adb-1.2.azuredatabricks.net/serving-endpoints/responses",
    )
    assert url(table, "small")[0] == "anthropic"


def test_kinds_without_a_responses_api_refuse_it() -> None:
    result = compiled(
        "providers:\n"
        "  anthropic: {api_key: ${ANTHROPIC_API_KEY}, api: responses}\n"
        "  echo: {}\n"
        "model_categories:\n  large: echo/gpt-5-pro\n  small: echo/small\n"
    )
    (error,) = [d.render() for d in result.errors]
    assert "providers.anthropic.api: anthropic providers have no Responses API" in error
    # echo answers in-process whatever the model: a Responses-only name is fine there.
    fine = table_of("providers:\n  echo: {}\nmodel_categories:\n  large: echo/gpt-5-pro\n  small: echo/x\n")
    assert fine.targets["large"].api == "chat"


def test_ad_hoc_targets_get_the_api_too() -> None:
    table = table_of("providers:\n  openai: {api_key: ${OPENAI_API_KEY}}\n" + CATEGORIES)
    router = Router(table)
    assert router.ad_hoc_target("openai/gpt-5.1-codex").api == "responses"
    assert router.ad_hoc_target("openai/gpt-4o").api == "chat"


def test_explain_says_why_the_api_was_chosen() -> None:
    table = table_of("providers:\n  openai: {api_key: ${OPENAI_API_KEY}}\n" + CATEGORIES)
    text, routable = explain(
        table, model="claude-opus-4-6", source="t.yaml", thinking=True, tools=["Read"], preset="plain"
    )
    assert routable
    assert "provider   openai (kind openai, api responses (automatic: gpt-5-pro is Responses-only))" in text
    assert "request    POST https://api.openai.com/v1/responses" in text
    assert "change     max_tokens -> max_output_tokens: 32,000" in text
    assert 'change     thinking/effort -> reasoning.effort: "high"' in text
    text, _ = explain(table, model="claude-haiku-4-5", source="t.yaml")
    assert "(kind openai, api chat)" in text
