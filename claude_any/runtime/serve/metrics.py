"""Prometheus metrics for `/metrics`, fed from each request's `RequestLog` once it is over.

Process-wide (`ProcessState.metrics`, not in the per-table `Gateway` a hot reload replaces). A request
costs a few counter and histogram updates when its log line is written; nothing is counted per token.
Three things are read live instead: the open streams (a gauge moved when a stream starts and ends) and each
provider's in-flight, queued and pooled connections (read from the provider clients when scraped).

Labels are bounded: targets are the config's, plus at most AD_HOC_TARGETS `provider/model` ids a client
made up (the rest count as `provider/other`); users are `server.tokens` names; statuses are HTTP statuses;
error types are Anthropic's.

With `run --workers N` each worker writes its values to files in PROMETHEUS_MULTIPROC_DIR (server.py
makes a private one) and a scrape, whichever worker answers it, adds up every worker's files.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from typing import Any, Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from claude_any.runtime.serve.access_log import CLIENT_GONE, RequestLog, printable

# No `_created` series beside each counter: they would double a scrape, and the multiprocess mode has none.
disable_created_metrics()  # type: ignore[no-untyped-call]

# prometheus-client's own switch: set (by server.py, for `--workers N`) before any worker imports it.
MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# From a fast small-model answer to a long reasoning one (seconds).
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)
# Distinct client-made `provider/model` target ids labelled as themselves, per process; later ones are
# counted as `provider/other`, so clients cannot grow the registry without bound.
AD_HOC_TARGETS = 50
NO_TARGET = "none"  # requests that were not routed (model lists, token counts, refused requests)
# How often each worker of `--workers N` writes its live provider gauges (a scrape reads its files).
LIVE_REFRESH_S = 5.0
_ERROR_TYPES = frozenset(
    {
        "invalid_request_error",
        "authentication_error",
        "billing_error",
        "permission_error",
        "not_found_error",
        "request_too_large",
        "rate_limit_error",
        "api_error",
        "timeout_error",
        "overloaded_error",
    }
)


class ProviderLoad(Protocol):
    """What the live gauges read of one provider's client (`provider_client.ProviderClient`)."""

    @property
    def in_flight(self) -> int: ...
    @property
    def waiting(self) -> int: ...
    def connection_counts(self) -> tuple[int, int]: ...  # (idle, in use)


class TargetLabels:
    """A target id as a label value: configured ids as they are, at most `cap` others, then
    `provider/other`."""

    def __init__(self, configured: Callable[[], Collection[str]], cap: int = AD_HOC_TARGETS) -> None:
        self._configured = configured
        self._cap = cap
        self._ad_hoc: set[str] = set()

    def __call__(self, target_id: str) -> str:
        if target_id == "-":
            return NO_TARGET
        if target_id in self._configured() or target_id in self._ad_hoc:
            return printable(target_id)
        if len(self._ad_hoc) < self._cap:
            self._ad_hoc.add(target_id)
            return printable(target_id)
        provider, sep, _ = target_id.partition("/")
        return f"{printable(provider)}/other" if sep else "other"


