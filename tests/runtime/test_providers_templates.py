"""provider_templates: each kind's URL/headers/body, user templates, a config's own kind template, check()
and describe() redaction."""

from __future__ import annotations

from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion

from claude_any import provider_templates as pt
from claude_any.secrets import MissingVariable
from claude_any.table import KindTemplate, Provider, Target, empty_params

ENV = {"OPENAI_API_KEY": "sk-live-123", "AZ": "az-live-456", "DB": "dapi-live-789", "ANT": "sk-ant-live"}


def tgt(model: str, **params: Any) -> Target:
    return Target("t", "p", model, model, {}, {**empty_params(), **params})


OPENAI = Provider(
    "openai",
    "openai",
    "chat",
    {"api_key": "${OPENAI_API_KEY}", "base_url": "https://api.openai.com/v1", "organization": "org-42"},
)
LOCAL = Provider("local", "openai", "chat", {"api_key": None, "base_url": "http://127.0.0.1:11434/v1"})
AZURE = Provider(
    "azure",
    "azure",
    "chat",
    {"api_key": "${AZ}", "endpoint": "https://res.openai.azure.com", "api_version": "2024-10-21"},
)
DATABRICKS = Provider(
    "databricks", "databricks", "chat", {"token": "${DB}", "host": "https://adb-1.2.azuredatabricks.net"}
)
ANTHROPIC = Provider(
    "claude", "anthropic", "chat", {"api_key": "${ANT}", "base_url": "https://api.anthropic.com"}
)
ECHO = Provider("echo", "echo", "chat", {})

