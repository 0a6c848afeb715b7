"""The serving process keeps freed heap memory for the next request instead of handing it back to the
system at once (serve/tuning.py): checked on a real process, by its resident memory after a free."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# Allocates 20 MB in 64 KB blocks (glibc's heap, not mmap), frees them, and prints how much of it is still
# resident: glibc's default gives the heap's free top back at once.
_PROBE = """
import sys
from claude_any.runtime.serve import tuning

def rss_kb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))

applied = tuning.keep_heap() if sys.argv[1] == "tuned" else False
blocks = [bytearray(64 * 1024) for _ in range(320)]
held = rss_kb()
del blocks
print(applied, held - rss_kb())
"""

glibc_only = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None, reason="glibc only"
)


def _freed_kb(mode: str, env: dict[str, str] | None = None) -> tuple[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True, env=env
    ).stdout.split()
    return out[0], int(out[1])


@glibc_only
def test_freed_memory_stays_for_the_next_request() -> None:
    applied, given_back = _freed_kb("plain")
    assert applied == "False" and given_back > 15_000  # glibc's default: returned at once
    applied, given_back = _freed_kb("tuned")
    assert applied == "True" and given_back < 2_000


@glibc_only
def test_the_environments_own_malloc_settings_win() -> None:
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "131072"}
    applied, given_back = _freed_kb("tuned", env)
    assert applied == "False" and given_back > 15_000
