"""Provider entries: kind resolution, per-kind required fields, and normalised settings for routes.json.

Settings keep `${VAR}` references verbatim (resolved only by `run`); URLs are normalised here so the runtime
never has to guess whether a host has a scheme or a trailing slash.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from claude_any import secrets
from claude_any.capabilities import RESPONSES_KINDS
from claude_any.compiler.config import ModelSpec, ProviderSpec
from claude_any.compiler.diagnostics import one_of
from claude_any.compiler.fields import Reader
from claude_any.compiler.overrides import read_capabilities
from claude_any.compiler.yamlpos import Mapping, Node, Scalar
from claude_any.network import is_host_name, is_loopback
from claude_any.suggest import closest

KINDS = ("openai", "azure", "databricks", "anthropic", "echo")
APIS = ("chat", "responses")
COMMON_KEYS = ("kind", "api", "headers", "body", "models")
KIND_KEYS: dict[str, tuple[str, ...]] = {
    "openai": ("api_key", "base_url", "organization"),
    "azure": ("api_key", "endpoint", "api_version"),
    "databricks": ("token", "host"),
    "anthropic": ("api_key", "base_url"),
    "echo": (),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "openai": (),  # api_key is required only without base_url (checked below)
    "azure": ("api_key", "endpoint", "api_version"),
    "databricks": ("token", "host"),
    "anthropic": ("api_key",),
    "echo": (),
}
DEFAULT_BASE_URL = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com"}
# The variable a literal secret should move to, for the providers named after their kind.
SECRET_VARIABLES = {
    "openai": "OPENAI_API_KEY",
    "azure": "AZURE_OPENAI_API_KEY",
    "databricks": "DATABRICKS_TOKEN",
    "anthropic": "ANTHROPIC_API_KEY",
}
SECRET_HEADERS = {"authorization", "api-key", "x-api-key"}
URL_FIELDS = ("base_url", "endpoint", "host")
CREDENTIALS_IN_URL = (
    "must not carry a user name or password (user:password@host); send credentials as a header instead, "
    'e.g. headers: {Authorization: "Basic ${CREDENTIALS}"}'
)

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
API_VERSION = re.compile(r"(\d{4}-\d{2}-\d{2})(-preview)?|v1|latest|preview")


def read_provider(reader: Reader, key: Scalar, node: Node) -> ProviderSpec | None:
    """One `providers.<name>` entry, or None when it is too broken to use (errors already reported)."""
    name = key.text
    path = f"providers.{name}"
    if not NAME.fullmatch(name):
        reader.error(key.pos, path, "provider names are letters, digits, '_', '-' and '.' (no '/' or spaces)")
        return None
    if not isinstance(node, Mapping):
        reader.wrong_type(node, path, "a mapping")
        return None
    kind = _kind(reader, key, node, path)
    if kind is None:
        reader.check_keys(node, path, COMMON_KEYS + tuple(k for ks in KIND_KEYS.values() for k in ks))
        return None
    reader.mapping(node, path, COMMON_KEYS + KIND_KEYS[kind], REQUIRED[kind], owner=key)
    settings = _settings(reader, kind, name, key, node, path)
    api_node = node.get("api")
    api = reader.choice(api_node, f"{path}.api", APIS) if api_node is not None else "chat"
    if api == "responses" and kind not in RESPONSES_KINDS and api_node is not None:
        reader.error(api_node.pos, f"{path}.api", f"{kind} providers have no Responses API; remove `api:`")
        api = None
    headers_node = node.get("headers")
    headers = reader.string_map(headers_node, f"{path}.headers") if headers_node is not None else {}
    _warn_secret_headers(reader, name, headers_node, f"{path}.headers")
    body_node = node.get("body")
    body = reader.json_object(body_node, f"{path}.body") if body_node is not None else {}
    models_node = node.get("models")
    models = _models(reader, models_node, f"{path}.models") if models_node is not None else {}
    if settings is None or api is None:
        return None
    return ProviderSpec(name, kind, api, settings, headers, body, models, key.pos, api_node is not None)


def _kind(reader: Reader, key: Scalar, node: Mapping, path: str) -> str | None:
    kind_node = node.get("kind")
    if kind_node is not None:
        return reader.choice(kind_node, f"{path}.kind", KINDS)
    if key.text in KINDS:
        return key.text
    # A name like `azure-eu` says its kind; anything else is most often an OpenAI-compatible server.
    likely = next((k for k in KINDS if k in key.text.lower()), None) or closest(key.text, KINDS) or "openai"
    others = one_of(k for k in KINDS if k != likely)
    reader.error(key.pos, path, f"provider {key.text!r} needs a kind: add `kind: {likely}` (or {others})")
    return None


def _settings(
    reader: Reader, kind: str, name: str, key: Scalar, node: Mapping, path: str
) -> dict[str, Any] | None:
    values: dict[str, Any] = {}
    ok = True
    for field in KIND_KEYS[kind]:
        child = node.get(field)
        if child is None:
            values[field] = None
            continue
        values[field] = _field(reader, kind, name, field, child, f"{path}.{field}")
        ok = ok and values[field] is not None
    if kind == "openai" and values["api_key"] is None and node.get("base_url") is None:
        reader.error(
            key.pos, path, "missing required key 'api_key' (it may be left out only with a base_url)"
        )
        ok = False
    if not ok or any(values[f] is None for f in REQUIRED[kind]):
        return None
    if kind in DEFAULT_BASE_URL and values["base_url"] is None:
        values["base_url"] = DEFAULT_BASE_URL[kind]
    base_url = node.get("base_url")
    if values.get("api_key") and base_url is not None and _plain_http_remote(values["base_url"]):
        reader.warning(
            base_url.pos, f"{path}.base_url", "http:// to a non-local host sends the API key unencrypted"
        )
    return values


def _plain_http_remote(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "http" and not is_loopback(parts.hostname or "")


def _field(reader: Reader, kind: str, name: str, field: str, node: Node, path: str) -> str | None:
    value = reader.string(node, path)
    if value is None or not isinstance(node, Scalar):
        return None
    if field in ("api_key", "token"):
        _warn_literal_secret(reader, node, path, _secret_variable(kind, name, field))
        return value
    if field in URL_FIELDS and secrets.url_has_credentials(value):
        # Neither sent (the kinds authenticate by header) nor safe to keep: a URL is shown in messages.
        reader.error(node.pos, path, CREDENTIALS_IN_URL)
        return None
    if secrets.references(value):
        return value  # an endpoint from the environment: checked by `run` once resolved
    if field == "endpoint":
        return _service_url(
            reader, node, path, value, ("/openai", "/openai/v1"), "https://NAME.openai.azure.com"
        )
    if field == "host":
        return _service_url(
            reader, node, path, value, ("/serving-endpoints",), "https://adb-123.4.azuredatabricks.net"
        )
    if field == "base_url":
        return _base_url(reader, node, path, value)
    if field == "api_version":
        return _api_version(reader, node, path, value)
    return value


def _secret_variable(kind: str, name: str, field: str) -> str:
    if name == kind and kind in SECRET_VARIABLES:
        return SECRET_VARIABLES[kind]
    suffix = "TOKEN" if field == "token" else "API_KEY"
    return re.sub(r"[^A-Za-z0-9]", "_", name).upper() + "_" + suffix


def _warn_literal_secret(reader: Reader, node: Scalar, path: str, variable: str) -> None:
    value = node.value
    if (
        isinstance(value, str)
        and not secrets.is_reference_only(value)
        and not secrets.malformed_references(value)
        and not secrets.bare_references(value)  # `$NAME`: reported as that, not as a pasted secret
    ):
        # The value itself is never repeated: it is (or contains) a secret.
        reader.warning(node.pos, path, f"literal secret in config; use ${{{variable}}} instead")


def _warn_secret_headers(reader: Reader, name: str, node: Node | None, path: str) -> None:
    if not isinstance(node, Mapping):
        return
    for key, value in node.items:
        if key.text.lower() not in SECRET_HEADERS or not isinstance(value, Scalar):
            continue
        text = value.value
        if isinstance(text, str) and not secrets.references(text) and not secrets.bare_references(text):
            variable = re.sub(r"[^A-Za-z0-9]", "_", name).upper() + "_TOKEN"
            reader.warning(
                value.pos, f"{path}.{key.text}", f"literal secret in config; use ${{{variable}}} instead"
            )


def read_server_secret(reader: Reader, node: Scalar, path: str) -> None:
    """Warn when `server.auth_token` is written literally."""
    _warn_literal_secret(reader, node, path, "CLAUDE_ANY_TOKEN")


@dataclass(frozen=True)
class _Url:
    scheme: str
    netloc: str
    host: str
    path: str


def _split_url(reader: Reader, node: Scalar, path: str, value: str, example: str) -> _Url | None:
    if any(c.isspace() for c in value):
        reader.error(node.pos, path, f"must not contain spaces (expected a URL like {example})")
        return None
    text = value if "://" in value else "https://" + value
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        _ = parts.port  # raises ValueError on a bad port
    except ValueError:
        reader.error(node.pos, path, f"not a valid URL (expected something like {example})")
        return None
    if parts.scheme not in ("http", "https"):
        reader.error(node.pos, path, f"URL scheme must be https:// or http://, got {parts.scheme + '://'!r}")
        return None
    if parts.username or parts.password or parts.query or parts.fragment:
        reader.error(node.pos, path, f"must be a plain URL without user, query or fragment (like {example})")
        return None
    if not is_host_name(host):
        reader.error(
            node.pos, path, f"{host or '(empty)'!r} is not a valid host name (expected like {example})"
        )
        return None
    return _Url(parts.scheme, parts.netloc, host, parts.path.rstrip("/"))


def _service_url(
    reader: Reader, node: Scalar, path: str, value: str, known_paths: tuple[str, ...], example: str
) -> str | None:
    """An Azure endpoint or Databricks host: https://host[:port], with a known API path suffix dropped."""
    url = _split_url(reader, node, path, value, example)
    if url is None:
        return None
    if url.path and url.path not in known_paths:
        reader.error(node.pos, path, f"unexpected path {url.path!r}; give only the host, like {example}")
        return None
    if url.scheme == "http" and not is_loopback(url.host):
        reader.error(
            node.pos,
            path,
            f"refusing http:// to {url.host!r}: the key would travel unencrypted; use https://",
        )
        return None
    return f"{url.scheme}://{url.netloc}"