class Metrics:
    """The gateway's metrics. `record` is a `RequestLog` listener; `exposition` renders a scrape.

    `targets` gives the configured target ids now (the current table's, across reloads); `multiprocess_dir`
    is PROMETHEUS_MULTIPROC_DIR when the process is one of several workers."""

    def __init__(
        self, targets: Callable[[], Collection[str]], *, multiprocess_dir: str | None = None
    ) -> None:
        self._dir = multiprocess_dir
        self._target = TargetLabels(targets)
        self._providers: set[str] = set()  # those given live values so far (a reload may drop one)
        self._children: dict[tuple[str, tuple[str, ...]], Any] = {}  # see `_child`
        self.registry = registry = CollectorRegistry(auto_describe=False)
        by_target = ["target"]
        self.requests = Counter(
            "claude_any_requests",
            "Requests answered, by target and HTTP status.",
            ["target", "status"],
            registry=registry,
        )
        self.errors = Counter(
            "claude_any_errors",
            "Requests answered with an error, by target, HTTP status and Anthropic error type.",
            ["target", "status", "type"],
            registry=registry,
        )
        self.streams = Counter(
            "claude_any_streams",
            "Streamed answers (status 200) by target and how they ended: complete; client_gone (the client "
            "left); failed (cut, stalled or a provider error: the client got an `event: error`).",
            ["target", "end"],
            registry=registry,
        )
        self.duration = Histogram(
            "claude_any_request_duration_seconds",
            "Time from the request to the end of its answer (a stream's end), by target.",
            by_target,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.first_token = Histogram(
            "claude_any_time_to_first_token_seconds",
            "Streams: time from the request to the provider's first streamed bytes, by target.",
            by_target,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.tokens = Counter(
            "claude_any_tokens",
            "Tokens by target and kind: input (cache reads and writes included), output, cache_read, "
            "cache_write.",
            ["target", "kind"],
            registry=registry,
        )
        self.cost = Counter(
            "claude_any_cost_usd",
            "US dollars spent, by target (requests of known price).",
            by_target,
            registry=registry,
        )
        self.retries = Counter(
            "claude_any_retries",
            "Tries again of a target that had failed, by the request's last target.",
            by_target,
            registry=registry,
        )
        self.fallbacks = Counter(
            "claude_any_fallbacks",
            "Tries of a fallback target after a failure, by the request's last target.",
            by_target,
            registry=registry,
        )
        self.user_requests = Counter(
            "claude_any_user_requests",
            "Requests by server.tokens user ('' for the shared token or none).",
            ["user"],
            registry=registry,
        )
        self.user_cost = Counter(
            "claude_any_user_cost_usd",
            "US dollars spent by server.tokens user (requests of known price).",
            ["user"],
            registry=registry,
        )
        self.open_streams = Gauge(
            "claude_any_open_streams",
            "Streamed answers being sent now.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.in_flight = Gauge(
            "claude_any_provider_in_flight",
            "Requests in flight to each provider (max_in_flight bounds it).",
            ["provider"],
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.queued = Gauge(
            "claude_any_provider_queued",
            "Requests waiting for one of a provider's in-flight slots.",
            ["provider"],
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.connections = Gauge(
            "claude_any_provider_connections",
            "Open connections to each provider, idle or in use.",
            ["provider", "state"],
            registry=registry,
            multiprocess_mode="livesum",
        )

    # --- per request -------------------------------------------------------------------------------

    def record(self, log: RequestLog) -> None:
        """Count a request that is over (a `RequestLog` listener)."""
        target = self._target(log.target)
        status = str(log.status)
        child = self._child
        child(self.requests, target, status).inc()
        if log.status >= 400:
            kind = log.error if log.error in _ERROR_TYPES else "other"
            child(self.errors, target, status, kind).inc()
        child(self.duration, target).observe(log.latency_ms / 1000)
        child(self.user_requests, log.user).inc()
        if log.stream and log.status == 200:
            child(self.streams, target, _stream_end(log)).inc()
        if log.first_byte_ms is not None:
            child(self.first_token, target).observe(log.first_byte_ms / 1000)
        if log.retries:
            child(self.retries, target).inc(log.retries)
        if log.fallbacks:
            child(self.fallbacks, target).inc(log.fallbacks)
        if log.target == "-" or log.status >= 400:
            return  # a token count's estimate, or a failed request's, is no usage
        if log.tokens_in is not None:
            child(self.tokens, target, "input").inc(log.tokens_in)
            if log.cache_read:
                child(self.tokens, target, "cache_read").inc(log.cache_read)
            if log.cache_write:
                child(self.tokens, target, "cache_write").inc(log.cache_write)
        if log.tokens_out is not None:
            child(self.tokens, target, "output").inc(log.tokens_out)
        if log.cost_usd:
            child(self.cost, target).inc(log.cost_usd)
            child(self.user_cost, log.user).inc(log.cost_usd)

    def _child(self, metric: Any, *labels: str) -> Any:
        """`metric.labels(*labels)`, kept: a dictionary lookup instead of prometheus-client's checks and
        lock (a third of `record`'s cost). As bounded as the labels are."""
        key = (metric._name, labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def stream_started(self, log: RequestLog) -> None:
        """A streamed answer starts; the gauge goes down when its log line is written."""
        self.open_streams.inc()
        log.listeners.append(self._stream_ended)

    def _stream_ended(self, _log: RequestLog) -> None:
        self.open_streams.dec()

    # --- live values and the scrape ----------------------------------------------------------------

    def refresh(self, providers: Mapping[str, ProviderLoad]) -> None:
        """Set the provider gauges from the provider clients now."""
        for name, client in providers.items():
            idle, busy = client.connection_counts()
            self.in_flight.labels(name).set(client.in_flight)
            self.queued.labels(name).set(client.waiting)
            self.connections.labels(name, "idle").set(idle)
            self.connections.labels(name, "in_use").set(busy)
        for gone in self._providers - providers.keys():  # dropped by a reload: nothing of it is open
            for gauge in (self.in_flight, self.queued):
                gauge.labels(gone).set(0)
            for state in ("idle", "in_use"):
                self.connections.labels(gone, state).set(0)
        self._providers |= providers.keys()

    @contextlib.asynccontextmanager
    async def kept_live(self, providers: Callable[[], Mapping[str, ProviderLoad]]) -> AsyncIterator[None]:
        """While the app runs as one of several workers, write the provider gauges every LIVE_REFRESH_S:
        a scrape answered by another worker reads them from this one's files."""
        if self._dir is None:
            yield
            return

        async def keep() -> None:
            while True:
                self.refresh(providers())
                await asyncio.sleep(LIVE_REFRESH_S)

        task = asyncio.ensure_future(keep())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def exposition(self) -> tuple[bytes, str]:
        """The scrape's body and content type: this process's metrics, or every worker's added up."""
        if self._dir is None:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        _forget_dead_workers(self._dir)
        registry = CollectorRegistry(auto_describe=False)
        MultiProcessCollector(registry, path=self._dir)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST


def _stream_end(log: RequestLog) -> str:
    if log.complete:
        return "complete"
    return "client_gone" if log.note == CLIENT_GONE else "failed"


def _forget_dead_workers(directory: str) -> None:
    """Drop the live gauges of worker processes that are gone (uvicorn replaces a worker that dies):
    their open streams and connections closed with them. Their counters stay: they did count."""
    for path in glob.glob(os.path.join(directory, "gauge_livesum_*.db")):
        pid_text = os.path.basename(path)[len("gauge_livesum_") : -len(".db")]
        if pid_text.isdigit() and not _alive(int(pid_text)):
            mark_process_dead(int(pid_text), directory)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill there would end the process; its files are left as they are
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else (never ours, but not dead either)
        return True
    return True
