"""Checked config -> `table.RoutingTable`: targets with capabilities, rules, and fallback chains.

Cross-references are checked here (a category or `provider/model` must name something declared, fallbacks
must not loop), because only now is everything declared known.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from claude_any import capabilities, provider_templates
from claude_any.compiler.config import CategorySpec, Config, ProviderSpec, Ref, RouteSpec
from claude_any.compiler.diagnostics import Diagnostics, did_you_mean
from claude_any.compiler.rules import DEFAULT_RULES, Rule, compile_rule
from claude_any.compiler.templates import position
from claude_any.provider_kinds import ANTHROPIC, KINDS, api_for, protocol_for
from claude_any.suggest import nearest
from claude_any.table import Position, Price, Provider, Route, RoutingTable, Target, empty_params


def build(config: Config, diags: Diagnostics) -> RoutingTable:
    """Build the routing table; problems found on the way go to `diags` (the caller drops the table then)."""
    return _Builder(config, diags).build()


class _Builder:
    def __init__(self, config: Config, diags: Diagnostics) -> None:
        self.config = config
        self.diags = diags
        self.targets: dict[str, Target] = {}
        self.template_errors: set[tuple[Position, str]] = set()

    def build(self) -> RoutingTable:
        providers = {name: _provider(p) for name, p in self.config.providers.items()}
        for spec in self.config.categories.values():
            self._category_target(spec)
        fallbacks = self._fallbacks()
        routes = [route for spec in self.config.routes if (route := self._route(spec, fallbacks))]
        self._warn_unreachable(routes)
        table_routes = [route for route, _ in routes]
        for default in DEFAULT_RULES:
            category = default.category
            chain = _chain([category], fallbacks) if category in self.targets else (category,)
            table_routes.append(Route(default.name, default.source, default.when, chain, "default", None))
        return RoutingTable(
            source=self.config.file,
            server=self.config.server,
            providers=providers,
            targets={
                tid: replace(target, fallbacks=_chain([tid], fallbacks)[1:])
                for tid, target in sorted(self.targets.items())
            },
            routes=tuple(table_routes),
            retry=self.config.retry,
            timeouts=self.config.timeouts,
            prices=self._prices(),
            usage=self.config.usage,
            limits=self.config.limits,
        )

    # Targets ------------------------------------------------------------------------------------------

    def _category_target(self, category: CategorySpec) -> None:
        provider_name, _, model = category.target.text.partition("/")
        if not self._known_provider(provider_name, category.target):
            return
        self._add_target(category.name, provider_name, model, category.target.pos, category)

    def _add_target(
        self, target_id: str, provider_name: str, model: str, pos: Position, category: CategorySpec | None
    ) -> None:
        provider = self.config.providers[provider_name]
        model_spec = provider.models.get(model)
        stated = (category.base_model if category else None) or (
            model_spec.base_model if model_spec else None
        )
        base_model = stated or model
        caps = dict(capabilities.lookup(provider.kind, base_model, provider.settings.get("base_url")))
        if model_spec:
            caps.update(model_spec.capabilities)
        params = empty_params()
        if category:
            caps.update(category.capabilities)
            params = category.params
        self._check_target(target_id, provider, model, stated, caps, params, pos)
        described = bool(model_spec and model_spec.capabilities) or bool(category and category.capabilities)
        if not described and provider.kind != "echo" and (stated or provider.kind != "azure"):
            self._check_known(target_id, provider.kind, base_model, stated is not None, caps, pos)
        configured = provider.api if provider.api_written else None
        api = api_for(KINDS[provider.kind], configured, bool(caps.get("responses_only")))
        target = Target(target_id, provider_name, model, base_model, caps, params, pos, api=api)
        if protocol_for(KINDS[provider.kind], api, model) == ANTHROPIC:
            self._warn_unused_params(target_id, params, pos)
        self.targets[target_id] = target
        self._check_templates(provider, target, category)

    def _warn_unused_params(self, target_id: str, params: dict[str, Any], pos: Position) -> None:
        """The request parameters a category sets are applied by translation, which an Anthropic target's
        requests skip (the client's body goes through with only `model` replaced): say so, not ignore."""
        unused = [
            name for name in ("reasoning_effort", "max_tokens", "temperature") if params.get(name) is not None
        ]
        if unused:
            self.diags.warning(
                pos,
                f"{target_id}: {', '.join(unused)} not applied: requests to an Anthropic target are passed "
                "through as the client sent them (headers: and body: still apply)",
            )

    def _check_templates(self, spec: ProviderSpec, target: Target, category: CategorySpec | None) -> None:
        """Render the target's request templates once, so a bad one is reported where it is written."""
        strings = spec.strings | (category.strings if category else {})
        for error in provider_templates.check(_provider(spec), target):
            # A problem of the kind's own template comes from this target (its model name in a URL).
            fallback = target.pos if error.where.endswith(" kind)") else spec.pos
            at = position(error, strings, spec.template, fallback or spec.pos)
            message = f"{error.where}: {error.message}"
            if error.where.endswith(" kind)"):
                message = f"{target.id}: {error.message}"
            # A provider-level problem shows up for each of its targets: report it once.
            if (at, message) not in self.template_errors:
                self.template_errors.add((at, message))
                self.diags.error(at, message)

    def _check_target(
        self,
        target_id: str,
        provider: ProviderSpec,
        model: str,
        stated: str | None,
        caps: dict[str, Any],
        params: dict[str, Any],
        pos: Position,
    ) -> None:
        kind = provider.kind
        # Left unset, `api` follows the model; written as `chat`, it is a choice the model cannot serve.
        if caps.get("responses_only") and provider.api == "chat" and provider.api_written:
            self.diags.error(
                pos,
                f"{target_id}: {model} is only served by the Responses API; remove `api: chat` from "
                f"providers.{provider.name} (Responses is then chosen for it) or pick a chat model",
            )
        if KINDS[kind].deployments and stated is None:
            family = caps.get("family")
            guess = (
                f"guessed family {family!r}" if family and family != "unknown" else "conservative defaults"
            )
            self.diags.warning(
                pos,
                f"{target_id}: Azure deployment {model!r} has no base_model; capabilities use {guess} "
                "(add base_model: under the category or the provider's models:)",
            )
        effort = params.get("reasoning_effort")
        efforts = caps.get("efforts")
        if effort is not None and isinstance(efforts, list) and effort not in efforts:
            accepted = ", ".join(efforts) if efforts else "none (reasoning_effort is not sent)"
            self.diags.warning(
                pos,
                f"{target_id}: reasoning_effort {effort!r} is not accepted by {model}; accepted: {accepted}",
            )

    def _check_known(
        self, target_id: str, kind: str, model: str, stated: bool, caps: dict[str, Any], pos: Position
    ) -> None:
        """Warn when the capability table does not know `model`: its limits and parameters are assumed."""
        if capabilities.recognised(kind, model):
            return
        near = nearest(model.rsplit("/", 1)[-1], capabilities.KNOWN_MODELS, 3)
        closest = f" (closest known: {', '.join(near)})" if near else ""
        what = "base_model" if stated else "model"
        self.diags.warning(
            pos,
            f"{target_id}: {what} {model!r} is not in the capability table{closest}; assumed "
            f"{_assumed(caps)}; fix the name, or describe the model with base_model: or capabilities:",
        )

    def _known_provider(self, name: str, ref: Ref) -> bool:
        if name in self.config.providers:
            return True
        if name not in self.config.declared_providers:  # a declared but broken provider is already reported
            hint = did_you_mean(name, self.config.declared_providers)
            self.diags.error(ref.pos, f"unknown provider {name!r} in {ref.text!r}{hint}")
        return False

    def _resolve(self, ref: Ref) -> str | None:
        """The target id `ref` names, creating `provider/model` targets on first mention."""
        if ref.text in self.targets:
            return ref.text
        if ref.text in self.config.declared_categories:
            return None  # declared but broken: already reported
        provider_name, slash, model = ref.text.partition("/")
        if slash and provider_name and model:
            if not self._known_provider(provider_name, ref):
                return None
            self._add_target(ref.text, provider_name, model, ref.pos, None)
            return ref.text
        choices = set(self.config.declared_categories) | set(self.targets)
        hint = did_you_mean(ref.text, choices)
        self.diags.error(ref.pos, f"unknown target {ref.text!r}: not a category or provider/model{hint}")
        return None

    def _prices(self) -> dict[str, Price]:
        """The `prices:` entries whose key names a provider, a category or a declared provider's model."""
        declared = self.config.declared_providers
        known = declared | self.config.declared_categories | set(self.targets)
        prices: dict[str, Price] = {}
        for text, (key, price) in self.config.prices.items():
            provider, slash, model = text.partition("/")
            if text in known or (slash and model and provider in declared):
                prices[text] = price
            else:
                hint = did_you_mean(text, known)
                message = f"prices.{text}: not a provider, a category or provider/model{hint}"
                self.diags.error(key.pos, message)
        return prices

    # Fallbacks and chains -----------------------------------------------------------------------------

    def _fallbacks(self) -> dict[str, list[str]]:
        graph: dict[str, list[str]] = {}
        keys: dict[str, Ref] = {}
        for key, targets in self.config.fallbacks.values():
            source = self._resolve(key)
            resolved = [t for t in (self._resolve(ref) for ref in targets) if t is not None]
            if source is not None:
                graph.setdefault(source, []).extend(resolved)
                keys[source] = key
        self._report_cycles(graph, keys)
        return graph

    def _report_cycles(self, graph: dict[str, list[str]], keys: dict[str, Ref]) -> None:
        done: set[str] = set()
        for start in graph:
            path: list[str] = []
            self._visit(start, graph, keys, path, done)

    def _visit(
        self, node: str, graph: dict[str, list[str]], keys: dict[str, Ref], path: list[str], done: set[str]
    ) -> None:
        if node in path:
            cycle = path[path.index(node) :] + [node]
            self.diags.error(keys[cycle[0]].pos, f"fallback cycle: {' -> '.join(cycle)}")
            return
        if node in done:
            return
        path.append(node)
        for nxt in graph.get(node, []):
            self._visit(nxt, graph, keys, path, done)
        path.pop()
        done.add(node)

    def _route(self, spec: RouteSpec, fallbacks: dict[str, list[str]]) -> tuple[Route, Rule] | None:
        name = f"routes[{spec.index}]"
        rule = compile_rule(spec.when, f"{name}.when", self.diags) if spec.when is not None else None
        chain = [t for t in (self._resolve(ref) for ref in spec.to) if t is not None]
        if rule is None or not chain or len(chain) != len(spec.to):
            return None
        route = Route(name, rule.source, rule.when, _chain(chain, fallbacks), "config", spec.pos, spec.retry)
        return route, rule

    def _warn_unreachable(self, routes: list[tuple[Route, Rule]]) -> None:
        for i, (route, rule) in enumerate(routes):
            if rule.always_false and route.pos:
                self.diags.warning(route.pos, f"{route.name}: can never match: its condition is always false")
                continue
            for earlier, earlier_rule in routes[:i]:
                if (
                    (earlier_rule.always_true or earlier_rule.shape == rule.shape)
                    and route.pos
                    and earlier.pos
                ):
                    where = f"{earlier.pos.file}:{earlier.pos.line}"
                    self.diags.warning(
                        route.pos,
                        f"{route.name}: can never match: {earlier.name} at {where} always matches first",
                    )
                    break


def _assumed(caps: dict[str, Any]) -> str:
    """What the table assumed for a model it does not know, in a few words."""
    family = str(caps.get("family", "unknown"))
    source = f"as for {family}"
    if family == "unknown":
        source = "the defaults"
    elif family.endswith("(guessed)"):
        source = f"from the name, a {family.removesuffix(' (guessed)')} model"
    context, output = caps.get("context"), caps.get("max_output")
    facts = [
        f"context {context:,}" if context else "context unknown (explain gives no Claude Code settings)",
        f"max output {output:,}" if output else "max output unknown",
        "images" if caps.get("vision") else "no images",
        "reasoning" if caps.get("reasoning") else "no reasoning",
    ]
    return f"{source}: {', '.join(facts)}"


def _provider(spec: ProviderSpec) -> Provider:
    return Provider(
        spec.name,
        spec.kind,
        spec.api,
        spec.settings,
        spec.headers,
        spec.body,
        spec.pos,
        spec.template,
        spec.max_in_flight,
    )


def _chain(first: list[str], fallbacks: dict[str, list[str]]) -> tuple[str, ...]:
    """The `to` targets, then each member's fallbacks in turn (breadth first), each target once."""
    chain = list(dict.fromkeys(first))
    i = 0
    while i < len(chain):
        for nxt in fallbacks.get(chain[i], []):
            if nxt not in chain:
                chain.append(nxt)
        i += 1
    return tuple(chain)
