"""`auth:` on Azure and Databricks providers: what each way takes, what it refuses, and the identity library
it needs (an optional extra), all reported at the config's line and column."""

from __future__ import annotations

import sys

import pytest

from claude_any.compiler import CompileResult, compile_text
from claude_any.runtime.call.targets import StartupError
from claude_any.runtime.serve.app import create_app

CATEGORIES = "model_categories: {large: P/team-gpt4o, small: P/team-gpt4o}\n"


def compiled(provider_line: str, name: str = "azure") -> CompileResult:
    return compile_text(f"providers:\n  {name}: {provider_line}\n" + CATEGORIES.replace("P", name), "c.yaml")


def errors(result: CompileResult) -> list[str]:
    return [d.render() for d in result.diagnostics if d.level == "error"]


AZURE = "endpoint: r.openai.azure.com, api_version: 2024-10-21, models: {team-gpt4o: {base_model: gpt-4o}}"


def test_azure_entra_needs_no_key_and_is_written_to_routes_json() -> None:
    result = compiled(f"{{auth: entra, {AZURE}}}")
    assert errors(result) == []
    assert result.table is not None
    settings = result.table.providers["azure"].settings
    assert settings["auth"] == "entra"
    assert settings["api_key"] is None and settings["client_id"] is None


def test_azure_entra_with_a_user_assigned_identity() -> None:
    result = compiled(f"{{auth: entra, client_id: ${{AZURE_CLIENT_ID}}, {AZURE}}}")
    assert errors(result) == []
    assert result.table is not None
    assert result.table.providers["azure"].settings["client_id"] == "${AZURE_CLIENT_ID}"


def test_a_key_is_still_the_default_and_its_absence_names_the_alternative() -> None:
    assert errors(compiled(f"{{{AZURE}}}")) == [
        "c.yaml:2:3: error: providers.azure: missing required key 'api_key' "
        "(or auth: entra for an Entra ID token via azure-identity)"
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            f"{{auth: entra, api_key: ${{AZURE_KEY}}, {AZURE}}}",
            "c.yaml:2:33: error: providers.azure.api_key: is used only with auth: key, and this provider's "
            "auth is entra: remove it, or set auth: key",
        ),
        (
            f"{{client_id: abc, api_key: ${{AZURE_KEY}}, {AZURE}}}",
            "c.yaml:2:22: error: providers.azure.client_id: is used only with auth: entra, and this "
            "provider's auth is key: remove it, or set auth: entra",
        ),
        (
            f"{{auth: entr, {AZURE}}}",
            "c.yaml:2:17: error: providers.azure.auth: expected 'key' or 'entra', got 'entr'; did you mean "
            "'entra'?",
        ),
    ],
    ids=["key-with-entra", "client-id-with-key", "unknown-auth"],
)
def test_settings_of_another_auth_are_refused_at_their_position(line: str, message: str) -> None:
    assert errors(compiled(line)) == [message]


DATABRICKS = "host: adb-1.2.azuredatabricks.net"


def test_databricks_oauth_takes_client_credentials_a_profile_or_nothing() -> None:
    for extra in (
        "client_id: ${DBX_ID}, client_secret: ${DBX_SECRET}",
        "profile: team",
        "",
    ):
        line = f"{{auth: oauth, {DATABRICKS}{', ' + extra if extra else ''}}}"
        assert errors(compiled(line, "databricks")) == [], line


def test_databricks_client_id_and_secret_go_together() -> None:
    assert errors(compiled(f"{{auth: oauth, client_id: ${{DBX_ID}}, {DATABRICKS}}}", "databricks")) == [
        "c.yaml:2:40: error: providers.databricks.client_id: needs 'client_secret' too (or neither, to let "
        "the identity library find its credentials)"
    ]


def test_a_literal_client_secret_is_a_warning_naming_the_variable() -> None:
    result = compiled(
        f"{{auth: oauth, client_id: x, client_secret: dose-secret-1, {DATABRICKS}}}", "databricks"
    )
    warnings = [d.render() for d in result.diagnostics if d.level == "warning"]
    assert any("use ${DATABRICKS_CLIENT_SECRET} instead" in w for w in warnings), warnings
    assert not any("dose-secret-1" in w for w in warnings)


@pytest.mark.parametrize(
    ("module", "line", "name", "install"),
    [
        ("azure.identity.aio", f"{{auth: entra, {AZURE}}}", "azure", "pip install 'claude-any[azure]'"),
        (
            "databricks.sdk",
            f"{{auth: oauth, {DATABRICKS}}}",
            "databricks",
            "pip install 'claude-any[databricks]'",
        ),
    ],
)
def test_a_missing_identity_library_is_a_compile_error_and_a_start_up_error(
    monkeypatch: pytest.MonkeyPatch, module: str, line: str, name: str, install: str
) -> None:
    table = compiled(line, name).table
    assert table is not None
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now fails, as when not installed
    result = compiled(line, name)
    assert result.table is None
    [error] = errors(result)
    assert error.startswith(f"c.yaml:2:{len(name) + 12}: error: providers.{name}.auth: auth: ")
    assert error.endswith(f"which is not installed: {install}")
    with pytest.raises(StartupError, match=install.replace("[", r"\[").replace("]", r"\]")):
        create_app(table, {})  # a routes.json compiled where the library was installed
