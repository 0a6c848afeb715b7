"""Provider entries: the kind, its settings as `provider_kinds.py` declares them, normalised for routes.json.

Settings keep `${VAR}` references verbatim (resolved only by `run`); URLs are normalised here so the runtime
never has to guess whether a host has a scheme or a trailing slash. A `kind: template` provider brings its
own request template file (read and syntax-checked here) and its own `settings:` map.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from claude_any import secrets
from claude_any.compiler.config import ModelSpec, ProviderSpec
from claude_any.compiler.diagnostics import one_of
from claude_any.compiler.fields import Reader
from claude_any.compiler.overrides import read_capabilities
from claude_any.compiler.templates import read_kind_template, template_strings
from claude_any.compiler.yamlpos import Mapping, Node, Scalar
from claude_any.network import is_host_name, is_loopback
from claude_any.provider_kinds import KINDS, PROTOCOLS, RESPONSES, Auth, Form, ProviderKind, Setting
from claude_any.suggest import closest

COMMON_KEYS = ("kind", "api", "headers", "body", "models", "max_in_flight")
# `max_in_flight:` per worker: at least one, at most what a process may hold open (`run` raises its limit).
MAX_IN_FLIGHT_BOUNDS = (1, 65_536)
OWN_KIND_KEYS = ("template", "settings")  # `kind: template`: its file, and its settings
SECRET_HEADERS = {"authorization", "api-key", "x-api-key"}
CREDENTIALS_IN_URL = (
    "must not carry a user name or password (user:password@host); send credentials as a header instead, "
    'e.g. headers: {Authorization: "Basic ${CREDENTIALS}"}'
)

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
API_VERSION = re.compile(r"(\d{4}-\d{2}-\d{2})(-preview)?|v1|latest|preview")


def _keys(kind: ProviderKind) -> tuple[str, ...]:
    own = OWN_KIND_KEYS if kind.own_settings else ()
    return COMMON_KEYS + own + tuple(s.name for s in kind.settings)


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
        reader.check_keys(node, path, tuple(dict.fromkeys(k for kd in KINDS.values() for k in _keys(kd))))
        return None
    required = [s.name for s in kind.settings if s.required] + (["template"] if kind.own_settings else [])
    reader.mapping(node, path, _keys(kind), required, owner=key)
    settings = (
        _own_settings(reader, kind, name, node, path)
        if kind.own_settings
        else _settings(reader, kind, name, key, node, path)
    )
    template_node = node.get("template")
    template = (
        read_kind_template(reader, template_node, f"{path}.template") if template_node is not None else None
    )
    api = _api(reader, kind, node.get("api"), f"{path}.api")
    headers_node = node.get("headers")
    headers = reader.string_map(headers_node, f"{path}.headers") if headers_node is not None else {}
    _warn_secret_headers(reader, name, headers_node, f"{path}.headers")
    body_node = node.get("body")
    body = reader.json_object(body_node, f"{path}.body") if body_node is not None else {}
    models_node = node.get("models")
    models = _models(reader, models_node, f"{path}.models") if models_node is not None else {}
    limit_node = node.get("max_in_flight")
    max_in_flight = (
        reader.integer(limit_node, f"{path}.max_in_flight", *MAX_IN_FLIGHT_BOUNDS)
        if limit_node is not None
        else None
    )
    if settings is None or api is None or (kind.own_settings and template is None):
        return None
    strings = template_strings(headers_node, f"{path}.headers") | template_strings(body_node, f"{path}.body")
    return ProviderSpec(
        name,
        kind.name,
        api,
        settings,
        headers,
        body,
        models,
        key.pos,
        node.get("api") is not None,
        template,
        strings,
        max_in_flight,
    )


def _kind(reader: Reader, key: Scalar, node: Mapping, path: str) -> ProviderKind | None:
    kind_node = node.get("kind")
    if kind_node is not None:
        chosen = reader.choice(kind_node, f"{path}.kind", KINDS)
        return KINDS[chosen] if chosen is not None else None
    if key.text in KINDS:
        return KINDS[key.text]
    # A name like `azure-eu` says its kind; anything else is most often an OpenAI-compatible server.
    names = list(KINDS)
    likely = next((k for k in names if k in key.text.lower()), None) or closest(key.text, names) or "openai"
    others = one_of(k for k in names if k != likely)
    reader.error(key.pos, path, f"provider {key.text!r} needs a kind: add `kind: {likely}` (or {others})")
    return None


def _api(reader: Reader, kind: ProviderKind, node: Node | None, path: str) -> str | None:
    """The provider's `api:` (the kind's default when absent), one its kind speaks."""
    if node is None:
        return kind.apis[0]
    api = reader.choice(node, path, PROTOCOLS)
    if api is None or api in kind.apis:
        return api
    if api == RESPONSES:
        reader.error(node.pos, path, f"{kind.name} providers have no Responses API; remove `api:`")
    elif kind.protocol is not None:
        reader.error(node.pos, path, f"{kind.name} providers always speak {kind.protocol}; remove `api:`")
    else:
        reader.error(node.pos, path, f"{kind.name} providers speak {one_of(kind.apis)}, not {api!r}")
    return None


def _settings(
    reader: Reader, kind: ProviderKind, name: str, key: Scalar, node: Mapping, path: str
) -> dict[str, Any] | None:
    values: dict[str, Any] = {}
    ok = True
    for setting in kind.settings:
        child = node.get(setting.name)
        if child is None:
            values[setting.name] = None
            continue
        values[setting.name] = _field(reader, kind, name, setting, child, f"{path}.{setting.name}")
        ok = ok and values[setting.name] is not None
    for setting in kind.settings:
        other = setting.required_without
        if other is not None and values[setting.name] is None and node.get(other) is None:
            reader.error(
                key.pos,
                path,
                f"missing required key {setting.name!r} (it may be left out only with a {other})",
            )
            ok = False
    ok = _check_auth(reader, kind, key, node, path, values) and ok
    if not ok or any(values[s.name] is None for s in kind.settings if s.required):
        return None
    for setting in kind.settings:
        if setting.default is not None and values[setting.name] is None:
            values[setting.name] = setting.default
    has_secret = any(values[s.name] for s in kind.settings if s.form is Form.SECRET)
    for setting in kind.settings:
        written = node.get(setting.name)
        url = values[setting.name]
        if setting.form is Form.BASE_URL and written is not None and has_secret and _plain_http_remote(url):
            reader.warning(
                written.pos,
                f"{path}.{setting.name}",
                "http:// to a non-local host sends the API key unencrypted",
            )
    return values


def _check_auth(
    reader: Reader, kind: ProviderKind, key: Scalar, node: Mapping, path: str, values: dict[str, Any]
) -> bool:
    """The chosen `auth:` has its settings and its identity library, and no other auth's settings are
    written (they would be ignored: a key next to `auth: entra` is a sign of a mix-up)."""
    if not kind.auths:
        return True
    auth = kind.auth_for(values)
    if auth is None or (node.get("auth") is not None and values.get("auth") is None):
        return False  # an unknown `auth:`, already reported
    ok = True
    for other in kind.auths:
        for name in other.settings:
            written = node.get(name)
            if written is not None and name not in auth.settings:
                reader.error(
                    written.pos,
                    f"{path}.{name}",
                    f"is used only with auth: {other.name}, and this provider's auth is {auth.name}: "
                    f"remove it, or set auth: {other.name}",
                )
                ok = False
    for name in auth.required:
        if values[name] is None:
            reader.error(key.pos, path, f"missing required key {name!r}{_other_auths_hint(kind, auth)}")
            ok = False
    given = [name for name in auth.together if values[name] is not None]
    if given and len(given) < len(auth.together):
        lacking = [name for name in auth.together if name not in given]
        first = node.get(given[0])
        reader.error(
            first.pos if first is not None else key.pos,
            f"{path}.{given[0]}",
            f"needs {' and '.join(repr(n) for n in lacking)} too (or neither, to let the identity library "
            "find its credentials)",
        )
        ok = False
    install = auth.missing_library()
    if install is not None:
        where = node.get("auth")
        reader.error(
            where.pos if where is not None else key.pos,
            f"{path}.auth",
            f"auth: {auth.name} needs {auth.identity}, which is not installed: {install}",
        )
        ok = False
    return ok


def _other_auths_hint(kind: ProviderKind, auth: Auth) -> str:
    others = [a for a in kind.auths if a is not auth and a.identity is not None]
    if not others:
        return ""
    return " (or " + ", or ".join(f"auth: {a.name} for an {a.description}" for a in others) + ")"


def _own_settings(
    reader: Reader, kind: ProviderKind, name: str, node: Mapping, path: str
) -> dict[str, Any] | None:
    """A `kind: template` provider's `settings:`: names to strings (`${VAR}` welcome) or null."""
    settings_node = node.get("settings")
    if settings_node is None:
        return {}
    if not isinstance(settings_node, Mapping):
        reader.wrong_type(settings_node, f"{path}.settings", "a mapping of names to strings")
        return None
    values: dict[str, Any] = {}
    ok = True
    for key, value in settings_node.items:
        where = f"{path}.settings.{key.text}"
        if isinstance(value, Scalar) and value.value is None:
            values[key.text] = None
            continue
        text = reader.string(value, where)
        if text is None or not isinstance(value, Scalar):
            ok = False
            continue
        if kind.is_secret(key.text):
            _warn_literal_secret(reader, value, where, _secret_variable(None, name, key.text))
        values[key.text] = text
    return values if ok else None


