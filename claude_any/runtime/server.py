"""`serve`: build the app from a routing table (secrets resolved, templates rendered) and run uvicorn.

Prints nothing: the CLI prints the listening URL and turns `StartupError` into a message and exit status 2.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Mapping

import uvicorn
from starlette.applications import Starlette
from uvicorn.supervisors import Multiprocess

from claude_any.runtime import log
from claude_any.runtime.app import create_app
from claude_any.runtime.targets import StartupError
from claude_any.table import RoutingTable, TableError

__all__ = ["StartupError", "serve"]

# Worker processes rebuild the app from this variable: the table holds `${VAR}` references only, no secret.
_TABLE_VARIABLE = "CLAUDE_ANY_ROUTES_JSON"


def _config(app: Starlette | str, host: str, port: int, log_level: str, workers: int) -> uvicorn.Config:
    # uvloop and httptools are faster but optional: used only when installed.
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
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=5,
    )


def worker_app() -> Starlette:
    """The app factory uvicorn calls in each worker process (`--workers N`)."""
    import json

    try:
        table = RoutingTable.from_json(json.loads(os.environ[_TABLE_VARIABLE]))
    except (KeyError, ValueError, TableError) as exc:
        raise StartupError(f"worker cannot load the routing table: {exc}") from None
    return create_app(table, os.environ)


def serve(
    table: RoutingTable,
    host: str,
    port: int,
    env: Mapping[str, str] = os.environ,
    log_level: str = "info",
    workers: int = 1,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Run the gateway until interrupted. Raises `StartupError` (missing variable, broken template) before
    binding the port, so nothing half-starts."""
    log.configure(log_level)
    app = create_app(table, env)  # validates everything once, before binding the port
    if on_ready is not None:
        on_ready()
    if workers <= 1:
        uvicorn.Server(_config(app, host, port, log_level, 1)).run()
        return
    if env is not os.environ:
        raise StartupError("--workers needs secrets from the process environment")
    os.environ[_TABLE_VARIABLE] = table.dumps()
    config = _config("claude_any.runtime.server:worker_app", host, port, log_level, workers)
    sock = config.bind_socket()
    Multiprocess(config, sockets=[sock]).run()
