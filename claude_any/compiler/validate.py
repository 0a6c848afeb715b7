"""The config schema walk: top-level sections, server, categories, routes and fallbacks -> `Config`.

Every problem is reported with its position and the walk carries on, so one compile lists them all.
Providers are read by `providers.py`; cross-references (targets, rules, chains) are checked by `build.py`.
"""

from __future__ import annotations

import re

from claude_any.compiler.config import CategorySpec, Config, Ref, RouteSpec
from claude_any.compiler.fields import Reader
from claude_any.compiler.overrides import read_capabilities, read_params
from claude_any.compiler.pricing import read_prices
from claude_any.compiler.providers import read_provider, read_server_secret
from claude_any.compiler.resilience import read_retry, read_timeouts
from claude_any.compiler.templates import template_strings
from claude_any.compiler.usage_config import read_limits, read_usage
from claude_any.compiler.yamlpos import Mapping, Node, Scalar, Sequence
from claude_any.network import HOST_EXPECTED, is_host_name, is_loopback, origin_problem
from claude_any.suggest import closest
from claude_any.table import NamedToken, Position, Server, empty_params

TOP_KEYS = (
    "server",
    "providers",
    "model_categories",
    "routes",
    "fallbacks",
    "retry",
    "timeouts",
    "prices",
    "usage",
    "limits",
)
SERVER_KEYS = ("host", "port", "auth_token", "tokens", "max_body_mb", "allowed_origins", "max_connections")
# A token's name: shown in logs, the usage report and error messages, so plain and short.
TOKEN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
CATEGORY_KEYS = (
    "target",
    "reasoning_effort",
    "max_tokens",
    "temperature",
    "headers",
    "body",
    "base_model",
    "capabilities",
)
ROUTE_KEYS = ("when", "to", "retry")
ROUTE_REQUIRED = ("when", "to")
REQUIRED_CATEGORIES = ("large", "small")
CATEGORY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


def validate(root: Node | None, file: str, reader: Reader) -> Config:
    """Read the whole config tree into a `Config`, reporting schema problems through `reader`."""
    config = Config(file)
    start = Position(file, 1, 1)
    if root is None:
        reader.error(start, "", "the config is empty; it needs at least `providers:` and `model_categories:`")
        return config
    top = reader.mapping(root, "", TOP_KEYS)
    if top is None:
        return config
    for section in ("providers", "model_categories"):
        if top.get(section) is None:
            reader.error(top.pos, "", f"missing required section {section!r}")
    if (node := top.get("server")) is not None:
        config.server = _server(reader, node)
    if (node := top.get("retry")) is not None:
        config.retry = read_retry(reader, node, "retry", config.retry)  # before routes: they override it
    if (node := top.get("timeouts")) is not None:
        config.timeouts = read_timeouts(reader, node)
    if (node := top.get("providers")) is not None:
        _providers(reader, node, config)
    if (node := top.get("model_categories")) is not None:
        _categories(reader, node, top.key_node("model_categories") or node, config)
    if (node := top.get("routes")) is not None:
        _routes(reader, node, config)
    if (node := top.get("fallbacks")) is not None:
        _fallbacks(reader, node, config)
    if (node := top.get("prices")) is not None:
        config.prices = read_prices(reader, node)
    if (node := top.get("usage")) is not None:
        config.usage = read_usage(reader, node, file)
    if (node := top.get("limits")) is not None:  # after `server:`: its keys are server.tokens names
        config.limits = read_limits(reader, node, config.server.tokens)
        if config.limits and not config.usage.enabled:
            reader.error(
                node.pos, "limits", "budgets are counted in the usage ledger; remove usage.enabled: false"
            )
    return config


