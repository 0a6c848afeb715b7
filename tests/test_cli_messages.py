"""What the command says when the user's config, environment or routes.json is wrong, as a new user meets
it: every problem at once, each with its file:line:col, in the user's terms (no Python internals), on any
console; and a routes.json that no longer matches its config is never used silently."""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_process import REPO, assert_no_traceback, claude_any, free_port

MIXED_ENV = {
    "OPENAI_API_KEY": "sk-test-1",
    "AZURE_OPENAI_API_KEY": "az-test-1",
    "DATABRICKS_TOKEN": "dapi-test-1",
    "CLAUDE_ANY_TOKEN": "gw-test-1",
}


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- the environment -------------------------------------------------------------------------------------


def test_run_names_every_unset_variable_at_once_with_its_position(tmp_path: Path) -> None:
    config = shutil.copy(REPO / "examples" / "mixed.yaml", tmp_path / "mixed.yaml")
    result = claude_any("run", str(config), "--port", str(free_port()), home=tmp_path)
    assert_no_traceback(result)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        f"{config}:10:15: error: environment variable CLAUDE_ANY_TOKEN is not set "
        "(used by server.auth_token)",
        f"{config}:13:3: error: environment variable OPENAI_API_KEY is not set "
        "(used by providers.openai.api_key)",
        f"{config}:14:3: error: environment variable AZURE_OPENAI_API_KEY is not set "
        "(used by providers.azure.api_key)",
        f"{config}:21:3: error: environment variable DATABRICKS_TOKEN is not set "
        "(used by providers.databricks.token)",
        "claude-any: error: 4 environment variables not set or empty: CLAUDE_ANY_TOKEN, OPENAI_API_KEY, "
        "AZURE_OPENAI_API_KEY, DATABRICKS_TOKEN; nothing started",
    ]


def test_run_refuses_a_set_but_empty_variable_naming_it(tmp_path: Path) -> None:
    config = shutil.copy(REPO / "examples" / "mixed.yaml", tmp_path / "mixed.yaml")
    env = MIXED_ENV | {"OPENAI_API_KEY": ""}
    result = claude_any("run", str(config), "--port", str(free_port()), home=tmp_path, env=env)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        f"{config}:13:3: error: environment variable OPENAI_API_KEY is set but empty "
        "(used by providers.openai.api_key)",
        "claude-any: error: 1 environment variable not set or empty: OPENAI_API_KEY; nothing started",
    ]


def test_a_shell_style_variable_is_an_error_that_suggests_braces(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        "providers:\n"
        "  openai: {api_key: $OPENAI_API_KEY}\n"
        "model_categories: {large: openai/gpt-4.1, small: openai/gpt-4.1-mini}\n",
    )
    result = claude_any("compile", str(config), "-o", str(tmp_path / "routes.json"), home=tmp_path)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        f"{config}:2:21: error: providers.openai.api_key: $OPENAI_API_KEY is not read from the environment, "
        "so these very characters would be sent; write ${OPENAI_API_KEY} to use the variable",
        f"claude-any: error: {config}: 1 error; nothing compiled",
    ]


# --- the config --------------------------------------------------------------------------------------------


def test_a_rule_that_starts_with_a_quote_gets_the_line_to_write(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        "providers: {echo: {}}\n"
        "model_categories: {large: echo/a, small: echo/b}\n"
        "routes:\n"
        '  - when: "Bash" in tools\n'
        "    to: large\n",
    )
    result = claude_any("compile", str(config), "-o", str(tmp_path / "routes.json"), home=tmp_path)
    assert result.returncode == 2
    assert f"{config}:4:18: error: not valid YAML: unexpected text after the value" in result.stderr
    assert "quote the whole expression:\n    - when: '\"Bash\" in tools'\n" in result.stderr

    fixed = write(tmp_path, config.read_text().replace('when: "Bash" in tools', "when: '\"Bash\" in tools'"))
    assert (
        claude_any("compile", str(fixed), "-o", str(tmp_path / "routes.json"), home=tmp_path).returncode == 0
    )


def test_a_model_the_table_does_not_know_is_a_warning(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        'providers: {openai: {api_key: "${OPENAI_API_KEY}"}}\n'
        "model_categories: {large: openai/gpt-41, small: openai/gpt-4.1-mini}\n",
    )
    result = claude_any("compile", str(config), "-o", str(tmp_path / "routes.json"), home=tmp_path)
    assert result.returncode == 0
    assert result.stderr == (
        f"{config}:2:27: warning: large: model 'gpt-41' is not in the capability table (closest known: "
        "gpt-4, gpt-4.1, gpt-4o); assumed as for gpt-4: context 8,192, max output 8,192, no images, no "
        "reasoning; fix the name, or describe the model with base_model: or capabilities:\n"
    )


def test_names_that_only_share_letters_get_no_did_you_mean(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        'providers:\n  openai: {api_key: "${K}"}\n  openai-eu: {base_url: "https://eu.example.com/v1"}\n'
        "model_categories: {large: oai/gpt-4o, small: openai/gpt-4o-mini}\n",
    )
    result = claude_any("compile", str(config), "-o", str(tmp_path / "routes.json"), home=tmp_path)
    assert result.returncode == 2
    assert "did you mean" not in result.stderr
    assert (
        f"{config}:3:3: error: providers.openai-eu: provider 'openai-eu' needs a kind: add `kind: openai`"
        in (result.stderr)
    )
    assert f"{config}:4:27: error: unknown provider 'oai' in 'oai/gpt-4o'\n" in result.stderr


