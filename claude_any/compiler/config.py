"""The checked config: what `validate` hands to `build`, with a position on everything a later error needs.

Validation keeps going after an error, so these hold what could be read; `declared_*` name everything the
file declared (even when broken) so a broken provider does not cause a second "unknown provider" error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from claude_any.compiler.yamlpos import Scalar
from claude_any.table import KindTemplate, Limit, Position, Price, RetryPolicy, Server, Timeouts, Usage


@dataclass(frozen=True)
class Ref:
    """A target reference as written in the config: a category name or `provider/model`."""

    text: str
    pos: Position


@dataclass
class ModelSpec:
    """An entry of a provider's `models:` map: what a model or deployment really is."""

    base_model: str | None
    capabilities: dict[str, Any]


@dataclass
class ProviderSpec:
    name: str
    kind: str
    api: str
    settings: dict[str, Any]
    headers: dict[str, str]
    body: dict[str, Any]
    models: dict[str, ModelSpec]
    pos: Position
    api_written: bool = False  # `api:` given; when not, Responses-only models get the Responses API
    template: KindTemplate | None = None  # `kind: template`: the provider's own request template
    # The Jinja strings of `headers:` / `body:` by the path provider_templates names them with, so a
    # template problem is reported where the string is written.
    strings: dict[str, Scalar] = field(default_factory=dict)
    max_in_flight: int | None = None  # `max_in_flight:`; None: the default (table.MAX_IN_FLIGHT)


@dataclass
class CategorySpec:
    name: str
    target: Ref  # always `provider/model`
    base_model: str | None
    capabilities: dict[str, Any]
    params: dict[str, Any]
    pos: Position
    strings: dict[str, Scalar] = field(default_factory=dict)  # as ProviderSpec.strings


@dataclass
class RouteSpec:
    index: int
    when: Scalar | None  # None when missing or not text (already reported)
    to: list[Ref]
    pos: Position
    retry: RetryPolicy | None = None  # the route's `retry:` merged over the top-level policy


@dataclass
class Config:
    file: str
    server: Server = field(default_factory=Server)
    providers: dict[str, ProviderSpec] = field(default_factory=dict)
    categories: dict[str, CategorySpec] = field(default_factory=dict)
    routes: list[RouteSpec] = field(default_factory=list)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeouts: Timeouts = field(default_factory=Timeouts)
    fallbacks: dict[str, tuple[Ref, list[Ref]]] = field(default_factory=dict)  # key text -> (key, targets)
    prices: dict[str, tuple[Scalar, Price]] = field(default_factory=dict)  # key text -> (key, price)
    usage: Usage = field(default_factory=Usage)
    limits: dict[str, Limit] = field(default_factory=dict)
    declared_providers: set[str] = field(default_factory=set)
    declared_categories: set[str] = field(default_factory=set)
