"""The benchmark's processes: the fake upstream and claude-any started as children, and raw requests for them.

The servers run as separate processes so that their CPU time and memory can be read from /proc
(bench/procstat.py) apart from the load generator's.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port free on HOST right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def http_post(path: str, port: int, headers: dict[str, str], body: bytes) -> bytes:
    """A complete HTTP/1.1 POST request, as bytes ready to write on a keep-alive connection."""
    lines = [f"POST {path} HTTP/1.1", f"host: {HOST}:{port}", f"content-length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def start_upstream(
    first_byte_ms: float = 0.0, spread_ms: float = 0.0, extra: list[str] | None = None
) -> tuple[subprocess.Popen[str], int]:
    """The fake upstream (bench.upstream) as a process, instant by default, paced when given delays, with
    `extra` command-line options; and its port."""
    command = [*(extra or [])]
    if first_byte_ms or spread_ms:
        command += ["--first-byte-ms", str(first_byte_ms), "--spread-ms", str(spread_ms)]
    return start_module("bench.upstream", command)


def start_module(module: str, arguments: list[str]) -> tuple[subprocess.Popen[str], int]:
    """`python -m module arguments...` as a process that prints "PORT n" once it listens; it and its port."""
    command = [sys.executable, "-m", module, *arguments]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise SystemExit(f"{module} did not start: {line!r}")
    return proc, int(line.split()[1])


async def healthy(port: int) -> bool:
    """True when a server on HOST:`port` answers GET /health with 200."""
    try:
        reader, writer = await asyncio.open_connection(HOST, port)
    except OSError:
        return False
    writer.write(f"GET /health HTTP/1.1\r\nhost: {HOST}\r\nconnection: close\r\n\r\n".encode())
    status = await reader.readline()
    writer.close()
    return b" 200 " in status


async def launch(command: list[str], port: int, log_path: Path) -> subprocess.Popen[bytes]:
    """Start a gateway process (output to `log_path`) and wait until it answers /health on `port`."""
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while not await healthy(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"claude-any did not start:\n{log_path.read_text()[-2000:]}")
        await asyncio.sleep(0.05)
    return proc


def stop(proc: subprocess.Popen[str] | subprocess.Popen[bytes] | None) -> None:
    """Terminate a child process and wait for it."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=10)