# --- routes.json -------------------------------------------------------------------------------------------


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(table: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = table
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[last] = value

    return edit


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda table: table.pop(key)


RECOMPILE = "write it again with `claude-any compile CONFIG`"
BROKEN_ROUTES: dict[str, tuple[Callable[[dict[str, Any]], Any], str]] = {
    "not a table": (lambda table: table.clear(), f"not a routing table (no version); {RECOMPILE}"),
    "another version": (
        _set("version", 3),
        f"version 3 is not one this claude-any reads (it reads versions 1, 2); {RECOMPILE}",
    ),
    "no targets": (_drop("targets"), f"the key 'targets' is missing; {RECOMPILE}"),
    "capabilities": (
        _set("targets.large.capabilities", None),
        f"targets.large: a value is not what claude-any compile writes; {RECOMPILE}",
    ),
    "port": (
        _set("server.port", "eighty"),
        f"server: a value is not what claude-any compile writes; {RECOMPILE}",
    ),
    "chain": (
        _set("routes.0.chain", ["nowhere"]),
        f"routes[0].chain: target 'nowhere' is not in targets; {RECOMPILE}",
    ),
    "provider": (
        _set("targets.large.provider", "gone"),
        f"targets.large: provider 'gone' is not in providers; {RECOMPILE}",
    ),
    "rule": (_set("routes.0.when", {"op": "~"}), f"routes[0].when: unknown rule operator '~'; {RECOMPILE}"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_ROUTES))
@pytest.mark.parametrize("command", ["run", "explain"])
def test_a_broken_routes_json_is_one_line_naming_where(case: str, command: str, tmp_path: Path) -> None:
    routes = tmp_path / "routes.json"
    compiled = claude_any("compile", "examples/quickstart.yaml", "-o", str(routes), home=tmp_path)
    assert compiled.returncode == 0, compiled.stderr
    table = json.loads(routes.read_text(encoding="utf-8"))
    edit, message = BROKEN_ROUTES[case]
    edit(table)
    routes.write_text(json.dumps(table), encoding="utf-8")
    args = (
        ["run", str(routes), "--port", str(free_port())]
        if command == "run"
        else ["explain", "m", "--routes", str(routes)]
    )
    result = claude_any(*args, home=tmp_path)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"claude-any: error: {routes}: {message}\n"


# --- a routes.json older than its config -------------------------------------------------------------------


@pytest.fixture
def stale(tmp_path: Path) -> Path:
    """A directory with config.yaml and build/routes.json compiled from it, then the config changed."""
    shutil.copy(REPO / "examples" / "quickstart.yaml", tmp_path / "config.yaml")
    compiled = claude_any("compile", "config.yaml", home=tmp_path, cwd=tmp_path)
    assert compiled.returncode == 0, compiled.stderr
    config = tmp_path / "config.yaml"
    config.write_text(config.read_text().replace("echo/echo-large", "echo/echo-changed"), encoding="utf-8")
    routes = tmp_path / "build" / "routes.json"
    earlier = os.stat(config).st_mtime - 5  # a clock tick apart is enough; five seconds leave no doubt
    os.utime(routes, (earlier, earlier))
    return tmp_path


def test_explain_by_default_uses_the_config_when_build_routes_json_is_older(stale: Path) -> None:
    result = claude_any("explain", "claude-sonnet-4-6", home=stale, cwd=stale)
    assert result.returncode == 0, result.stderr
    assert result.stderr == (
        "claude-any: note: build/routes.json is older than config.yaml, which it was compiled from; using "
        "config.yaml (claude-any compile config.yaml updates build/routes.json)\n"
    )
    assert "routes from config.yaml" in result.stdout and "echo-changed" in result.stdout


def test_explain_and_run_warn_when_told_to_use_an_older_routes_json(stale: Path) -> None:
    warning = (
        "claude-any: warning: build/routes.json is older than config.yaml, which it was compiled from, and "
        "does not hold its changes; to update it: claude-any compile config.yaml -o build/routes.json\n"
    )
    explained = claude_any(
        "explain", "claude-sonnet-4-6", "--routes", "build/routes.json", home=stale, cwd=stale
    )
    assert explained.returncode == 0
    assert explained.stderr == warning
    assert "echo-large" in explained.stdout  # what was asked for: the file as it is
    with socket.socket() as busy:  # run stops at the port, after the routes were read
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        ran = claude_any("run", "build/routes.json", "--port", str(port), home=stale, cwd=stale)
    assert ran.returncode == 2
    assert ran.stderr.startswith(warning)


def test_a_fresh_routes_json_gets_no_warning(stale: Path) -> None:
    assert claude_any("compile", "config.yaml", home=stale, cwd=stale).returncode == 0
    result = claude_any("explain", "claude-sonnet-4-6", home=stale, cwd=stale)
    assert (result.returncode, result.stderr) == (0, "")
    assert "routes from build/routes.json" in result.stdout and "echo-changed" in result.stdout


# --- the console -------------------------------------------------------------------------------------------


def test_explain_on_a_console_without_unicode_falls_back_to_ascii(tmp_path: Path) -> None:
    # A Windows console or pipe: cp1252 has no ✗ or →.
    env = {"PYTHONIOENCODING": "cp1252"}
    result = claude_any(
        "explain", "claude-sonnet-4-6", "--config", "examples/mixed.yaml", home=tmp_path, env=env
    )
    assert_no_traceback(result)
    assert result.returncode == 0, result.stderr
    assert "  x routes[0]" in result.stdout and "  -> default: sonnet/opus" in result.stdout
    assert "✗" not in result.stdout and "→" not in result.stdout


def test_a_request_file_that_is_not_text_is_one_line(tmp_path: Path) -> None:
    request = tmp_path / "request.json"
    request.write_bytes(b"\xff\xfe{}")
    result = claude_any(
        "explain", "m", "--config", "examples/quickstart.yaml", "--request", str(request), home=tmp_path
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"claude-any: error: {request}: not a JSON request (not UTF-8 text)\n"
