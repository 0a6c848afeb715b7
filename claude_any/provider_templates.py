"""A target's outgoing request - URL, headers, fixed body fields - from its kind's template and the config's
`headers:` / `body:` templates, rendered once per target.

A kind's template (`templates/<kind>.j2`, or a config's own file for `kind: template`) sets three values:

    {% set url = settings.base_url ~ "/chat/completions" %}
    {% set headers = {"Authorization": ("Bearer " ~ settings.api_key) if settings.api_key else none} %}
    {% set body = {} %}          {# laid over the translated request body #}

A header set to `none` is not sent; helper values are named with a leading `_`. The config's `headers` and
`body` strings (per provider, then per category) are Jinja too, merged after the kind's, with the same
variables:

    settings  the provider's settings       model     the model (or deployment) name sent upstream
    provider  the provider's name           target    the target id (a category, or provider/model)
    api       the target's API              protocol  chat, responses or anthropic (provider_kinds.py)

Everything renders in `template_sandbox`, undefined names an error: at compile time with `${VAR}` as written
(`check`, `describe`), at start-up with the secrets (`compile_target`); never per request.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from claude_any import secrets
from claude_any.provider_kinds import ProviderKind, UnknownKind, kind_named, protocol_for, settled_api
from claude_any.table import Provider, Target
from claude_any.template_sandbox import TemplateProblem, compile_template, render_module, render_text

# User headers whose values are likely credentials, redacted by describe().
_SENSITIVE_HEADER = re.compile(r"auth|key|token|secret|cookie|signature|password", re.I)
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
_MAX_URL = 8 * 1024
_MAX_HEADER = 8 * 1024
_KIND_VALUES = ("url", "headers", "body")


class TemplateError(Exception):
    """A request template that did not render to a usable request.

    `where` is the config path of the template (`providers.p.headers.X-Team`, `model_categories.c.body.user`,
    `providers.p.template`, or `providers.p (openai kind)` for a built-in kind's); `file` names a template
    file (`kind: template`), `line` the line in the template and `near` a piece of text at the spot.
    """

    def __init__(
        self, where: str, message: str, line: int | None = None, near: str | None = None, file: str = ""
    ) -> None:
        super().__init__(where, message)
        self.where, self.message, self.line, self.near, self.file = where, message, line, near, file

    def __str__(self) -> str:
        at = ""
        if self.file and self.line:
            at = f" ({self.file}:{self.line})"
        elif self.line and self.line > 1:
            at = f" (line {self.line})"
        return f"{self.where}{at}: {self.message}"


@dataclass(frozen=True)
class PreparedTarget:
    """The fixed part of one target's outgoing request, rendered once at start-up."""

    protocol: str  # chat | responses | anthropic (provider_kinds.PROTOCOLS)
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body_extras: dict[str, Any] = field(default_factory=dict)


@functools.cache
def _package_template(name: str) -> str:
    return resources.files("claude_any").joinpath("templates", name).read_text(encoding="utf-8")


def _kind(provider: Provider) -> ProviderKind:
    try:
        return kind_named(provider.kind)
    except UnknownKind as exc:
        raise TemplateError(f"providers.{provider.name}", str(exc)) from None


def _kind_source(provider: Provider, kind: ProviderKind) -> tuple[str, str, str]:
    """(where, file, text) of the provider's kind template; `file` is set only for a config's own."""
    if kind.template is not None:
        return f"providers.{provider.name} ({kind.name} kind)", "", _package_template(kind.template)
    if provider.template is None:
        raise TemplateError(f"providers.{provider.name}", "a `kind: template` provider needs `template:`")
    return f"providers.{provider.name}.template", provider.template.file, provider.template.source


def api_and_protocol(provider: Provider, target: Target) -> tuple[str, str]:
    """The API a target uses and the wire protocol it speaks, as the runtime and `explain` both take them."""
    kind = kind_named(provider.kind)
    api = settled_api(kind, provider.api, target.api, bool(target.capabilities.get("responses_only")))
    return api, protocol_for(kind, api, target.model)


def _variables(provider: Provider, target: Target, settings: Mapping[str, Any]) -> dict[str, Any]:
    api, protocol = api_and_protocol(provider, target)
    return {
        "settings": dict(settings),
        "model": target.model,
        "provider": provider.name,
        "target": target.id,
        "api": api,
        "protocol": protocol,
    }


class _Renderer:
    """Renders one target's templates, collecting every problem (the compiler reports them all)."""

    def __init__(self, variables: dict[str, Any], finish: Callable[[Any], Any] | None) -> None:
        self.variables = variables
        self.finish = finish  # applied to what the config's own strings rendered to (secret resolution)
        self.errors: list[TemplateError] = []

    def text(self, where: str, source: str) -> str | None:
        try:
            return render_text(compile_template(source), self.variables)
        except TemplateProblem as exc:
            self.errors.append(TemplateError(where, exc.message, exc.line, exc.near))
            return None

    def value(self, where: str, value: Any) -> Any:
        """The Jinja strings in a JSON value (a config `body` field) rendered; other leaves as they are."""
        if isinstance(value, str):
            return self.text(where, value)
        if isinstance(value, dict):
            return {k: self.value(f"{where}.{k}", v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(f"{where}[{i}]", v) for i, v in enumerate(value)]
        return value

    def kind(self, where: str, file: str, source: str) -> dict[str, Any] | None:
        """The url / headers / body a kind template sets, checked."""
        try:
            values = render_module(compile_template(source), self.variables)
        except TemplateProblem as exc:
            self.errors.append(TemplateError(where, exc.message, exc.line, exc.near, file))
            return None
        problems = _kind_value_problems(values)
        for message, near in problems:
            self.errors.append(TemplateError(where, message, None, near, file))
        return None if problems else values

    def layer(
        self, where: str, headers: Mapping[str, str], body: Mapping[str, Any]
    ) -> tuple[dict[str, str], dict[str, Any]]:
        rendered_headers = {
            name: self.text(f"{where}.headers.{name}", str(v)) or "" for name, v in headers.items()
        }
        rendered_body = {k: self.value(f"{where}.body.{k}", v) for k, v in body.items()}
        if self.finish is not None:
            rendered_headers, rendered_body = self.finish(rendered_headers), self.finish(rendered_body)
        return rendered_headers, rendered_body


def _kind_value_problems(values: dict[str, Any]) -> list[tuple[str, str | None]]:
    problems: list[tuple[str, str | None]] = []
    for name in sorted(set(values) - set(_KIND_VALUES)):
        why = "a kind template sets only url, headers and body (start a helper's name with _)"
        problems.append((f"sets {name!r}, but {why}", name))
    if not isinstance(values.get("url"), str):
        problems.append(("must set `url` to a string", "url"))
    headers = values.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str | None) for v in headers.values()):
        problems.append(("`headers` must be a mapping of names to strings (or none: not sent)", "headers"))
    body = values.get("body", {})
    try:
        json.dumps(body)
    except (TypeError, ValueError):
        body = None
    if not isinstance(body, dict):
        problems.append(("`body` must be a mapping of JSON values", "body"))
    return problems


