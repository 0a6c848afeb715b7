"""`serve`: build the app from a routing table (secrets resolved, templates rendered) and run uvicorn.

Prints nothing: the CLI prints the listening URL and turns `StartupError` into a message and exit status 2.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import uvicorn
from starlette.applications import Starlette

from claude_any.network import is_loopback
from claude_any.runtime.call.targets import StartupError
from claude_any.runtime.serve import access_log as log
from claude_any.runtime.serve import tuning
from claude_any.runtime.serve.app import create_app
from claude_any.runtime.serve.client_limits import ClientLimits
from claude_any.runtime.serve.client_protocol import ClientProtocol, GatewayConfig
from claude_any.runtime.serve.metrics import MULTIPROCESS_VARIABLE
from claude_any.runtime.serve.saved_requests import RequestArchive
from claude_any.runtime.serve.table_source import TableReload, TableSource, load_routes_json
from claude_any.runtime.serve.workers import ReloadingMultiprocess, write_table
from claude_any.table import RoutingTable

__all__ = ["StartupError", "serve"]

logger = logging.getLogger("claude_any")

_SPARE_FILES = 1024  # beyond the client connections: provider connections, logs, the listening socket

# Worker processes build the app from the routes.json this variable names (the supervisor writes it again
# for a reload): the table holds `${VAR}` references only, no secret.
_TABLE_VARIABLE = "CLAUDE_ANY_ROUTES_FILE"
_TABLE_SHOWN_VARIABLE = "CLAUDE_ANY_ROUTES_SHOWN"  # the file the user edits, for the workers' log lines
_LOG_LEVEL_VARIABLE = "CLAUDE_ANY_LOG_LEVEL"  # worker processes set up their own request log
_LOG_FILE_VARIABLE = "CLAUDE_ANY_LOG_FILE"
_LOG_FORMAT_VARIABLE = "CLAUDE_ANY_LOG_FORMAT"
_SAVE_REQUESTS_VARIABLE = "CLAUDE_ANY_SAVE_REQUESTS"


def client_limits(table: RoutingTable) -> ClientLimits:
    """The limits on each client connection that the routing table sets (runtime/serve/client_protocol.py)."""
    return ClientLimits(write_s=table.timeouts.client_write_s, max_connections=table.server.max_connections)


def uvicorn_config(
    app: Starlette | str, limits: ClientLimits, *, log_level: str = "info", **settings: Any
) -> GatewayConfig:
    """uvicorn's settings for the gateway: uvloop, httptools under `ClientProtocol` (the client limits), no
    access log or server header. `settings` adds or overrides uvicorn settings (host, port, workers, …)."""
    # uvloop and httptools are dependencies (not on Windows for uvloop); asyncio and h11 remain the fallback,
    # without the client limits.
    has_uvloop = importlib.util.find_spec("uvloop") is not None
    has_httptools = importlib.util.find_spec("httptools") is not None
    chosen: dict[str, Any] = {
        "factory": isinstance(app, str),
        "loop": "uvloop" if has_uvloop else "asyncio",
        "http": ClientProtocol if has_httptools else "h11",
        # No endpoint is a WebSocket; uvicorn would otherwise load wsproto (0.9 MB) into every process.
        "ws": "none",
        # uvicorn's own INFO lines would repeat what the CLI prints and what the request log says.
        "log_level": "debug" if log_level == "debug" else "warning",
        "log_config": None,  # uvicorn's own lines go where log.configure sends ours (stderr or --log-file)
        "access_log": False,
        "server_header": False,
        # X-Forwarded-For is of no use to the gateway, and the middleware costs every request.
        "proxy_headers": False,
        "timeout_graceful_shutdown": 5,
    }
    return GatewayConfig(app, limits=limits, **(chosen | settings))


def worker_app() -> Starlette:
    """The app factory uvicorn calls in each worker process (`--workers N`)."""
    if hasattr(signal, "SIGHUP"):  # until the app's reloader takes it: a reload must not end the worker
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    path = os.environ.get(_TABLE_VARIABLE, "")
    shown = os.environ.get(_TABLE_SHOWN_VARIABLE) or None
    source = TableSource(path, load_routes_json, watched=False, shown=shown)  # SIGHUP: read again
    try:
        table, _ = source.load()
    except StartupError as exc:
        raise StartupError(f"worker cannot load the routing table: {exc}") from None
    log.configure(
        os.environ.get(_LOG_LEVEL_VARIABLE, "info"),
        os.environ.get(_LOG_FILE_VARIABLE) or None,
        os.environ.get(_LOG_FORMAT_VARIABLE, "text"),
    )
    app = create_app(
        table,
        os.environ,
        save_requests=os.environ.get(_SAVE_REQUESTS_VARIABLE) or None,
        reload=TableReload(source, table, table, quiet=True),
    )
    tuning.for_serving()
    return app


def check_exposure(table: RoutingTable, host: str) -> None:
    """Refuse to listen beyond loopback without an inbound token: the gateway spends the provider keys.

    The compiler checks `server.host`; this also covers `run --host` and a hand-edited routes.json.
    """
    if not table.server.requires_token and not is_loopback(host):
        raise StartupError(
            f"refusing to listen on {host} without server.auth_token or server.tokens: anyone who can reach "
            "it could use your provider keys; set server.auth_token: ${CLAUDE_ANY_TOKEN} or bind 127.0.0.1"
        )


def serve(
    table: RoutingTable,
    host: str,
    port: int,
    env: Mapping[str, str] = os.environ,
    log_level: str = "info",
    workers: int = 1,
    on_ready: Callable[[int], None] | None = None,
    log_file: str | None = None,
    save_requests: str | None = None,
    source: TableSource | None = None,
    log_format: str = "text",
) -> None:
    """Run the gateway until interrupted. Raises `StartupError` (missing variable, broken template, a log
    file or request directory that cannot be written) before binding the port, so nothing half-starts.
    `on_ready` is called with the port bound (port 0 picks a free one). `log_file` takes the log instead of
    stderr, `log_format` (text|json) its form; `save_requests` is a directory that keeps request bodies.
    `source` is the file `table` came from: SIGHUP loads it again, and so does each change when it is
    watched (serve/reload.py)."""
    try:
        log.configure(log_level, log_file, log_format)
    except OSError as exc:
        raise StartupError(f"cannot write the log file {log_file}: {exc.strerror or exc}") from None
    if save_requests is not None:
        try:
            RequestArchive.prepare(save_requests)
        except OSError as exc:
            raise StartupError(f"cannot save requests in {save_requests}: {exc.strerror or exc}") from None
    check_exposure(table, host)
    # Port 0: the system picks a free port, bound first so that the app and the URL announced know it.
    early = _listen(host, 0) if port == 0 else None
    started = table  # as its file says: a reload compares what needs a restart with it
    try:
        port = early.getsockname()[1] if early is not None else port
        # The address really bound: the app answers to it as a Host name (DNS-rebinding guard, no token).
        table = replace(table, server=replace(table.server, host=host, port=port))
        reload = TableReload(source, started, table) if source is not None else None
        # Validates everything once; with --workers the main process only validates.
        app = create_app(table, env, save_requests=save_requests, reload=reload if workers <= 1 else None)
        limits = client_limits(table)
        _allow_open_files(limits.max_connections)
        if workers > 1 and env is not os.environ:
            raise StartupError("--workers needs secrets from the process environment")
        sock = early or _listen(host, port)  # bound before the URL is announced, so the URL always answers
    except BaseException:
        if early is not None:
            early.close()
        raise
    if on_ready is not None:
        on_ready(port)
    if workers <= 1:
        tuning.for_serving()
        config = uvicorn_config(app, limits, log_level=log_level, host=host, port=port)
        uvicorn.Server(config).run(sockets=[sock])
        return
    handoff = tempfile.mkdtemp(prefix="claude-any-")  # private (0700); the supervisor rewrites it to reload
    table_file = os.path.join(handoff, "routes.json")
    write_table(table_file, table)
    os.environ[_TABLE_VARIABLE] = table_file
    os.environ[_TABLE_SHOWN_VARIABLE] = source.shown if source is not None else ""
    os.environ[_LOG_LEVEL_VARIABLE] = log_level
    os.environ[_LOG_FILE_VARIABLE] = log_file or ""
    os.environ[_SAVE_REQUESTS_VARIABLE] = save_requests or ""
    os.environ[_LOG_FORMAT_VARIABLE] = log_format
    worker = "claude_any.runtime.serve.server:worker_app"
    config = uvicorn_config(worker, limits, log_level=log_level, host=host, port=port, workers=workers)
    try:
        # The workers' metrics files, added up by whichever answers a scrape; private, and gone at exit.
        with tempfile.TemporaryDirectory(prefix="claude-any-metrics-", ignore_cleanup_errors=True) as metrics:
            os.environ[MULTIPROCESS_VARIABLE] = metrics
            ReloadingMultiprocess(config, [sock], table_file=table_file, reload=reload, env=env).run()
    finally:
        shutil.rmtree(handoff, ignore_errors=True)


def _allow_open_files(connections: int) -> None:
    """Raise this process's limit on open files (often 1,024) towards what `connections` client connections
    need, with room for the provider connections: past it, new clients would wait unanswered in the listen
    queue instead of getting a 529."""
    try:
        import resource
    except ImportError:  # Windows has no such limit to raise
        return
    wanted = connections + _SPARE_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
    if soft != resource.RLIM_INFINITY and soft < wanted:
        logger.warning(
            "this process may open %d files (ulimit -n): fewer than server.max_connections (%d) needs",
            soft,
            connections,
        )


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or a StartupError saying why not (port in use, bad address)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say so, and with
    # Nagle on, a response body written after its headers waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)  # worker processes serve the same socket
    return sock