CASES = {
    "openai": (OPENAI, tgt("gpt-4o")),
    "openai_compatible_without_key": (LOCAL, tgt("llama3.1:8b")),
    "azure_deployment": (AZURE, tgt("gpt-4o-prod")),
    "azure_v1": (
        Provider("azure", "azure", "chat", {**AZURE.settings, "api_version": "v1"}),
        tgt("gpt-5-prod"),
    ),
    "azure_preview": (
        Provider("azure", "azure", "chat", {**AZURE.settings, "api_version": "preview"}),
        tgt("gpt-5-prod"),
    ),
    "databricks": (DATABRICKS, tgt("databricks-gpt-5-4")),
    "databricks_claude_native": (DATABRICKS, tgt("databricks-claude-sonnet-4-5")),
    "anthropic": (ANTHROPIC, tgt("claude-sonnet-4-5")),
    "echo": (ECHO, tgt("echo-1")),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_describe_each_kind(case: str, snapshot: SnapshotAssertion) -> None:
    provider, target = CASES[case]
    assert pt.check(provider, target) == []
    assert pt.describe(provider, target) == snapshot


@pytest.mark.parametrize("case", sorted(CASES))
def test_compiled_requests_carry_resolved_secrets_and_describe_never_does(case: str) -> None:
    provider, target = CASES[case]
    compiled = pt.compile_target(provider, target, env=ENV)
    described = pt.describe(provider, target)
    assert compiled.url == described["url"]
    assert compiled.body_extras == described["body"]
    for secret in ENV.values():
        assert secret not in repr(described)
    uses = [name for name in ENV if f"${{{name}}}" in repr(provider.settings)]
    for name in uses:
        assert ENV[name] in repr(compiled.headers)


def test_azure_urls() -> None:
    classic = pt.compile_target(AZURE, tgt("my deploy"), env=ENV)
    assert classic.url == (
        "https://res.openai.azure.com/openai/deployments/my%20deploy/chat/completions?api-version=2024-10-21"
    )
    assert classic.headers == {"api-key": "az-live-456"}
    assert "model" not in classic.body_extras
    v1 = pt.compile_target(*CASES["azure_v1"], env=ENV)
    assert v1.url == "https://res.openai.azure.com/openai/v1/chat/completions"
    assert v1.body_extras == {"model": "gpt-5-prod"}


def test_openai_compatible_sends_no_auth_without_a_key() -> None:
    assert pt.compile_target(LOCAL, tgt("qwen3"), env=ENV).headers == {}


def test_user_headers_and_body_are_templates_merged_after_the_kind() -> None:
    provider = Provider(
        "openai",
        "openai",
        "chat",
        OPENAI.settings,
        headers={"X-Team": "{{ provider }}-{{ model }}", "authorization": "Bearer ${OTHER}"},
        body={"metadata": {"route": "{{ target }} via {{ protocol }}"}, "n": 1},
    )
    target = tgt("gpt-4o", headers={"X-Team": "override"}, body={"user": "u-{{ api }}"})
    env = {**ENV, "OTHER": "other-secret"}
    prepared = pt.compile_target(provider, target, env=env)
    # Header names are case-insensitive: the user's `authorization` replaces the template's one.
    assert prepared.headers == {
        "OpenAI-Organization": "org-42",
        "authorization": "Bearer other-secret",
        "X-Team": "override",
    }
    assert prepared.body_extras == {"metadata": {"route": "t via chat"}, "n": 1, "user": "u-chat"}


def test_a_secret_is_never_evaluated_as_jinja() -> None:
    provider = Provider("openai", "openai", "chat", OPENAI.settings, headers={"X-Key": "${WEIRD}"})
    compiled = pt.compile_target(provider, tgt("gpt-4o"), env={**ENV, "WEIRD": "{{ 7 * 7 }}"})
    assert compiled.headers["X-Key"] == "{{ 7 * 7 }}"


def test_missing_variable() -> None:
    with pytest.raises(MissingVariable) as info:
        pt.compile_target(OPENAI, tgt("gpt-4o"), env={})
    assert info.value.name == "OPENAI_API_KEY"


def test_describe_redacts_literal_secrets_and_sensitive_user_headers() -> None:
    provider = Provider(
        "openai",
        "openai",
        "chat",
        {**OPENAI.settings, "api_key": "sk-pasted-literal"},
        headers={"X-Api-Key": "literal-key", "X-Token": "${TOKEN_VAR}", "X-Team": "blue"},
    )
    described = pt.describe(provider, tgt("gpt-4o"))
    assert described["headers"] == {
        "Authorization": "Bearer ***",
        "OpenAI-Organization": "org-42",
        "X-Api-Key": "***",
        "X-Token": "${TOKEN_VAR}",
        "X-Team": "blue",
    }
    assert "literal" not in repr(described)


@pytest.mark.parametrize(
    ("provider", "message"),
    [
        (
            Provider("p", "openai", "chat", OPENAI.settings, headers={"X": "{{ nope }}"}),
            "providers.p.headers.X: 'nope' is undefined",
        ),
        (
            Provider("p", "openai", "chat", OPENAI.settings, headers={"X": "{{ unclosed"}),
            "providers.p.headers.X: unexpected end of template",
        ),
        (Provider("p", "openai", "chat", OPENAI.settings, body={"a": ["{{ x.y }}"]}), "p.body.a[0]"),
        (Provider("p", "openai", "chat", {"base_url": "ftp://x"}), "url must be http:// or https://"),
        (
            Provider("p", "openai", "chat", OPENAI.settings, headers={"Bad Name": "x"}),
            "not a valid HTTP header",
        ),
        (Provider("p", "openai", "chat", OPENAI.settings, headers={"X": "a\nb"}), "single line"),
        (
            Provider("p", "azure", "chat", {"api_key": "k"}),
            "providers.p (azure kind) (line 7): 'dict object' has no attribute",
        ),
        (Provider("p", "nosuch", "chat", {}), "unknown provider kind"),
        (
            Provider("p", "openai", "chat", OPENAI.settings, headers={"X": "{{ ''.__class__.__mro__ }}"}),
            "unsafe",
        ),
        (Provider("p", "template", "chat", {}), "a `kind: template` provider needs `template:`"),
    ],
)
def test_check_reports_template_errors(provider: Provider, message: str) -> None:
    problems = [str(problem) for problem in pt.check(provider, tgt("m"))]
    assert len(problems) == 1, problems
    assert message in problems[0]
    assert problems[0].startswith("providers.p")


def test_check_reports_every_problem_not_only_the_first() -> None:
    provider = Provider("p", "openai", "chat", OPENAI.settings, headers={"A": "{{ a }}", "B": "{{ b }}"})
    target = tgt("m", body={"c": "{{ c }}"})
    assert [e.where for e in pt.check(provider, target)] == [
        "providers.p.headers.A",
        "providers.p.headers.B",
        "model_categories.t.body.c",
    ]


def test_check_accepts_a_url_made_of_a_reference() -> None:
    provider = Provider("p", "openai", "chat", {"api_key": None, "base_url": "${LOCAL_URL}"})
    assert pt.check(provider, tgt("m")) == []


# --- a config's own kind --------------------------------------------------------------------------------

INHOUSE = """\
{#- An in-house gateway: its own auth header, the model in the path. -#}
{% set _base = settings.base_url ~ "/models/" ~ model | segment %}
{% set url = _base ~ ("/chat" if protocol == "chat" else "/messages") %}
{% set headers = {"X-Gateway-Key": settings.key, "X-Team": settings.get("team") or none} %}
{% set body = {"user": provider} %}
"""


def own_kind(source: str = INHOUSE, api: str = "chat", **settings: Any) -> Provider:
    values = {"base_url": "https://gw.internal", "key": "${GW_KEY}", **settings}
    return Provider("inhouse", "template", api, values, template=KindTemplate("inhouse.j2", source))


def test_a_config_brings_its_own_kind() -> None:
    prepared = pt.compile_target(own_kind(team="blue"), tgt("llama/3"), env={"GW_KEY": "gw-live-1"})
    assert prepared.protocol == "chat"
    assert prepared.url == "https://gw.internal/models/llama%2F3/chat"
    assert prepared.headers == {"X-Gateway-Key": "gw-live-1", "X-Team": "blue"}
    assert prepared.body_extras == {"user": "inhouse"}
    described = pt.describe(own_kind(key="literal-key"), tgt("m"))
    assert described["headers"] == {"X-Gateway-Key": "***"}  # `key` looks like a credential: redacted


def test_its_api_chooses_the_protocol() -> None:
    prepared = pt.compile_target(own_kind(api="anthropic"), tgt("m"), env={"GW_KEY": "k"})
    assert (prepared.protocol, prepared.url) == ("anthropic", "https://gw.internal/models/m/messages")


@pytest.mark.parametrize(
    ("source", "message", "line"),
    [
        ('{% set url = "https://x" %}{% set heders = {} %}', "sets 'heders'", None),
        ("{% set headers = {} %}", "must set `url` to a string", None),
        ('{% set url = "https://x" %}\n{% set headers = {"A": 1} %}', "`headers` must be a mapping", None),
        ('{% set url = "https://x" %}\n{% set body = settings.nope %}', "has no attribute 'nope'", None),
        ('{% set url = "https://x" %}\n\n{{ settings.nope.x }}', "has no attribute 'nope'", 3),
        ('{% set url = "https://x" %}\n{% include "other.j2" %}', "`{% include %}` is not allowed", 2),
    ],
)
def test_its_mistakes_name_the_template_line(source: str, message: str, line: int | None) -> None:
    (problem,) = pt.check(own_kind(source), tgt("m"))
    assert problem.where == "providers.inhouse.template"
    assert problem.file == "inhouse.j2"
    assert message in problem.message
    assert problem.line == line


def test_runtime_errors_never_show_a_resolved_secret() -> None:
    source = '{% set url = {"a": "https://x"}[settings.key] %}'  # Jinja names the missing key
    with pytest.raises(pt.TemplateError) as info:
        pt.compile_target(own_kind(source), tgt("m"), env={"GW_KEY": "gw-secret-value"})
    assert str(info.value) == "providers.inhouse.template: 'dict object' has no attribute '***'"


# --- model names in URLs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "segment"),
    [
        ("az/../../../admin/x", "az%2F..%2F..%2F..%2Fadmin%2Fx"),
        ("a?b=c#d", "a%3Fb%3Dc%23d"),
        ("a%2Fb", "a%252Fb"),
        ("deploy name", "deploy%20name"),
    ],
)
def test_a_model_name_is_one_path_segment(model: str, segment: str) -> None:
    prepared = pt.compile_target(AZURE, tgt(model), env=ENV)
    assert prepared.url == (
        f"https://res.openai.azure.com/openai/deployments/{segment}/chat/completions?api-version=2024-10-21"
    )


@pytest.mark.parametrize("model", [".", ".."])
def test_a_model_name_that_is_a_dot_segment_is_refused(model: str) -> None:
    (problem,) = pt.check(AZURE, tgt(model))
    assert f"{model!r} cannot be a URL path segment" in problem.message
