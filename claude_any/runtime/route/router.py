"""Which targets serve a request: the run-time routing of docs/ARCHITECTURE.md ("Routing at run time").

1. the model (a trailing `[1m]` stripped) names a target id, or is the id `/v1/models` lists for one
   (`claude-any/<target id>`) -> that target;
2. it is `provider/model` for a declared provider -> an ad-hoc target built on first use;
3. else the routes in order, first match wins (a Claude model of a family no rule names is logged);
4. else NoRoute, naming the model and what is routable.

Every rule is compiled once in `Router.__init__`: a malformed routes.json fails at start-up, not per request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from claude_any.runtime.memo import LRU
from claude_any.runtime.route import rules
from claude_any.runtime.route.facts import Facts, facts_from_request
from claude_any.runtime.route.rules import Value
from claude_any.runtime.route.tokens import SessionScale
from claude_any.table import OTHER_CLAUDE_DEFAULT, Route, RoutingTable, Target, empty_params

logger = logging.getLogger("claude_any")

_ONE_M_SUFFIX = "[1m]"  # Claude Code's marker for the 1M-token context variant of a model
# Claude Code keeps only discovered ids containing `claude` or `anthropic`, so /v1/models lists each target
# under this prefix, and the router takes it back off.
LISTED_PREFIX = "claude-any/"
# Real model and deployment names are under 100 characters (Azure's at most 64). A longer name after a
# declared `provider/` is refused: it would reach the upstream URL and the caches keyed by target id.
MAX_AD_HOC_MODEL_CHARS = 256
LOGGED_MODELS = 256  # models of a family no rule names, remembered so each is logged once


class NoRoute(Exception):
    """No target serves this model; the message names the model and lists what is routable (or says `why`)."""

    def __init__(
        self, model: str, routable: list[str], rules: list[str] | None = None, why: str | None = None
    ) -> None:
        self.model = model
        self.routable = routable
        self.rules = rules or []
        self.why = why
        listed = ", ".join(routable) if routable else "nothing"
        if self.rules:
            listed += "; or a request matching one of: " + "; ".join(self.rules)
        super().__init__(why or f"model '{model}' matches no route; routable: {listed}")


@dataclass(frozen=True)
class Decision:
    """Where a request goes and why."""

    facts: Facts
    route: Route | None  # None when the model named a target (or provider/model) directly
    chain: tuple[str, ...]  # target ids, tried in order
    reason: str


@dataclass(frozen=True)
class RuleTrace:
    """One route as explain shows it: did it match, and which facts (with values) did it look at."""

    route: Route
    matched: bool
    reads: tuple[tuple[str, Value], ...]
    chosen: bool  # the first match: the route `pick` would use (if the model is not a target id)


def listed_id(target_id: str) -> str:
    """The id /v1/models lists for a target: `large` -> `claude-any/large`."""
    return LISTED_PREFIX + target_id


def strip_context_suffix(model: str) -> str:
    """`claude-sonnet-4-5[1m]` -> `claude-sonnet-4-5`; other names unchanged."""
    if model.lower().endswith(_ONE_M_SUFFIX):
        return model[: -len(_ONE_M_SUFFIX)]
    return model


class Router:
    """Routes requests over one RoutingTable; build once at start-up."""

    def __init__(self, table: RoutingTable, sessions: SessionScale | None = None) -> None:
        self.table = table
        self.sessions = sessions  # scales the `tokens` fact by what the provider counted per session
        # Models already logged as sent to the catch-all default: one line per model, not per request.
        self.logged_models: LRU[str, bool] = LRU(LOGGED_MODELS, 64_000, len)
        self._routes: tuple[tuple[Route, Callable[[Facts], bool]], ...] = tuple(
            (route, rules.compile_rule(route.when)) for route in table.routes
        )
        # For NoRoute: the rules about the model name (reading model or family) tell a client what to send.
        self._name_rules = [
            r.source for r in table.routes if {"model", "family"} & set(rules.referenced(r.when))
        ]

    def pick(self, body: Any, headers: Mapping[str, str]) -> Decision:
        """The decision for one request; raises NoRoute when nothing serves its model."""
        decision = self.decide(facts_from_request(body, headers, self.sessions))
        if decision.route is not None and decision.route.name == OTHER_CLAUDE_DEFAULT:
            self._log_unnamed_family(decision)
        return decision

    def decide(self, facts: Facts) -> Decision:
        """`pick` for facts already read (explain overrides some of them, e.g. --tokens)."""
        direct = self._direct(facts)
        if direct is not None:
            return direct
        for route, matches in self._routes:
            if matches(facts):
                return Decision(facts, route, route.chain, f"{route.name}: {route.source}")
        raise NoRoute(facts.model, self.routable(), self._name_rules)

    def _log_unnamed_family(self, decision: Decision) -> None:
        model = decision.facts.model
        if model in self.logged_models:
            return
        self.logged_models.put(model, True)
        family = decision.facts.family
        logger.warning(
            "model %r (family %r) is named by no rule: sent to %s by the built-in default; a route such as "
            '`when: family == "%s"` chooses its target',
            model[:200],
            family,
            " -> ".join(decision.chain),
            family,
        )

    def explain(self, body: Any, headers: Mapping[str, str]) -> list[RuleTrace]:
        """Every route in order: whether it matches this request and the facts it read."""
        return self.trace(facts_from_request(body, headers))

    def trace(self, facts: Facts) -> list[RuleTrace]:
        """`explain` for facts already read."""
        out: list[RuleTrace] = []
        chosen = False
        for route, _ in self._routes:
            seen = rules.trace(route.when, facts)
            first = seen.result and not chosen
            chosen = chosen or seen.result
            out.append(RuleTrace(route, seen.result, seen.reads, first))
        return out

    def routable(self) -> list[str]:
        """Target ids (categories first), then `provider/<model>` for each declared provider."""
        ids = sorted(self.table.targets, key=lambda tid: ("/" in tid, tid))
        return ids + [f"{name}/<model>" for name in sorted(self.table.providers)]

    def ad_hoc_target(self, target_id: str) -> Target:
        """A Target for an undeclared `provider/model` id of a declared provider (capabilities looked up).

        Not kept here: `targets.Destinations` keeps what it builds from it, within its bounds."""
        provider_name, sep, model = target_id.partition("/")
        provider = self.table.providers.get(provider_name)
        if not sep or not model or provider is None:
            raise KeyError(f"'{target_id}' is not provider/model for a declared provider")
        # Imported here so the router (and its tests) stand without the capability table loaded.
        from claude_any.capabilities import lookup
        from claude_any.provider_kinds import kind_named, settled_api

        caps = lookup(provider.kind, model, provider.settings.get("base_url"))
        # routes.json does not say whether `api: chat` was written or defaulted: a Responses-only model
        # goes to the Responses API, since chat cannot serve it anyway.
        api = settled_api(
            kind_named(provider.kind), provider.api, provider.api, bool(caps.get("responses_only"))
        )
        return Target(
            id=target_id,
            provider=provider_name,
            model=model,
            base_model=model,
            capabilities=caps,
            params=empty_params(),
            api=api,
        )

    def _direct(self, facts: Facts) -> Decision | None:
        model = strip_context_suffix(facts.model)
        target = self.table.targets.get(model)
        if target is None and model.startswith(LISTED_PREFIX):
            target = self.table.targets.get(model[len(LISTED_PREFIX) :])
            if target is not None:
                model = target.id
            elif LISTED_PREFIX[:-1] not in self.table.providers:  # else: provider/model, below
                listed = ", ".join(listed_id(tid) for tid in self.table.targets)
                why = f"model '{facts.model[:200]}' is not a target of this gateway; listed: {listed}"
                raise NoRoute(facts.model, self.routable(), why=why)
        if target is not None:
            chain = (model, *(f for f in target.fallbacks if f != model))
            return Decision(facts, None, chain, f"model '{model}' is a target")
        provider, sep, name = model.partition("/")
        if sep and name and provider in self.table.providers:
            if len(name) > MAX_AD_HOC_MODEL_CHARS:
                why = (
                    f"model '{provider}/…' names a model of {len(name)} characters; a model name after "
                    f"'{provider}/' is at most {MAX_AD_HOC_MODEL_CHARS} characters"
                )
                raise NoRoute(model, self.routable(), why=why)
            return Decision(facts, None, (model,), f"model '{model}' names provider '{provider}' directly")
        return None
