"""`serve`: build the app from a routing table (secrets resolved, templates rendered) and run uvicorn.

Prints nothing: the CLI prints the listening URL and turns `StartupError` into a message and exit status 2.
"""

from __future__ import annotations

import importlib.util
import os
import socket
from collections.abc import Callable, Mapping

import uvicorn
from starlette.applications import Starlette
from uvicorn.supervisors import Multiprocess

from claude_any.network import is_loopback
from claude_any.runtime import log, tuning
from claude_any.runtime.app import create_app
from claude_any.runtime.saved_requests import RequestArchive
from claude_any.runtime.targets import StartupError
from claude_any.table import RoutingTable, TableError

__all__ = ["StartupError", "serve"]

# Worker processes rebuild the app from this variable: the table holds `${VAR}` references only, no secret.
_TABLE_VARIABLE = "CLAUDE_ANY_ROUTES_JSON"
_LOG_LEVEL_VARIABLE = "CLAUDE_ANY_LOG_LEVEL"  # worker processes set up their own request log
_LOG_FILE_VARIABLE = "CLAUDE_ANY_LOG_FILE"
_SAVE_REQUESTS_VARIABLE = "CLAUDE_ANY_SAVE_REQUESTS"


def _config(app: Starlette | str, host: str, port: int, log_level: str, workers: int) -> uvicorn.Config:
    # uvloop and httptools are dependencies (not on Windows for uvloop); asyncio and h11 remain the fallback.
    has_uvloop = importlib.util.find_spec("uvloop") is not None
    has_httptools = importlib.util.find_spec("httptools") is not None
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        factory=isinstance(app, str),
        workers=workers,
        loop="uvloop" if has_uvloop else "asyncio",
        http="httptools" if has_httptools else "h11",
        # uvicorn's own INFO lines would repeat what the CLI prints and what the request log says.
        log_level="debug" if log_level == "debug" else "warning",
        log_config=None,  # uvicorn's own lines go where log.configure sends ours (stderr or --log-file)
        access_log=False,
        server_header=False,
        # X-Forwarded-For is of no use to the gateway, and the middleware costs every request.
        proxy_headers=False,
        timeout_graceful_shutdown=5,
    )


def worker_app() -> Starlette:
    """The app factory uvicorn calls in each worker process (`--workers N`)."""
    import json

    try:
        table = RoutingTable.from_json(json.loads(os.environ[_TABLE_VARIABLE]))
    except (KeyError, ValueError, TableError) as exc:
        raise StartupError(f"worker cannot load the routing table: {exc}") from None
    log.configure(os.environ.get(_LOG_LEVEL_VARIABLE, "info"), os.environ.get(_LOG_FILE_VARIABLE) or None)
    app = create_app(table, os.environ, save_requests=os.environ.get(_SAVE_REQUESTS_VARIABLE) or None)
    tuning.for_serving()
    return app


def check_exposure(table: RoutingTable, host: str) -> None:
    """Refuse to listen beyond loopback without an inbound token: the gateway spends the provider keys.

    The compiler checks `server.host`; this also covers `run --host` and a hand-edited routes.json.
    """
    if table.server.auth_token is None and not is_loopback(host):
        raise StartupError(
            f"refusing to listen on {host} without server.auth_token: anyone who can reach it could use "
            "your provider keys; set server.auth_token: ${CLAUDE_ANY_TOKEN} or bind 127.0.0.1"
        )


def serve(
    table: RoutingTable,
    host: str,
    port: int,
    env: Mapping[str, str] = os.environ,
    log_level: str = "info",
    workers: int = 1,
    on_ready: Callable[[], None] | None = None,
    log_file: str | None = None,
    save_requests: str | None = None,
) -> None:
    """Run the gateway until interrupted. Raises `StartupError` (missing variable, broken template, a log
    file or request directory that cannot be written) before binding the port, so nothing half-starts.
    `log_file` takes the log instead of stderr; `save_requests` is a directory that keeps request bodies."""
    try:
        log.configure(log_level, log_file)
    except OSError as exc:
        raise StartupError(f"cannot write the log file {log_file}: {exc.strerror or exc}") from None
    if save_requests is not None:
        try:
            RequestArchive.prepare(save_requests)
        except OSError as exc:
            raise StartupError(f"cannot save requests in {save_requests}: {exc.strerror or exc}") from None
    check_exposure(table, host)
    app = create_app(table, env, save_requests=save_requests)  # validates everything once, before binding
    if workers > 1 and env is not os.environ:
        raise StartupError("--workers needs secrets from the process environment")
    sock = _listen(host, port)  # bound before the URL is announced, so the URL always answers
    if on_ready is not None:
        on_ready()
    if workers <= 1:
        tuning.for_serving()
        uvicorn.Server(_config(app, host, port, log_level, 1)).run(sockets=[sock])
        return
    os.environ[_TABLE_VARIABLE] = table.dumps()
    os.environ[_LOG_LEVEL_VARIABLE] = log_level
    os.environ[_LOG_FILE_VARIABLE] = log_file or ""
    os.environ[_SAVE_REQUESTS_VARIABLE] = save_requests or ""
    config = _config("claude_any.runtime.server:worker_app", host, port, log_level, workers)
    Multiprocess(config, sockets=[sock]).run()


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
