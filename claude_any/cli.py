"""The `claude-any` command: compile | run | explain | code | statusline | doctor | usage. Parses arguments
and calls in."""

from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from claude_any import arguments, console, usage
from claude_any.sample_requests import DEFAULT_PRESET, PRESETS
from claude_any.suggest import closest
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

    if not os.path.exists(path):  # one line, not a diagnostic at line 1 of a file that is not there
        raise CliError(f"{path}: cannot read: {os.strerror(errno.ENOENT)}")
    result = compile_config(path)
    for diagnostic in result.diagnostics:
        console.err(diagnostic.render())
    if result.table is None:
        errors = sum(1 for d in result.diagnostics if d.level == "error")
        raise CliError(f"{path}: {errors} error{'s' if errors != 1 else ''}; nothing compiled")
    return result.table


def _is_config(path: str) -> bool:
    return path.endswith((".yaml", ".yml"))


def load_table(path: str) -> RoutingTable:
    """A routes.json is loaded (version checked, a warning if its config changed since); a .yaml/.yml
    config is compiled in memory."""
    if _is_config(path):
        return _compile_yaml(path)
    table = _load_routes(path)
    if _is_stale(path, table):
        console.err(
            f"claude-any: warning: {path} is older than {table.source}, which it was compiled from, and does "
            f"not hold its changes; to update it: claude-any compile {table.source} -o {path}"
        )
    return table


def _load_routes(path: str) -> RoutingTable:
    from claude_any.runtime.route.rules import RuleError, compile_rule

    try:
        table = RoutingTable.load(path)
    except TableError as exc:
        raise CliError(str(exc)) from exc
    for i, route in enumerate(table.routes):  # a hand-edited rule that cannot run is refused here
        try:
            compile_rule(route.when)
        except RuleError as exc:
            raise CliError(
                f"{path}: routes[{i}].when: {exc}; write it again with `claude-any compile CONFIG`"
            ) from None
    return table


def reload_table(path: str) -> tuple[RoutingTable, list[str]]:
    """`load_table` for a server that is running (a TableLoader): the table and the compiler's warnings;
    errors raise StartupError with the diagnostics as `compile` prints them, for the log."""
    from claude_any.runtime.serve.server import StartupError

    if not _is_config(path):
        try:
            return _load_routes(path), []
        except CliError as exc:
            raise StartupError(str(exc)) from None
    from claude_any.compiler import compile_config

    if not os.path.exists(path):
        raise StartupError(f"cannot read {path}: {os.strerror(errno.ENOENT)}")
    result = compile_config(path)
    rendered = [diagnostic.render() for diagnostic in result.diagnostics]
    if result.table is None:
        errors = sum(1 for d in result.diagnostics if d.level == "error")
        raise StartupError(f"{errors} error{'s' if errors != 1 else ''}", rendered)
    return result.table, rendered


def _is_stale(routes_path: str, table: RoutingTable) -> bool:
    """True when the config `table` was compiled from changed after `routes_path` was written."""
    try:
        return os.stat(table.source).st_mtime_ns > os.stat(routes_path).st_mtime_ns
    except (OSError, ValueError):  # the config is gone or elsewhere: nothing to compare with
        return False


def cmd_compile(args: argparse.Namespace) -> int:
    from claude_any.compiler import write_routes

    table = _compile_yaml(args.config)
    try:
        write_routes(table, args.output)
    except OSError as exc:
        raise CliError(f"cannot write {args.output}: {exc.strerror or type(exc).__name__}") from None
    console.out(f"wrote {args.output} ({len(table.routes)} routes, {len(table.targets)} targets)")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from claude_any.runtime.serve.saved_requests import KEEP_FILES
    from claude_any.runtime.serve.server import StartupError, serve
    from claude_any.runtime.serve.table_source import TableSource
    from claude_any.secrets import references

    # Before the first load, so that an edit made while it compiles is seen by the first poll.
    source = TableSource(args.routes, reload_table, watched=_is_config(args.routes))
    table = load_table(args.routes)
    host = args.host or table.server.host
    port = args.port if args.port is not None else table.server.port

    def announce(bound: int) -> None:
        url = f"http://{host}:{bound}"
        key = "unused"
        if table.server.auth_token:
            refs = references(table.server.auth_token)
            key = f"${refs[0]}" if refs else "<server.auth_token>"
        elif table.server.tokens:
            key = "<your server.tokens entry>"
        print(f"claude-any: serving {url} ({len(table.targets)} targets, {len(table.routes)} routes)")
        print(f"start Claude Code with:  ANTHROPIC_BASE_URL={url} ANTHROPIC_AUTH_TOKEN={key} claude")
        if args.log_file:
            print(f"logging to {args.log_file} (level {args.log_level})")
        if args.save_requests:
            print(
                f"saving each request (the last {KEEP_FILES}) in {args.save_requests}: "
                f"claude-any explain MODEL --request {args.save_requests}/REQUEST_ID.json"
            )
        sys.stdout.flush()

    try:
        serve(
            table,
            host=host,
            port=port,
            env=os.environ,
            log_level=args.log_level,
            workers=args.workers,
            on_ready=announce,
            log_file=args.log_file,
            save_requests=args.save_requests,
            source=source,
            log_format=args.log_format,
        )
    except StartupError as exc:
        for problem in exc.problems:
            console.err(problem)
        raise CliError(exc.message) from exc
    return EXIT_OK