def _merge_headers(into: dict[str, str], extra: Mapping[str, str]) -> None:
    """Header names are case-insensitive: a user `authorization` replaces the template's `Authorization`."""
    for name, value in extra.items():
        for existing in [k for k in into if k.lower() == name.lower()]:
            del into[existing]
        into[name] = value


def _request_problems(prepared: PreparedTarget) -> list[tuple[str, str, str | None]]:
    """(header or "url", message, near) for a rendered request no HTTP client should send."""
    problems: list[tuple[str, str, str | None]] = []
    # A `${VAR}` in the URL is only known at run time; compile time checks it as written.
    if not secrets.references(prepared.url) and not re.match(r"https?://[^/\s?#]+", prepared.url):
        problems.append(
            ("url", f"url must be http:// or https:// with a host, got {prepared.url[:200]!r}", "url")
        )
    if len(prepared.url) > _MAX_URL or any(c.isspace() or not c.isprintable() for c in prepared.url):
        problems.append(("url", "url must be one line of at most 8 KB without spaces", "url"))
    for name, value in prepared.headers.items():
        if not _HEADER_NAME.fullmatch(name):
            problems.append((name, f"{name!r} is not a valid HTTP header name", name))
        elif len(value) > _MAX_HEADER or any(c in value for c in "\r\n\0"):
            problems.append((name, f"header {name} must be a single line of at most 8 KB", name))
    return problems


