"""The `claude-any` command: compile | run | explain | code | statusline. Parses arguments and calls in."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from claude_any.sample_requests import DEFAULT_PRESET, PRESETS
from claude_any.table import RoutingTable, TableError

EXIT_OK = 0
EXIT_USAGE = 2  # bad config, bad arguments, unroutable model: all "fix your input" errors

DEFAULT_ROUTES = "build/routes.json"
DEFAULT_CONFIG = "config.yaml"


class CliError(Exception):
    """An error already phrased for the user; printed as `claude-any: error: …` with exit status 2."""


def _compile_yaml(path: str) -> RoutingTable:
    """Compile a YAML config in memory, printing every diagnostic; raise CliError when it has errors."""
    from claude_any.compiler import compile_config

    result = compile_config(path)
    for diagnostic in result.diagnostics:
        print(diagnostic.render(), file=sys.stderr)
    if result.table is None:
        errors = sum(1 for d in result.diagnostics if d.level == "error")
        raise CliError(f"{path}: {errors} error{'s' if errors != 1 else ''}; nothing compiled")
    return result.table


def load_table(path: str) -> RoutingTable:
    """A routes.json is loaded (version checked); a .yaml/.yml config is compiled in memory."""
    if path.endswith((".yaml", ".yml")):
        return _compile_yaml(path)
    try:
        return RoutingTable.load(path)
    except TableError as exc:
        raise CliError(str(exc)) from exc


def cmd_compile(args: argparse.Namespace) -> int:
    from claude_any.compiler import write_routes

    table = _compile_yaml(args.config)
    write_routes(table, args.output)
    print(f"wrote {args.output} ({len(table.routes)} routes, {len(table.targets)} targets)")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from claude_any.runtime.serve.server import StartupError, serve
    from claude_any.secrets import references

    table = load_table(args.routes)
    host = args.host or table.server.host
    port = args.port if args.port is not None else table.server.port

    def announce() -> None:
        url = f"http://{host}:{port}"
        key = "unused"
        if table.server.auth_token:
            refs = references(table.server.auth_token)
            key = f"${refs[0]}" if refs else "<server.auth_token>"
        print(f"claude-any: serving {url} ({len(table.targets)} targets, {len(table.routes)} routes)")
        print(
            f"start Claude Code with:  ANTHROPIC_BASE_URL={url} ANTHROPIC_AUTH_TOKEN={key} claude", flush=True
        )

    try:
        serve(
            table,
            host=host,
            port=port,
            env=os.environ,
            log_level=args.log_level,
            workers=args.workers,
            on_ready=announce,
        )
    except StartupError as exc:
        raise CliError(str(exc)) from exc
    return EXIT_OK


def _default_routes_source() -> str:
    if Path(DEFAULT_ROUTES).exists():
        return DEFAULT_ROUTES
    if Path(DEFAULT_CONFIG).exists():
        return DEFAULT_CONFIG
    raise CliError(f"no {DEFAULT_ROUTES} or {DEFAULT_CONFIG} here; pass --config CONFIG or --routes ROUTES")


def cmd_explain(args: argparse.Namespace) -> int:
    from claude_any.explain import ExplainError, explain

    source = args.config or args.routes or _default_routes_source()
    table = load_table(source)
    try:
        text, routable = explain(
            table,
            model=args.model,
            source=source,
            tokens=args.tokens,
            thinking=args.thinking,
            effort=args.effort,
            image=args.image,
            tools=args.tool,
            headers=args.header,
            request_file=args.request,
            stream=not args.no_stream,
            preset=args.preset,
        )
    except ExplainError as exc:
        raise CliError(str(exc)) from exc
    print(text)
    return EXIT_OK if routable else EXIT_USAGE


def cmd_code(args: argparse.Namespace) -> int:
    from claude_any.launcher import LaunchError, print_env_lines, run_claude_code

    source = args.config or args.routes or _default_routes_source()
    table = load_table(source)
    if args.port is not None and not 0 <= args.port <= 65535:
        raise CliError(f"--port {args.port}: expected a port number from 0 to 65535")
    if args.print_env:
        print("\n".join(print_env_lines(table, os.environ, source, args.port)))
        return EXIT_OK
    resume = ["claude-any", "code"]
    if args.config or args.routes:
        resume += ["--config" if args.config else "--routes", source]
    try:
        return run_claude_code(
            table,
            args.claude_args,
            env=os.environ,
            resume_prefix=resume,
            port=args.port or 0,
            log_level=args.log_level,
        )
    except LaunchError as exc:
        raise CliError(str(exc)) from exc


def cmd_statusline(args: argparse.Namespace) -> int:
    from claude_any.statusline import main as status_line

    print(status_line(), flush=True)
    return EXIT_OK  # always: Claude Code shows nothing for a command that fails


def cmd_doctor(args: argparse.Namespace) -> int:
    import asyncio

    from claude_any.doctor import INTRO, diagnose, render, targets_of

    source = args.config or _default_routes_source()
    table = load_table(source)
    try:
        targets = targets_of(table, args.target)
    except KeyError as exc:
        raise CliError(str(exc.args[0])) from exc
    print(INTRO, flush=True)
    reports = asyncio.run(diagnose(table, os.environ, targets))
    print(render(reports))
    return 1 if any(report.failed for report in reports) else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="claude-any",
        description="Run Claude Code (or any Anthropic Messages client) on OpenAI, Azure OpenAI, Databricks "
        "and OpenAI-compatible servers.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("compile", help="validate a config.yaml and write the routing table")
    p.add_argument("config", metavar="CONFIG", help="config.yaml")
    p.add_argument(
        "-o", "--output", default=DEFAULT_ROUTES, help=f"routes.json to write (default {DEFAULT_ROUTES})"
    )
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("run", help="serve the Anthropic Messages API from a routes.json or config.yaml")
    p.add_argument("routes", metavar="ROUTES_OR_CONFIG", help="build/routes.json, or a config .yaml")
    p.add_argument("--host", default=None, help="address to bind (default: server.host, else 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default: server.port, else 8082)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("explain", help="show how a model name is routed, offline")
    p.add_argument("model", metavar="MODEL", help="the model a client asks for, e.g. claude-sonnet-4-6")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--config", help="a config.yaml (compiled in memory)")
    src.add_argument("--routes", help="a routes.json")
    p.add_argument("--tokens", type=int, default=None, help="estimated input tokens of the request")
    p.add_argument("--thinking", action="store_true", help="the request asks for extended thinking")
    p.add_argument("--effort", metavar="LEVEL", help="the request's effort (low … max), as /effort sets it")
    p.add_argument("--image", action="store_true", help="the request holds an image")
    p.add_argument("--tool", action="append", default=[], metavar="NAME", help="a tool the request offers")
    p.add_argument("--header", action="append", default=[], metavar="K=V", help="a request header")
    p.add_argument(
        "--request", metavar="FILE.json", help="derive the facts from a real Anthropic request body"
    )
    p.add_argument("--no-stream", action="store_true", help="explain a non-streaming request")
    p.add_argument(
        "--as",
        dest="preset",
        choices=list(PRESETS),
        default=DEFAULT_PRESET,
        help="the request to explain: "
        + "; ".join(f"{name}: {about}" for name, about in PRESETS.items())
        + f" (default {DEFAULT_PRESET})",
    )
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser(
        "code",
        help="start claude-any on a free port and run Claude Code through it",
        usage="%(prog)s [--config C | --routes R] [--port P] [--log-level L] [--print-env] "
        "[-- CLAUDE ARGS...]",
        description="Run Claude Code through a private claude-any gateway. Claude Code's own arguments go "
        "after `--`: claude-any code -- -p 'hello'.",
        allow_abbrev=False,  # `--print` is Claude Code's, not a short `--print-env`
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--config", help="a config.yaml (or routes.json)")
    src.add_argument("--routes", help="a routes.json (default: build/routes.json, else config.yaml)")
    p.add_argument("--port", type=int, default=None, help="the gateway's loopback port (default: a free one)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.add_argument(
        "--print-env",
        action="store_true",
        help="print the shell settings for starting claude yourself (with `claude-any run`), and exit",
    )
    p.set_defaults(func=cmd_code, claude_args=[], code_usage_error=p.error)

    p = sub.add_parser(
        "statusline",
        help="Claude Code's status line: what answered this session, its tokens and cost",
        description="Run by Claude Code (settings.json statusLine) with its JSON on stdin; prints one line.",
    )
    p.set_defaults(func=cmd_statusline)

    p = sub.add_parser("doctor", help="check every target live: credential, requests, stream, tools")
    p.add_argument(
        "config", metavar="CONFIG", nargs="?", help="config.yaml or routes.json (default as for explain)"
    )
    p.add_argument("--target", metavar="NAME", help="check this target only (or provider/model)")
    p.set_defaults(func=cmd_doctor)
    return parser


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """The arguments; for `code`, everything after the first `--` is Claude Code's."""
    claude_args: list[str] | None = None
    if argv[:1] == ["code"] and "--" in argv:
        cut = argv.index("--")
        argv, claude_args = argv[:cut], argv[cut + 1 :]
    args, extra = parser.parse_known_args(argv)
    if extra and args.command == "code":
        args.code_usage_error(
            f"unrecognized arguments: {' '.join(extra)}; Claude Code's arguments go after `--`, "
            f"as in: claude-any code -- {' '.join(extra)}"
        )
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if claude_args is not None:
        args.claude_args = claude_args
    return args


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = _parse(parser, list(sys.argv[1:] if argv is None else argv))
    try:
        code = args.func(args)
        return int(code)
    except CliError as exc:
        print(f"claude-any: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
