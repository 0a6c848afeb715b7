"""Each provider kind's outgoing request (URL, headers, fixed body fields) as a Jinja template.

`templates/<kind>.j2` renders a small YAML document:

    protocol: openai | responses | anthropic | echo   # the wire dialect the runtime speaks to that URL
    url: "https://…"
    headers: {Name: "value"}
    body: {field: value}                              # merged over the translated request body

Users add `headers`/`body` per provider and per target; their strings are Jinja too, with the same variables
(`settings`, `model`, `provider`, `api`, `stream`; `api` is the target's effective API), merged after the
kind's template (target last). Everything renders in a sandbox with StrictUndefined, once at start-up (never
per request): none of it depends on the request beyond `stream`, and both values of `stream` are rendered up
front by the runtime.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import jinja2
import yaml
from jinja2.sandbox import SandboxedEnvironment

from claude_any import secrets
from claude_any.table import Provider, Target

KINDS = ("openai", "azure", "databricks", "anthropic", "echo")
PROTOCOLS = ("openai", "responses", "anthropic", "echo")

# Settings that hold credentials: shown only as their `${VAR}` reference (or ***) by describe().
SECRET_SETTINGS = frozenset({"api_key", "token"})

# User headers whose values are likely credentials, redacted by describe().
_SENSITIVE_HEADER = re.compile(r"auth|key|token|secret|cookie|signature|password", re.I)


class TemplateError(Exception):
    """A provider template did not render to a usable request (message names the provider and field)."""


@dataclass(frozen=True)
class PreparedTarget:
    """The fixed part of one target's outgoing request, rendered once at start-up."""

    protocol: str  # openai (Chat Completions) | responses | anthropic | echo
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body_extras: dict[str, Any] = field(default_factory=dict)


def _environment() -> SandboxedEnvironment:
    # trim/lstrip blocks keep the kind templates readable as YAML; autoescape is off because the output
    # is YAML whose values are already JSON-quoted with |tojson.
    return SandboxedEnvironment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


_ENV = _environment()


@functools.cache
def _kind_template(kind: str) -> jinja2.Template:
    """The parsed template of a provider kind, loaded from the package once per process."""
    if kind not in KINDS:
        raise TemplateError(f"unknown provider kind {kind!r} (expected one of {', '.join(KINDS)})")
    source = resources.files("claude_any").joinpath("templates", f"{kind}.j2").read_text(encoding="utf-8")
    return _ENV.from_string(source)


def _variables(
    provider: Provider, target: Target, settings: Mapping[str, Any], stream: bool
) -> dict[str, Any]:
    return {
        "settings": dict(settings),
        "model": target.model,
        "provider": provider.name,
        "api": target.api,
        "stream": stream,
    }


def _render_string(where: str, text: str, variables: dict[str, Any]) -> str:
    try:
        return _ENV.from_string(text).render(variables)
    except jinja2.TemplateError as exc:
        raise TemplateError(f"{where}: template error: {exc}") from exc


