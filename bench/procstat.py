"""CPU time and peak memory of a server process (and its worker children), read from /proc.

Linux only, no psutil: utime+stime from /proc/<pid>/stat, the peak resident set (VmHWM) from
/proc/<pid>/status, and `clear_refs` to reset that peak between runs so each run reports its own.
"""

from __future__ import annotations

import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants (uvicorn's `--workers` children)."""
    found = [pid]
    for current in found:
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                found += [int(child) for child in task.read_text().split()]
            except OSError:
                continue
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by `pid` and its live descendants."""
    return sum(cpu_times(pid))


def cpu_times(pid: int) -> tuple[float, float]:
    """User and system CPU seconds used so far by `pid` and its live descendants. System time is the
    kernel's share: on loopback, a write runs the receiver's side of TCP too."""
    user = system = 0
    for proc in tree(pid):
        try:
            fields = Path(f"/proc/{proc}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        user += int(fields[11])  # utime, stime: fields 14 and 15 of stat
        system += int(fields[12])
    return user / _TICKS, system / _TICKS


def peak_rss_mb(pid: int) -> float:
    """The largest peak resident set (VmHWM) among `pid` and its descendants, in MiB."""
    peak = 0
    for proc in tree(pid):
        try:
            for line in Path(f"/proc/{proc}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            continue
    return peak / 1024


def reset_peak(pid: int) -> bool:
    """Reset the peak RSS of `pid` and its descendants to their current RSS; False where not allowed."""
    done = True
    for proc in tree(pid):
        try:
            Path(f"/proc/{proc}/clear_refs").write_text("5")
        except OSError:
            done = False
    return done