def _server(reader: Reader, node: Node) -> Server:
    server = reader.mapping(node, "server", SERVER_KEYS)
    if server is None:
        return Server()
    host, port, token, max_body_mb = Server().host, Server().port, None, Server().max_body_mb
    if (child := server.get("host")) is not None:
        written = reader.string(child, "server.host")
        if written is not None and not is_host_name(written):
            reader.error(child.pos, "server.host", f"{written!r} is not an address; {HOST_EXPECTED}")
        elif written is not None:
            host = written
    if (child := server.get("port")) is not None:
        port = reader.integer(child, "server.port", 1, 65535) or port
    if (child := server.get("max_body_mb")) is not None:
        max_body_mb = reader.integer(child, "server.max_body_mb", 1, 1024) or max_body_mb
    max_connections = Server().max_connections
    if (child := server.get("max_connections")) is not None:
        max_connections = reader.integer(child, "server.max_connections", 1, 1_000_000) or max_connections
    origins = _origins(reader, child) if (child := server.get("allowed_origins")) is not None else ()
    token_node = server.get("auth_token")
    if token_node is not None and not (isinstance(token_node, Scalar) and token_node.value is None):
        token = reader.string(token_node, "server.auth_token")
        if token is not None and isinstance(token_node, Scalar):
            read_server_secret(reader, token_node, "server.auth_token")
    named = _named_tokens(reader, child) if (child := server.get("tokens")) is not None else ()
    host_node = server.get("host")
    if host_node is not None and token is None and not named and not is_loopback(host):
        reader.error(
            host_node.pos,
            "server.host",
            f"refusing to expose the gateway on {host} without server.auth_token or server.tokens; "
            "set auth_token: ${CLAUDE_ANY_TOKEN} or bind 127.0.0.1",
        )
    return Server(
        host=host,
        port=port,
        auth_token=token,
        max_body_mb=max_body_mb,
        allowed_origins=origins,
        max_connections=max_connections,
        auth_token_pos=token_node.pos if token is not None and token_node is not None else None,
        tokens=named,
    )


def _named_tokens(reader: Reader, node: Node) -> tuple[NamedToken, ...]:
    """`server.tokens`: name -> token, one per person."""
    if not isinstance(node, Mapping):
        reader.wrong_type(node, "server.tokens", "a mapping of names to tokens, e.g. {alice: ${ALICE_TOKEN}}")
        return ()
    named: list[NamedToken] = []
    for key, value in node.items:
        path = f"server.tokens.{key.text}"
        if not TOKEN_NAME.fullmatch(key.text):
            reader.error(
                key.pos,
                path,
                f"{key.text!r} is not a token name: 1 to 64 letters, digits and . _ @ -, starting with a "
                "letter or digit",
            )
            continue
        text = reader.string(value, path)
        if text is None or not isinstance(value, Scalar):
            continue
        variable = re.sub(r"[^A-Za-z0-9]", "_", key.text).upper() + "_TOKEN"
        read_server_secret(reader, value, path, variable)
        named.append(NamedToken(key.text, text, value.pos))
    return tuple(named)


def _origins(reader: Reader, node: Node) -> tuple[str, ...]:
    """`server.allowed_origins`: web origins as browsers send them, lower case, each once."""
    origins: list[str] = []
    if isinstance(node, Sequence) and not node.items:
        return ()  # `allowed_origins: []`: none, as when it is left out
    for text, item in reader.string_list(node, "server.allowed_origins"):
        problem = origin_problem(text)
        if problem is not None:
            reader.error(item.pos, "server.allowed_origins", f"{text!r}: {problem}")
        elif text.lower() not in origins:
            origins.append(text.lower())
    return tuple(origins)


def _providers(reader: Reader, node: Node, config: Config) -> None:
    if not isinstance(node, Mapping):
        reader.wrong_type(node, "providers", "a mapping of provider names")
        return
    if not node.items:
        reader.error(node.pos, "providers", "declare at least one provider")
    for key, value in node.items:
        config.declared_providers.add(key.text)
        spec = read_provider(reader, key, value)
        if spec is not None:
            config.providers[key.text] = spec