def _base_url(reader: Reader, node: Scalar, path: str, value: str) -> str | None:
    if "://" not in value:
        reader.error(node.pos, path, "must start with https:// or http:// (like http://127.0.0.1:11434/v1)")
        return None
    url = _split_url(reader, node, path, value, "https://api.openai.com/v1")
    if url is None:
        return None
    return f"{url.scheme}://{url.netloc}{url.path}"


def _api_version(reader: Reader, node: Scalar, path: str, value: str) -> str | None:
    match = API_VERSION.fullmatch(value)
    if match is None or (match.group(1) and not _is_date(match.group(1))):
        reader.error(
            node.pos,
            path,
            f"{value!r} is not an Azure api-version; "
            "expected YYYY-MM-DD, YYYY-MM-DD-preview, v1, latest or preview",
        )
        return None
    return value


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _models(reader: Reader, node: Node, path: str) -> dict[str, ModelSpec]:
    if not isinstance(node, Mapping):
        reader.wrong_type(node, path, "a mapping of model names")
        return {}
    models: dict[str, ModelSpec] = {}
    for key, value in node.items:
        where = f"{path}.{key.text}"
        entry = reader.mapping(value, where, ("base_model", "capabilities"))
        if entry is None:
            continue
        base = entry.get("base_model")
        caps = entry.get("capabilities")
        models[key.text] = ModelSpec(
            reader.string(base, f"{where}.base_model") if base is not None else None,
            read_capabilities(reader, caps, f"{where}.capabilities") if caps is not None else {},
        )
    return models