def _plain_http_remote(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "http" and not is_loopback(parts.hostname or "")


def _field(
    reader: Reader, kind: ProviderKind, name: str, setting: Setting, node: Node, path: str
) -> str | None:
    value = reader.string(node, path)
    if value is None or not isinstance(node, Scalar):
        return None
    if setting.form is Form.SECRET:
        _warn_literal_secret(reader, node, path, _secret_variable(kind, name, setting))
        return value
    if setting.form is Form.AUTH:
        return reader.choice(node, path, [auth.name for auth in kind.auths])
    if setting.form in (Form.BASE_URL, Form.SERVICE_URL) and secrets.url_has_credentials(value):
        # Neither sent (the kinds authenticate by header) nor safe to keep: a URL is shown in messages.
        reader.error(node.pos, path, CREDENTIALS_IN_URL)
        return None
    if secrets.references(value):
        return value  # a URL from the environment: checked by `run` once resolved
    if setting.form is Form.SERVICE_URL:
        return _service_url(reader, node, path, value, setting.known_paths, setting.example)
    if setting.form is Form.BASE_URL:
        return _base_url(reader, node, path, value)
    if setting.form is Form.API_VERSION:
        return _api_version(reader, node, path, value)
    return value


def _secret_variable(kind: ProviderKind | None, name: str, setting: Setting | str) -> str:
    """The variable a literal secret should move to: the usual one for a provider named after its kind."""
    if isinstance(setting, Setting):
        if kind is not None and name == kind.name and setting.variable:
            return setting.variable
        setting = setting.name
    suffix = "TOKEN" if "token" in setting.lower() else "API_KEY"
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


def read_server_secret(reader: Reader, node: Scalar, path: str, variable: str = "CLAUDE_ANY_TOKEN") -> None:
    """Warn when `server.auth_token` or a `server.tokens` entry is written literally."""
    _warn_literal_secret(reader, node, path, variable)


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
