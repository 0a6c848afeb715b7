"""`claude-any doctor`: every target (or one) checked live, through the gateway's own code.

For each target: its credential, a tiny request, a streamed one, a forced tool call and its result, the
reasoning parameter where the model takes one, and the context the provider reports where it says one. Each
request is served as `run` serves it: the gateway's app is built in-process for that target alone (no
fallbacks, one try), and the request goes through its routing, translation, credentials and provider client.
A failure is shown with the provider's message (secrets already replaced by `***`) and the likely fix.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
from starlette.applications import Starlette

from claude_any import secrets
from claude_any.provider_kinds import Auth, kind_named
from claude_any.runtime.call.credentials import CredentialError
from claude_any.runtime.call.targets import Destination, StartupError
from claude_any.runtime.route.router import Router
from claude_any.runtime.scrub import Scrubber
from claude_any.runtime.serve.app import create_app
from claude_any.table import Provider, RetryPolicy, RoutingTable, Target

CHECKS = ("credential", "request", "stream", "tools", "reasoning", "context")
INTRO = (
    "claude-any doctor: checks each target live, with a few small requests (a few dozen tokens each; a "
    "reasoning model also thinks a little)."
)
REQUEST_TIMEOUT_S = 180.0  # a reasoning model may think a while; a guard, not a measure
CONTEXT_FIELDS = ("max_model_len", "context_length", "context_window", "max_context_length")
TOOL = {
    "name": "record_answer",
    "description": "Records the answer.",
    "input_schema": {
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
    },
}
_ASK = "Reply with the single word OK."
_BASE = "http://127.0.0.1"  # the in-process app is reached by no socket; a loopback Host passes its guard

OK, FAIL, SKIP = "ok", "FAIL", "skip"


@dataclass
class Check:
    """One check of one target: its outcome, how long it took, and for a failure what was said and the fix."""

    name: str
    status: str  # ok | FAIL | skip
    seconds: float | None = None
    detail: str = ""
    fix: str = ""

    @property
    def cell(self) -> str:
        return self.status if self.seconds is None else f"{self.status} {self.seconds:.2f}s"


@dataclass
class Report:
    """Every check of one target."""

    target: str
    upstream: str  # provider/model
    checks: list[Check] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(check.status == FAIL for check in self.checks)


class _Failed(Exception):
    """A check's request failed: the gateway's answer (status, error type, message)."""

    def __init__(self, status: int, type_: str, message: str) -> None:
        super().__init__(message)
        self.status, self.type, self.message = status, type_, message


def alone(table: RoutingTable, target: Target) -> RoutingTable:
    """A table with only `target` and its provider: no fallbacks, one try, no inbound token."""
    provider = table.providers[target.provider]
    return replace(
        table,
        providers={provider.name: provider},
        targets={target.id: replace(target, fallbacks=())},
        routes=(),
        retry=RetryPolicy(attempts=1),
        server=replace(table.server, auth_token=None, tokens=()),
    )


def targets_of(table: RoutingTable, only: str | None) -> list[Target]:
    """The table's targets, or the one named (a target id, or `provider/model` of a declared provider);
    KeyError naming what is there when it is neither."""
    if only is None:
        return list(table.targets.values())
    if only in table.targets:
        return [table.targets[only]]
    try:
        return [Router(table).ad_hoc_target(only)]
    except KeyError:
        raise KeyError(f"no target {only!r}; targets: {', '.join(table.targets)}") from None


async def diagnose(
    table: RoutingTable,
    env: Mapping[str, str],
    targets: list[Target],
    on_report: Callable[[Report], None] | None = None,
) -> list[Report]:
    """Check each target in turn; the gateway's own warnings are held back while it runs (the report
    says what failed)."""
    gateway_log = logging.getLogger("claude_any")
    level = gateway_log.level
    gateway_log.setLevel(logging.ERROR)
    reports = []
    try:
        for target in targets:
            report = await _diagnose_one(table, env, target)
            reports.append(report)
            if on_report is not None:
                on_report(report)
    finally:
        gateway_log.setLevel(level)
    return reports


async def _diagnose_one(table: RoutingTable, env: Mapping[str, str], target: Target) -> Report:
    provider = table.providers[target.provider]
    report = Report(target.id, f"{provider.name}/{target.model}")
    scrub = Scrubber.for_table(table, env)
    try:
        app = create_app(alone(table, target), env)
    except StartupError as exc:
        report.checks.append(Check("credential", FAIL, None, scrub(str(exc)), _setup_fix(str(exc))))
        report.checks += [Check(name, SKIP) for name in CHECKS[1:]]
        return report
    destination = app.state.gateway.destinations.get(target.id)
    if kind_named(provider.kind).in_process:
        report.checks.append(Check("credential", OK, None, "none needed: answered in-process"))
        report.checks += [Check(name, SKIP, None, "in-process") for name in CHECKS[1:]]
        return report
    async with app.router.lifespan_context(app), _client(app) as client:
        probe = _Probe(client, destination, provider, target, scrub)
        report.checks.append(await probe.credential())
        for name in CHECKS[1:]:
            if any(check.status == FAIL for check in report.checks[:2]):  # the others would fail alike
                report.checks.append(Check(name, SKIP, None, "after a failure above"))
            else:
                report.checks.append(await getattr(probe, name)())
    return report


def _client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=_BASE, timeout=REQUEST_TIMEOUT_S
    )


class _Probe:
    """The checks of one target, against its in-process gateway."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        destination: Destination,
        provider: Provider,
        target: Target,
        scrub: Scrubber,
    ) -> None:
        self.client, self.destination, self.provider, self.target, self.scrub = (
            client,
            destination,
            provider,
            target,
            scrub,
        )
        self.auth: Auth | None = kind_named(provider.kind).auth_for(provider.settings)

    async def _timed(self, name: str, run: Callable[[], Awaitable[str]]) -> Check:
        started = time.perf_counter()
        try:
            detail = await run()
        except _Failed as failed:
            message = self.scrub(failed.message)
            shown = f"HTTP {failed.status} {failed.type}: {message}" if failed.status else message
            fix = advice(name, failed.status, message, self.provider, self.target, self.auth)
            return Check(name, FAIL, time.perf_counter() - started, shown, fix)
        return Check(name, OK, time.perf_counter() - started, detail)

    async def _post(self, **fields: Any) -> httpx.Response:
        """POST /v1/messages for this target; a `_Failed` for anything but a 200."""
        response = await self.client.post(
            "/v1/messages", json={"model": self.target.id, "max_tokens": 64, **fields}
        )
        if response.status_code != 200:
            raise _failure(response.status_code, _json(response))
        return response

    async def _message(self, **fields: Any) -> dict[str, Any]:
        return _json(await self._post(**fields))

    async def credential(self) -> Check:
        credential = self.destination.credential
        if credential is None:
            named = _key_variables(self.provider)
            return Check("credential", OK, None, f"key from {', '.join(named)}" if named else "no key")
        started = time.perf_counter()
        try:
            await credential.headers()
        except CredentialError as exc:
            detail = self.scrub(f"no {exc.auth.description} could be had: {exc.detail}")
            return Check("credential", FAIL, time.perf_counter() - started, detail, exc.login)
        return Check("credential", OK, time.perf_counter() - started, credential.description)

    async def request(self) -> Check:
        async def run() -> str:
            message = await self._message(messages=[{"role": "user", "content": _ASK}])
            return _usage(message.get("usage"))

        return await self._timed("request", run)

    async def stream(self) -> Check:
        async def run() -> str:
            response = await self._post(stream=True, messages=[{"role": "user", "content": _ASK}])
            events = _events(response.text)
            for name, data in events:
                if name == "error":  # after the first byte a failure is an event, not a status
                    raise _failure(0, data)
            if not events or events[-1][0] != "message_stop":
                raise _Failed(0, "", "the stream ended before the provider finished")
            usage: dict[str, Any] = {}
            for name, data in events:
                if name == "message_start" and isinstance(data.get("message"), dict):
                    usage |= data["message"].get("usage") or {}
                elif name == "message_delta":
                    usage |= data.get("usage") or {}
            return _usage(usage)

        return await self._timed("stream", run)

    async def tools(self) -> Check:
        async def run() -> str:
            ask = [{"role": "user", "content": "Record the answer OK with the record_answer tool."}]
            called = await self._message(
                messages=ask, tools=[TOOL], tool_choice={"type": "tool", "name": TOOL["name"]}, max_tokens=256
            )
            uses = [b for b in called.get("content", []) if b.get("type") == "tool_use"]
            if not uses:
                raise _Failed(0, "", "the model answered without calling the tool it was told to call")
            result = {"type": "tool_result", "tool_use_id": uses[0]["id"], "content": "recorded"}
            turn = [*ask, {"role": "assistant", "content": called["content"]}]
            await self._message(messages=[*turn, {"role": "user", "content": [result]}], tools=[TOOL])
            return f"{TOOL['name']} called, its result answered"

        return await self._timed("tools", run)

    async def reasoning(self) -> Check:
        efforts = self.target.capabilities.get("efforts") or []
        if not efforts:
            return Check("reasoning", SKIP, None, "the model takes no reasoning parameter")

        async def run() -> str:
            await self._message(
                messages=[{"role": "user", "content": _ASK}],
                thinking={"type": "enabled", "budget_tokens": 1024},
                max_tokens=2048,
            )
            return "reasoning_effort accepted"

        return await self._timed("reasoning", run)

    async def context(self) -> Check:
        base_url = self.provider.settings.get("base_url")
        if self.provider.kind != "openai" or not isinstance(base_url, str):
            return Check("context", SKIP, None, "this provider does not report it")
        started = time.perf_counter()
        reported = await self._reported_context(base_url)
        seconds = time.perf_counter() - started
        if reported is None:
            return Check("context", SKIP, seconds, "not reported by the provider")
        assumed = self.target.capabilities.get("context")
        if isinstance(assumed, int) and assumed > reported:
            fix = (
                f"the gateway assumes {assumed:,} tokens of context but the provider serves {reported:,}: "
                f"add capabilities: {{context: {reported}}} to the target, so Claude Code compacts in time"
            )
            return Check(
                "context", FAIL, seconds, f"provider reports {reported:,}, table says {assumed:,}", fix
            )
        return Check("context", OK, seconds, f"{reported:,} tokens")

    async def _reported_context(self, base_url: str) -> int | None:
        """What an OpenAI-compatible server's model list says of this model's context (vLLM, OpenRouter,
        LM Studio and others say it under one of `CONTEXT_FIELDS`); None when it says nothing."""
        headers = {k: v for k, v in self.destination.prepared.headers.items()}
        if self.destination.credential is not None:
            headers |= await self.destination.credential.headers()
        try:
            async with httpx.AsyncClient(timeout=30, trust_env=True) as client:
                response = await client.get(f"{base_url}/models", headers=headers)
            data = response.json()
        except (httpx.HTTPError, ValueError):
            return None
        entries = data.get("data") if isinstance(data, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and entry.get("id") == self.target.model:
                for name in CONTEXT_FIELDS:
                    value = entry.get(name)
                    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                        return value
        return None


def _failure(status: int, data: dict[str, Any]) -> _Failed:
    """The gateway's error envelope (or an `event: error`'s data) as a failed check's cause."""
    error = data.get("error")
    error = error if isinstance(error, dict) else {}
    return _Failed(status, str(error.get("type", "")), str(error.get("message", "")))


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _events(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for frame in text.split("\n\n"):
        name, data = "", None
        for line in frame.splitlines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                try:
                    data = json.loads(line[5:])
                except ValueError:
                    data = None
        if name and isinstance(data, dict):
            events.append((name, data))
    return events


def _usage(usage: Any) -> str:
    if not isinstance(usage, dict):
        return ""
    return f"{usage.get('input_tokens', '?')} in / {usage.get('output_tokens', '?')} out tokens"


def _key_variables(provider: Provider) -> list[str]:
    """The `${VAR}`s a provider's credential settings name (never their values)."""
    kind = kind_named(provider.kind)
    return [
        f"${{{name}}}"
        for key, value in provider.settings.items()
        if kind.is_secret(key) and isinstance(value, str)
        for name in secrets.references(value)
    ]


def _setup_fix(message: str) -> str:
    if "is not set" in message:
        return "export the variable, then run doctor again"
    if "pip install" in message:
        return "install the extra it names"
    return ""


def advice(
    check: str, status: int, message: str, provider: Provider, target: Target, auth: Auth | None
) -> str:
    """The likely fix for a failed check, from the gateway's status and the provider's message."""
    lowered = message.lower()
    settings = provider.settings
    kind = provider.kind
    if "max_completion_tokens" in lowered and ("unsupported" in lowered or "unrecognized" in lowered):
        if kind == "azure":
            return (
                f"api_version {settings.get('api_version')} is too old for max_completion_tokens: use "
                "api_version: 2024-12-01-preview or later (or v1); for a model that takes only max_tokens, "
                "set capabilities: {token_param: max_tokens} on the target"
            )
        return "this server takes max_tokens: set capabilities: {token_param: max_tokens} on the target"
    if "stream_options" in lowered:
        if kind == "azure":
            return "api_version is too old for usage on streams: use 2024-09-01-preview or later (or v1)"
        return "the server rejects stream_options (usage on streams): update the server"
    if "reasoning_effort" in lowered or (check == "reasoning" and status == 400):
        return (
            "this model takes no reasoning_effort: set capabilities: {efforts: []} on the target, or a "
            "base_model naming the model the deployment runs"
        )
    if check == "tools" and (status in (400, 422, 0) or "tool" in lowered):
        return (
            "this model does not take (or follow) tool calls, and Claude Code sends tools with nearly every "
            "request: route it to a model that does"
        )
    if status == 404:
        if kind == "azure":
            return (
                f"no deployment named {target.model!r} at {settings.get('endpoint')}: check the name under "
                "Deployments in Azure AI Foundry (it is the name you gave it, not the model's)"
            )
        if kind == "databricks":
            return f"no serving endpoint named {target.model!r}: check Serving in the workspace"
        return f"no model {target.model!r} there: check the model name and base_url"
    if status == 401:
        if auth is not None and auth.identity is not None:
            where = (
                "the identity needs the 'Cognitive Services OpenAI User' role on the Azure OpenAI resource"
                if kind == "azure"
                else "the identity needs Can Query on the serving endpoint"
            )
            return f"the provider refused the {auth.description}: {where}"
        return f"the provider rejected the key: check {', '.join(_key_variables(provider)) or 'the key'}"
    if status == 403:
        return "no access: the key or identity lacks permission for this model or endpoint"
    if status == 402 or "quota" in lowered or "billing" in lowered:
        return "out of quota or credit: check the account's billing or the deployment's quota"
    if status == 429:
        return "rate limited right now: try again later, or raise the deployment's rate limit (TPM)"
    if status in (502, 504) and ("cannot connect" in lowered or "timed out" in lowered):
        return (
            "the provider cannot be reached: check the URL, the network and the proxy (HTTPS_PROXY, NO_PROXY)"
        )
    return ""


def render(reports: list[Report]) -> str:
    """The table (a row per target, a column per check, with its latency) and each failure with its fix."""
    header = ["target", "provider/model", *CHECKS]
    rows = [[r.target, r.upstream, *(c.cell for c in r.checks)] for r in reports]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    failures = [(r, c) for r in reports for c in r.checks if c.status == FAIL]
    if failures:
        lines.append("")
    for report, check in failures:
        lines.append(f"{report.target} ({report.upstream}) {check.name}: {check.detail}")
        if check.fix:
            lines.append(f"  fix: {check.fix}")
    failed = len({r.target for r, _ in failures})
    lines.append("")
    lines.append(f"{failed} of {len(reports)} targets failed" if failed else f"all {len(reports)} targets ok")
    return "\n".join(lines)