def _render_value(where: str, value: Any, variables: dict[str, Any]) -> Any:
    """Render the Jinja strings inside a JSON value (user `body` fields), leaving other leaves as they are."""
    if isinstance(value, str):
        return _render_string(where, value, variables)
    if isinstance(value, dict):
        return {k: _render_value(f"{where}.{k}", v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_value(f"{where}[{i}]", v, variables) for i, v in enumerate(value)]
    return value


def _render_kind(provider: Provider, variables: dict[str, Any]) -> PreparedTarget:
    where = f"providers.{provider.name} ({provider.kind} template)"
    try:
        template = _kind_template(provider.kind)
    except TemplateError as exc:
        raise TemplateError(f"providers.{provider.name}: {exc}") from None
    try:
        text = template.render(variables)
    except jinja2.TemplateError as exc:
        raise TemplateError(f"{where}: {exc}") from exc
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TemplateError(f"{where}: rendered text is not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise TemplateError(f"{where}: rendered to {type(doc).__name__}, expected a mapping")
    protocol, url = doc.get("protocol"), doc.get("url")
    headers, body = doc.get("headers") or {}, doc.get("body") or {}
    if protocol not in PROTOCOLS:
        raise TemplateError(f"{where}: protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    if not isinstance(url, str) or not isinstance(headers, dict) or not isinstance(body, dict):
        raise TemplateError(f"{where}: needs a string url, a headers mapping and a body mapping")
    return PreparedTarget(protocol, url, {str(k): str(v) for k, v in headers.items()}, body)


def _merge_headers(into: dict[str, str], extra: Mapping[str, str]) -> None:
    """Header names are case-insensitive: a user `authorization` replaces the template's `Authorization`."""
    for name, value in extra.items():
        for existing in [k for k in into if k.lower() == name.lower()]:
            del into[existing]
        into[name] = value


def _check_request(where: str, prepared: PreparedTarget) -> None:
    # A `${VAR}` in the URL is only known at run time; explain/check render it as written.
    checkable = prepared.protocol != "echo" and not secrets.references(prepared.url)
    if checkable and not re.match(r"https?://[^/\s]+", prepared.url):
        raise TemplateError(f"{where}: url must be http:// or https:// with a host, got {prepared.url!r}")
    for name, value in prepared.headers.items():
        if not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", name):
            raise TemplateError(f"{where}: {name!r} is not a valid HTTP header name")
        if "\n" in value or "\r" in value:
            raise TemplateError(f"{where}: header {name} must be a single line")


def _render(
    provider: Provider,
    target: Target,
    settings: Mapping[str, Any],
    stream: bool,
    finish: Callable[[Any], Any] | None = None,
) -> PreparedTarget:
    """Kind template, then provider headers/body, then target params headers/body; `finish` post-processes
    every user-rendered string (secret resolution at run time)."""
    variables = _variables(provider, target, settings, stream)
    base = _render_kind(provider, variables)
    headers, body = dict(base.headers), dict(base.body_extras)
    layers = (
        (f"providers.{provider.name}", provider.headers, provider.body),
        (f"targets.{target.id}.params", target.params.get("headers") or {}, target.params.get("body") or {}),
    )
    for where, user_headers, user_body in layers:
        rendered_headers = {
            name: _render_string(f"{where}.headers.{name}", str(value), variables)
            for name, value in user_headers.items()
        }
        rendered_body = {k: _render_value(f"{where}.body.{k}", v, variables) for k, v in user_body.items()}
        if finish is not None:
            rendered_headers = finish(rendered_headers)
            rendered_body = finish(rendered_body)
        _merge_headers(headers, rendered_headers)
        body.update(rendered_body)
    prepared = PreparedTarget(base.protocol, base.url, headers, body)
    _check_request(f"providers.{provider.name}", prepared)
    return prepared


def compile_target(
    provider: Provider, target: Target, *, stream: bool = False, env: Mapping[str, str] | None = None
) -> PreparedTarget:
    """Render a target's outgoing request once, at start-up.

    With `env`, `${VAR}` references are resolved: in settings before rendering, in user headers/body after
    rendering (so a secret's text is never parsed as Jinja). Without it the values are used as they are.
    Raises `secrets.MissingVariable` for an unset variable and `TemplateError` for a template failure.
    """
    if env is None:
        return _render(provider, target, provider.settings, stream)
    settings = secrets.resolve(provider.settings, env)
    return _render(provider, target, settings, stream, finish=lambda value: secrets.resolve(value, env))


def _placeholder_settings(provider: Provider) -> dict[str, Any]:
    """Settings as written, with credentials shown only as their `${VAR}` reference (literal ones as ***)."""
    return {
        key: secrets.redact(value) if key in SECRET_SETTINGS and isinstance(value, str) else value
        for key, value in provider.settings.items()
    }


def check(provider: Provider, target: Target) -> list[str]:
    """Render a target's templates with placeholder settings; the error messages found (for the compiler)."""
    errors: list[str] = []
    for stream in (False, True):
        try:
            _render(provider, target, _placeholder_settings(provider), stream)
        except TemplateError as exc:
            if str(exc) not in errors:
                errors.append(str(exc))
    return errors


def describe(provider: Provider, target: Target, *, stream: bool = True) -> dict[str, Any]:
    """The outgoing request of a target for `explain`: method, URL, headers with credentials redacted, body
    fields. Nothing here is resolved from the environment, so `${VAR}` references appear as written."""
    prepared = _render(provider, target, _placeholder_settings(provider), stream)
    headers = {
        name: secrets.redact(value) if _SENSITIVE_HEADER.search(name) and not _is_safe(value) else value
        for name, value in prepared.headers.items()
    }
    return {
        "protocol": prepared.protocol,
        "method": "POST",
        "url": prepared.url,
        "headers": headers,
        "body": prepared.body_extras,
    }


def _is_safe(value: str) -> bool:
    """A header value that shows no credential: only references and the template's redaction marks."""
    stripped = secrets.REF.sub("", value).replace(secrets.REDACTED, "")
    return stripped.strip() in ("", "Bearer", "Basic")