def _default_routes_source() -> str:
    """build/routes.json, or the config it was compiled from when that changed since, else config.yaml."""
    if Path(DEFAULT_ROUTES).exists():
        table = _load_routes(DEFAULT_ROUTES)
        if not _is_stale(DEFAULT_ROUTES, table) or not table.source.endswith((".yaml", ".yml")):
            return DEFAULT_ROUTES  # load_table warns when it is stale
        console.err(
            f"claude-any: note: {DEFAULT_ROUTES} is older than {table.source}, which it was compiled from; "
            f"using {table.source} (claude-any compile {table.source} updates {DEFAULT_ROUTES})"
        )
        return table.source
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
    console.out(text)
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
            log_format=args.log_format,
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


def cmd_usage(args: argparse.Namespace) -> int:
    from claude_any.usage import report
    from claude_any.usage.database import DatabaseUrl, LedgerError, database_url, open_database

    source = args.config or _default_routes_source()
    table = load_table(source)
    if not table.usage.enabled:
        raise CliError(f"{source} turns the usage ledger off (usage.enabled: false): nothing is recorded")
    try:
        since = report.parse_since(args.since)
        database: DatabaseUrl = database_url(table.usage, os.environ)
        if not database.is_postgres and not Path(database.shown).exists():
            raise CliError(
                f"no usage recorded yet: {database.shown} does not exist (claude-any run writes it)"
            )
        engine = open_database(database)
    except (ValueError, LedgerError) as exc:
        raise CliError(str(exc)) from None
    try:
        groups = report.read_groups(engine, args.by, since)
    finally:
        engine.dispose()
    if args.format == "json":
        text = report.render_json(groups, args.by, since)
    elif args.format == "csv":
        text = report.render_csv(groups, args.by)
    else:
        text = report.render_table(
            groups, args.by, f"usage since {args.since}, by {args.by} ({database.shown})"
        )
    sys.stdout.write(text)
    return EXIT_OK


def _version() -> str:
    from importlib import metadata  # only when asked: 1.9 MB that would stay in every gateway process

    try:
        return metadata.version("claude-any")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "(version unknown: not installed; pip install -e .)"