def _render(
    provider: Provider,
    target: Target,
    settings: Mapping[str, Any],
    finish: Callable[[Any], Any] | None = None,
) -> tuple[PreparedTarget | None, list[TemplateError]]:
    """The kind template, then the provider's headers/body, then the category's; every problem found."""
    try:
        kind = _kind(provider)
        where, file, source = _kind_source(provider, kind)
    except TemplateError as exc:
        return None, [exc]
    renderer = _Renderer(_variables(provider, target, settings), finish)
    values = renderer.kind(where, file, source)
    layers = (
        (f"providers.{provider.name}", provider.headers, provider.body),
        (
            f"model_categories.{target.id}",
            target.params.get("headers") or {},
            target.params.get("body") or {},
        ),
    )
    rendered = [renderer.layer(*layer) for layer in layers]
    if values is None:
        return None, renderer.errors
    headers = {name: value for name, value in values.get("headers", {}).items() if value is not None}
    body = dict(values.get("body", {}))
    owners = {name.lower(): where for name in headers}
    for (layer_where, _, _), (layer_headers, layer_body) in zip(layers, rendered, strict=True):
        _merge_headers(headers, layer_headers)
        owners |= {name.lower(): f"{layer_where}.headers.{name}" for name in layer_headers}
        body.update(layer_body)
    protocol = renderer.variables["protocol"]
    prepared = PreparedTarget(protocol, values["url"], headers, body)
    errors = list(renderer.errors)
    for part, message, near in _request_problems(prepared):
        owner = owners.get(part.lower(), where)  # the url, and the kind's own headers, are the kind's
        errors.append(TemplateError(owner, message, None, near, file if owner == where else ""))
    return (None, errors) if errors else (prepared, [])


def compile_target(
    provider: Provider, target: Target, *, env: Mapping[str, str] | None = None
) -> PreparedTarget:
    """Render a target's outgoing request once, at start-up.

    With `env`, `${VAR}` references are resolved: in settings before rendering, in the config's headers/body
    after rendering (so a secret's text is never parsed as Jinja), and no resolved secret appears in an
    error. Without it the values are used as they are. Raises `secrets.MissingVariable` for an unset
    variable and `TemplateError` for the first template problem.
    """
    if env is None:
        prepared, errors = _render(provider, target, provider.settings)
    else:
        settings = secrets.resolve(provider.settings, env)
        prepared, errors = _render(provider, target, settings, lambda value: secrets.resolve(value, env))
    if prepared is None:
        first = errors[0]
        if env is not None:
            first.message = _scrubbed(first.message, provider, target, env)
        raise first
    return prepared


def _scrubbed(message: str, provider: Provider, target: Target, env: Mapping[str, str]) -> str:
    """`message` without the text of any secret the provider or target references."""
    names = secrets.references(json.dumps([provider.to_json(), target.to_json()]))
    for value in sorted({env[n] for n in names if env.get(n)}, key=len, reverse=True):
        message = message.replace(value, secrets.REDACTED)
    return message


def _placeholder_settings(provider: Provider) -> dict[str, Any]:
    """Settings as written, with credentials shown only as their `${VAR}` reference (literal ones as ***)."""
    try:
        kind = kind_named(provider.kind)
    except UnknownKind:
        return dict(provider.settings)
    return {
        key: secrets.redact(value) if kind.is_secret(key) and isinstance(value, str) else value
        for key, value in provider.settings.items()
    }


def check(provider: Provider, target: Target) -> list[TemplateError]:
    """Render a target's templates with the settings as written; every problem found (for the compiler)."""
    return _render(provider, target, _placeholder_settings(provider))[1]


def describe(provider: Provider, target: Target) -> dict[str, Any]:
    """The outgoing request of a target for `explain`: API, protocol, whether it is answered in-process,
    method, URL, headers with credentials redacted, body fields. Nothing is resolved from the environment:
    `${VAR}` references appear as written. Raises TemplateError."""
    prepared, errors = _render(provider, target, _placeholder_settings(provider))
    if prepared is None:
        raise errors[0]
    headers = {
        name: secrets.redact(value) if _SENSITIVE_HEADER.search(name) and not _is_safe(value) else value
        for name, value in prepared.headers.items()
    }
    return {
        "api": api_and_protocol(provider, target)[0],
        "protocol": prepared.protocol,
        "in_process": kind_named(provider.kind).in_process,
        "method": "POST",
        "url": prepared.url,
        "headers": headers,
        "body": prepared.body_extras,
    }


def _is_safe(value: str) -> bool:
    """A header value that shows no credential: only references and the template's redaction marks."""
    stripped = secrets.REF.sub("", value).replace(secrets.REDACTED, "")
    return stripped.strip() in ("", "Bearer", "Basic")
