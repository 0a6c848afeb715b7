"""Profile claude-any's server process under the benchmark's load, to see where a request's CPU goes.

    python -m bench.profile                          # cProfile, cc-stream, concurrency 10, 3,000 requests
    python -m bench.profile --scenario cc-json --requests 1000 --sort cumulative --top 60
    python -m bench.profile --paced --concurrency 1 --requests 300   # issue #6's reference upstream

The gateway runs as `python -m cProfile -o FILE -m claude_any run ...` in front of the fake upstream, the
load generator sends the requests (every response checked, as in bench.run), then the gateway is stopped with
SIGINT so cProfile writes its file, and the top functions are printed. cProfile slows Python code down by
about 2x and leaves C code alone, so read the shares, not the absolute times.
"""

from __future__ import annotations

import argparse
import asyncio
import pstats
import signal
import sys
import tempfile
from pathlib import Path

from bench.check import Checker
from bench.load import run_load
from bench.payloads import canned_replies
from bench.processes import HOST, free_port, launch, start_upstream
from bench.run import (
    PACED_FIRST_BYTE_MS,
    PACED_SCENARIOS,
    PACED_SPREAD_MS,
    gateway_config,
    gateway_request,
    paced_scenarios,
    scenarios,
)


async def profile(args: argparse.Namespace) -> int:
    chosen, _ = scenarios({args.scenario})
    if not chosen:
        raise SystemExit(f"unknown scenario {args.scenario!r}")
    scenario = chosen[0]
    if args.paced:
        if scenario.name not in PACED_SCENARIOS:
            raise SystemExit(f"--paced runs only {', '.join(PACED_SCENARIOS)}")
        scenario = paced_scenarios([scenario])[0]
        upstream, upstream_port = start_upstream(PACED_FIRST_BYTE_MS, PACED_SPREAD_MS)
    else:
        upstream, upstream_port = start_upstream()
    try:
        with tempfile.TemporaryDirectory(prefix="claude-any-profile-") as tmp:
            port = free_port()
            config = Path(tmp) / "bench.yaml"
            paced_port = upstream_port if args.paced else None
            config.write_text(gateway_config(upstream_port, port, paced_port))
            command = [sys.executable, "-m", "cProfile", "-o", args.output, "-m", "claude_any", "run"]
            command += [str(config), "--port", str(port), "--log-level", args.log_level]
            gateway = await launch(command, port, Path(tmp) / "claude-any.log")
            checker = Checker(
                gateway=True,
                stream=scenario.stream,
                model=scenario.model,
                canned=canned_replies()[scenario.path],
            )
            try:
                result = await run_load(
                    HOST,
                    port,
                    gateway_request(scenario, port),
                    concurrency=args.concurrency,
                    duration=3600,
                    max_requests=args.requests,
                    on_sample=checker,
                )
            finally:
                gateway.send_signal(signal.SIGINT)
                gateway.wait(timeout=30)
    finally:
        upstream.terminate()
        upstream.wait(timeout=10)
    print(
        f"{len(result.samples)} requests, {checker.ok} valid, {checker.bad} bad; profile in {args.output}\n"
    )
    pstats.Stats(args.output).sort_stats(args.sort).print_stats(args.top)
    return 1 if checker.bad or result.failures else 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scenario", default="cc-stream", help="cc-stream | cc-json | body-250k | stream-2000"
    )
    parser.add_argument("--paced", action="store_true", help="in front of the paced upstream (bench.run)")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--sort", default="tottime", help="a pstats sort key (tottime, cumulative, ...)")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--output", default="claude-any.prof", help="where cProfile writes its data")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()
    sys.exit(asyncio.run(profile(args)))


if __name__ == "__main__":
    main()