def _categories(reader: Reader, node: Node, owner: Node, config: Config) -> None:
    if not isinstance(node, Mapping):
        reader.wrong_type(node, "model_categories", "a mapping of category names to provider/model")
        return
    present = [key.text for key, _ in node.items if key.text not in REQUIRED_CATEGORIES]
    for name in REQUIRED_CATEGORIES:
        if node.get(name) is None:
            close = closest(name, present)
            hint = f"; is {close!r} meant to be {name!r}?" if close is not None else ""
            reader.error(owner.pos, "model_categories", f"missing required category {name!r}{hint}")
    for key, value in node.items:
        config.declared_categories.add(key.text)
        path = f"model_categories.{key.text}"
        if not CATEGORY_NAME.fullmatch(key.text):
            reader.error(key.pos, path, "category names are letters, digits, '_', '-' and '.' (no '/')")
            continue
        spec = _category(reader, key, value, path)
        if spec is not None:
            config.categories[key.text] = spec


def _category(reader: Reader, key: Scalar, node: Node, path: str) -> CategorySpec | None:
    if isinstance(node, Mapping):
        reader.mapping(node, path, CATEGORY_KEYS, ("target",), owner=key)
        target_node = node.get("target")
        target = _model_ref(reader, target_node, f"{path}.target") if target_node is not None else None
        base_node, caps_node = node.get("base_model"), node.get("capabilities")
        base = reader.string(base_node, f"{path}.base_model") if base_node is not None else None
        caps = read_capabilities(reader, caps_node, f"{path}.capabilities") if caps_node is not None else {}
        params = read_params(reader, node, path)
        strings = template_strings(node.get("headers"), f"{path}.headers")
        strings |= template_strings(node.get("body"), f"{path}.body")
    elif isinstance(node, Scalar):
        target, base, caps, params, strings = _model_ref(reader, node, path), None, {}, empty_params(), {}
    else:
        reader.wrong_type(node, path, "provider/model or a mapping with `target:`")
        return None
    if target is None:
        return None
    return CategorySpec(key.text, target, base, caps, params, key.pos, strings)


def _model_ref(reader: Reader, node: Node, path: str) -> Ref | None:
    text = reader.string(node, path)
    if text is None:
        return None
    provider, slash, model = text.partition("/")
    if not slash or not provider or not model:
        reader.error(node.pos, path, f"expected provider/model (like openai/gpt-4o), got {text!r}")
        return None
    return Ref(text, node.pos)


def _routes(reader: Reader, node: Node, config: Config) -> None:
    if not isinstance(node, Sequence):
        reader.wrong_type(node, "routes", "a list of rules (`- when: …` / `to: …`)")
        return
    for index, item in enumerate(node.items):
        path = f"routes[{index}]"
        rule = reader.mapping(item, path, ROUTE_KEYS, ROUTE_REQUIRED)
        if rule is None:
            continue
        when = _when(reader, rule.get("when"), f"{path}.when")
        to_node = rule.get("to")
        to = [Ref(text, n.pos) for text, n in reader.string_list(to_node, f"{path}.to")] if to_node else []
        retry_node = rule.get("retry")
        retry = (
            read_retry(reader, retry_node, f"{path}.retry", config.retry) if retry_node is not None else None
        )
        config.routes.append(RouteSpec(index, when, to, item.pos, retry))


def _when(reader: Reader, node: Node | None, path: str) -> Scalar | None:
    if node is None:
        return None
    # `when: true` is YAML's boolean; the expression is the text as written.
    if isinstance(node, Scalar) and node.style is None and isinstance(node.value, bool | int | float):
        return node
    if reader.string(node, path) is None:
        return None
    return node if isinstance(node, Scalar) else None


def _fallbacks(reader: Reader, node: Node, config: Config) -> None:
    if not isinstance(node, Mapping):
        reader.wrong_type(node, "fallbacks", "a mapping of target to a list of targets")
        return
    for key, value in node.items:
        targets = [Ref(text, n.pos) for text, n in reader.string_list(value, f"fallbacks.{key.text}")]
        config.fallbacks[key.text] = (Ref(key.text, key.pos), targets)
