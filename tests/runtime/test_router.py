"""The router: direct target ids, `[1m]`, ad-hoc provider/model, first matching route, NoRoute, explain."""

from __future__ import annotations

from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion

from claude_any.runtime.route.facts import facts_from_request
from claude_any.runtime.route.router import (
    MAX_AD_HOC_MODEL_CHARS,
    Decision,
    NoRoute,
    Router,
    strip_context_suffix,
)
from claude_any.runtime.route.rules import RuleError
from claude_any.table import Provider, Route, RoutingTable, Server, Target

SPAN = [0, 1]


def fact(name: str) -> dict[str, Any]:
    return {"op": "fact", "name": name, "span": SPAN}


def lit(value: Any) -> dict[str, Any]:
    return {"op": "lit", "value": value, "span": SPAN}


def cmp(op: str, left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    return {"op": op, "left": left, "right": right, "span": SPAN}


def route(name: str, source: str, when: dict[str, Any], *chain: str, origin: str = "config") -> Route:
    return Route(name=name, source=source, when=when, chain=chain, origin=origin)


def target(tid: str, provider: str, model: str) -> Target:
    return Target(id=tid, provider=provider, model=model, base_model=model, capabilities={})


def provider(name: str, kind: str) -> Provider:
    return Provider(name=name, kind=kind, api="chat", settings={})


TABLE = RoutingTable(
    source="config.yaml",
    server=Server(),
    providers={"openai": provider("openai", "openai"), "azure": provider("azure", "azure")},
    targets={
        "large": target("large", "openai", "gpt-4o"),
        "small": target("small", "openai", "gpt-4o-mini"),
        "long": target("long", "azure", "gpt-4-1"),
        "openai/o3": target("openai/o3", "openai", "o3"),
    },
    routes=(
        route("routes[0]", "tokens > 100k", cmp(">", fact("tokens"), lit(100_000)), "long", "large"),
        route(
            "routes[1]",
            'thinking and family == "opus"',
            {"op": "and", "args": [fact("thinking"), cmp("==", fact("family"), lit("opus"))], "span": SPAN},
            "openai/o3",
            "large",
        ),
        route("routes[2]", '"WebSearch" in tools', cmp("in", lit("WebSearch"), fact("tools")), "large"),
        route(
            "default: haiku",
            'family == "haiku"',
            cmp("==", fact("family"), lit("haiku")),
            "small",
            origin="default",
        ),
        route(
            "default: sonnet/opus",
            'family == "sonnet" or family == "opus"',
            {
                "op": "or",
                "args": [cmp("==", fact("family"), lit("sonnet")), cmp("==", fact("family"), lit("opus"))],
                "span": SPAN,
            },
            "large",
            origin="default",
        ),
    ),
)
ROUTER = Router(TABLE)


def body(model: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "max_tokens": 1024, "messages": [{"role": "user", "content": "hi"}], **extra}


def pick(model: str, **extra: Any) -> Decision:
    return ROUTER.pick(body(model, **extra), {})


def test_default_routes_by_family() -> None:
    haiku = pick("claude-haiku-4-5")
    assert (haiku.route and haiku.route.name, haiku.chain) == ("default: haiku", ("small",))
    sonnet = pick("claude-sonnet-4-5")
    assert (sonnet.route and sonnet.route.name, sonnet.chain) == ("default: sonnet/opus", ("large",))
    assert sonnet.reason == 'default: sonnet/opus: family == "sonnet" or family == "opus"'
    assert sonnet.facts.family == "sonnet"


def test_first_matching_route_wins() -> None:
    # Both routes[1] (thinking opus) and the opus default match; the earlier one wins.
    opus = pick("claude-opus-4-6", thinking={"type": "adaptive"})
    assert opus.route is not None and opus.route.name == "routes[1]"
    assert opus.chain == ("openai/o3", "large")
    # A long opus prompt matches routes[0] first.
    long = pick(
        "claude-opus-4-6",
        thinking={"type": "adaptive"},
        messages=[{"role": "user", "content": "x y " * 150_000}],
    )
    assert long.route is not None and long.route.name == "routes[0]"
    assert long.chain == ("long", "large")


def test_tools_route_before_defaults() -> None:
    decision = pick("claude-haiku-4-5", tools=[{"name": "WebSearch", "input_schema": {}}])
    assert decision.route is not None and decision.route.name == "routes[2]"


@pytest.mark.parametrize("model", ["large", "large[1m]", "large[1M]"])
def test_target_id_is_used_directly(model: str) -> None:
    decision = pick(model)
    assert decision.route is None
    assert decision.chain == ("large",)
    assert "large" in decision.reason


def test_declared_provider_model_target_is_direct() -> None:
    decision = pick("openai/o3")
    assert (decision.route, decision.chain) == (None, ("openai/o3",))


def test_provider_model_of_a_declared_provider_is_ad_hoc() -> None:
    decision = pick("azure/my-deployment[1m]")
    assert decision.route is None
    assert decision.chain == ("azure/my-deployment",)
    assert "provider 'azure'" in decision.reason


def test_unknown_provider_falls_through_to_the_rules() -> None:
    with pytest.raises(NoRoute):
        pick("mistral/large")
    decision = pick("bedrock/claude-sonnet-4-5")  # the family still says sonnet
    assert decision.route is not None and decision.route.name == "default: sonnet/opus"


def test_no_route(snapshot: SnapshotAssertion) -> None:
    with pytest.raises(NoRoute) as info:
        pick("gpt-9")
    err = info.value
    assert err.model == "gpt-9"
    assert err.routable == ["large", "long", "small", "openai/o3", "azure/<model>", "openai/<model>"]
    assert str(err).startswith("model 'gpt-9' matches no route; routable: large, long, small, openai/o3")
    assert str(err) == snapshot


def test_ad_hoc_target_uses_capabilities() -> None:
    capabilities = pytest.importorskip("claude_any.capabilities")
    built = ROUTER.ad_hoc_target("openai/gpt-4o-mini")
    assert (built.id, built.provider, built.model, built.base_model) == (
        "openai/gpt-4o-mini",
        "openai",
        "gpt-4o-mini",
        "gpt-4o-mini",
    )
    assert built.capabilities == capabilities.lookup("openai", "gpt-4o-mini")
    assert ROUTER.ad_hoc_target("openai/gpt-4o-mini") == built  # kept by targets.Destinations, not here


def test_an_ad_hoc_model_name_longer_than_any_real_one_is_refused() -> None:
    assert pick("openai/" + "m" * MAX_AD_HOC_MODEL_CHARS).chain == ("openai/" + "m" * MAX_AD_HOC_MODEL_CHARS,)
    with pytest.raises(NoRoute) as info:
        pick("openai/" + "m" * (MAX_AD_HOC_MODEL_CHARS + 1))
    assert str(info.value) == (
        f"model 'openai/…' names a model of {MAX_AD_HOC_MODEL_CHARS + 1} characters; "
        f"a model name after 'openai/' is at most {MAX_AD_HOC_MODEL_CHARS} characters"
    )


@pytest.mark.parametrize("bad", ["nope/model", "openai", "openai/", "/gpt-4o"])
def test_ad_hoc_target_needs_a_declared_provider(bad: str) -> None:
    with pytest.raises(KeyError):
        ROUTER.ad_hoc_target(bad)


def test_explain_traces_every_route() -> None:
    traces = ROUTER.explain(body("claude-opus-4-6", thinking={"type": "enabled", "budget_tokens": 2048}), {})
    assert [t.route.name for t in traces] == [r.name for r in TABLE.routes]
    assert [t.matched for t in traces] == [False, True, False, False, True]
    assert [t.chosen for t in traces] == [False, True, False, False, False]
    tokens_read = dict(traces[0].reads)["tokens"]
    assert isinstance(tokens_read, int) and 0 < tokens_read < 100
    assert traces[1].reads == (("thinking", True), ("family", "opus"))
    assert traces[2].reads == (("tools", ()),)


def test_explain_when_nothing_matches() -> None:
    traces = ROUTER.explain(body("gpt-9"), {})
    assert not any(t.matched or t.chosen for t in traces)


def test_malformed_route_fails_at_startup() -> None:
    broken = RoutingTable(
        source="x",
        server=Server(),
        providers={},
        targets={},
        routes=(route("routes[0]", "?", {"op": "fact", "name": "nope"}),),
    )
    with pytest.raises(RuleError):
        Router(broken)


@pytest.mark.parametrize(
    ("model", "stripped"),
    [("claude-sonnet-4-5[1m]", "claude-sonnet-4-5"), ("x[1M]", "x"), ("plain", "plain"), ("[1m]x", "[1m]x")],
)
def test_strip_context_suffix(model: str, stripped: str) -> None:
    assert strip_context_suffix(model) == stripped


def test_odd_request_bodies_route_or_raise_no_route() -> None:
    odd_bodies: list[Any] = [None, [], {"model": 3}, {"messages": "x"}]
    for odd in odd_bodies:
        with pytest.raises(NoRoute):
            ROUTER.pick(odd, {})


def test_decide_and_trace_take_prepared_facts() -> None:
    facts = facts_from_request(body("claude-sonnet-4-5"), {})
    facts.__dict__["tokens"] = 200_000  # what explain --tokens does: pre-seed the lazy fact
    decision = ROUTER.decide(facts)
    assert decision.route is not None and decision.route.name == "routes[0]"
    traces = ROUTER.trace(facts)
    assert traces[0].chosen and traces[0].reads == (("tokens", 200_000),)
    assert ROUTER.pick(body("claude-sonnet-4-5"), {}).route == TABLE.routes[4]