class _ShowVersion(argparse.Action):
    """`--version`, as argparse's own action prints it, with the version looked up only then."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        suppressed = argparse.SUPPRESS  # no value in the namespace, as argparse's own version action
        super().__init__(option_strings, dest=suppressed, default=suppressed, nargs=0, help=help)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        sys.stdout.write(f"claude-any {_version()}\n")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = arguments.CommandLine(
        prog="claude-any",
        description="Run Claude Code (or any Anthropic Messages client) on OpenAI, Azure OpenAI, Databricks "
        "and OpenAI-compatible servers.",
    )
    parser.add_argument("-V", "--version", action=_ShowVersion, help="show the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("compile", help="validate a config.yaml and write the routing table")
    p.add_argument("config", metavar="CONFIG", type=arguments.not_empty, help="config.yaml")
    p.add_argument(
        "-o",
        "--output",
        default=DEFAULT_ROUTES,
        type=arguments.not_empty,
        help=f"routes.json to write (default {DEFAULT_ROUTES})",
    )
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("run", help="serve the Anthropic Messages API from a routes.json or config.yaml")
    p.add_argument(
        "routes",
        metavar="ROUTES_OR_CONFIG",
        type=arguments.not_empty,
        help="build/routes.json, or a config .yaml",
    )
    p.add_argument(
        "--host", type=arguments.host, help="address to bind (default: server.host, else 127.0.0.1)"
    )
    p.add_argument(
        "--port",
        type=arguments.port,
        help="port, 1-65535, or 0 for a free one (default: server.port, else 8082)",
    )
    p.add_argument(
        "--workers",
        type=arguments.workers,
        default=1,
        metavar="N",
        help=f"worker processes, 1-{arguments.MAX_WORKERS}, or auto: one per core (default 1)",
    )
    p.add_argument(
        "--log-level",
        type=arguments.log_level,
        default="info",
        metavar="LEVEL",
        help=f"{', '.join(arguments.LOG_LEVELS)} (default info; debug adds each call's request and answer)",
    )
    p.add_argument(
        "--log-file",
        metavar="PATH",
        type=arguments.not_empty,
        help="append the log to PATH instead of stderr",
    )
    p.add_argument(
        "--log-format",
        choices=arguments.LOG_FORMATS,
        default="text",
        help="text, or json: one JSON object per line, a request's holding its usage record (default text)",
    )
    p.add_argument(
        "--save-requests",
        metavar="DIR",
        type=arguments.not_empty,
        help="keep each request (the last 100) as DIR/REQUEST_ID.json, for `explain --request`",
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("explain", help="show how a model name is routed, offline")
    p.add_argument(
        "model",
        metavar="MODEL",
        type=arguments.not_empty,
        help="the model a client asks for, e.g. claude-sonnet-4-6",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--config", type=arguments.not_empty, help="a config.yaml (compiled in memory)")
    src.add_argument("--routes", type=arguments.not_empty, help="a routes.json")
    p.add_argument(
        "--tokens",
        metavar="N",
        type=arguments.token_count,
        default=None,
        help="estimated input tokens of the request, written as in rules: 150000, 200k, 1.5m",
    )
    p.add_argument("--thinking", action="store_true", help="the request asks for extended thinking")
    p.add_argument(
        "--effort",
        metavar="LEVEL",
        type=arguments.effort,
        help="the request's effort (low … max), as /effort sets it",
    )
    p.add_argument("--image", action="store_true", help="the request holds an image")
    p.add_argument(
        "--tool",
        action="append",
        default=[],
        metavar="NAME",
        type=arguments.not_empty,
        help="a tool the request offers",
    )
    p.add_argument("--header", action="append", default=[], metavar="K=V", help="a request header")
    p.add_argument(
        "--request",
        metavar="FILE.json",
        type=arguments.not_empty,
        help="derive the facts from a real Anthropic request body (run --save-requests keeps them)",
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
        usage="%(prog)s [--config C | --routes R] [--port P] [--log-level L] [--log-format F] [--print-env] "
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
    p.add_argument("--log-format", default="text", choices=arguments.LOG_FORMATS, help="the log file's form")
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

    p = sub.add_parser("usage", help="who used how much, on which model, at what cost: from the usage ledger")
    p.add_argument("--config", metavar="CONFIG", help="config.yaml or routes.json (default as for explain)")
    p.add_argument("--by", choices=usage.GROUPS, default="user", help="instance: the gateway process")
    p.add_argument(
        "--since",
        default="7d",
        metavar="WHEN",
        help="a span back from now (30m, 24h, 7d, 2w) or an ISO date, UTC (default 7d)",
    )
    p.add_argument("--format", choices=usage.FORMATS, default="table")
    p.set_defaults(func=cmd_usage)
    return parser


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """The arguments, or exit 2 with one line: an unknown command or option gets a did-you-mean. For `code`,
    everything after the first `--` is Claude Code's."""
    commands = _subcommands(parser)
    if not argv:
        parser.print_help(sys.stderr)
        parser.exit(EXIT_USAGE)
    if not argv[0].startswith("-") and argv[0] not in commands:
        hint = closest(argv[0], commands)
        parser.error(
            f"unknown command {argv[0]!r}"
            + (f"; did you mean {hint!r}?" if hint else f"; the commands are {', '.join(commands)}")
        )
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
        command = commands[args.command]
        unknown = next((a for a in extra if a.startswith("-")), extra[0])
        if not unknown.startswith("-"):
            command.error(f"unexpected argument {unknown!r} (see {command.prog} --help)")
        options = [o for action in command._actions for o in action.option_strings]
        hint = closest(unknown.split("=", 1)[0], options)
        command.error(
            f"unknown option {unknown}"
            + (f"; did you mean {hint}?" if hint else f" (see {command.prog} --help)")
        )
    if claude_args is not None:
        args.claude_args = claude_args
    return args


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def main(argv: Sequence[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        console.prepare(stream)
    parser = build_parser()
    args = _parse(parser, list(sys.argv[1:] if argv is None else argv))
    try:
        code = args.func(args)
        return int(code)
    except CliError as exc:
        console.err(f"claude-any: error: {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
