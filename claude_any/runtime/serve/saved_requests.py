"""`run --save-requests DIR`: each /v1/messages request body kept as DIR/<request id>.json, the newest few.

A saved file is what `claude-any explain MODEL --request FILE` reads, so a user can see why a real request
of their client went where it went. The directory is bounded: after each save the oldest saved requests
are removed until at most KEEP_FILES of them, and KEEP_BYTES in all, remain. Secrets the config resolves
are scrubbed out; files are written 0600 in a 0700 directory (a prompt is the user's business).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger("claude_any")

KEEP_FILES = 100
KEEP_BYTES = 256 * 1024 * 1024
_SAVED_NAME = re.compile(r"req_[0-9a-f]+\.json")  # only files this feature wrote are ever removed


class RequestArchive:
    """Saves request bodies into one directory and keeps it bounded."""

    def __init__(self, directory: str, scrub: Callable[[Any], Any]) -> None:
        self.directory = Path(directory)
        self._scrub = scrub

    @staticmethod
    def prepare(directory: str) -> None:
        """Create the directory (0700) if needed; raises OSError when it cannot be used."""
        os.makedirs(directory, mode=0o700, exist_ok=True)
        if not os.access(directory, os.W_OK | os.X_OK):
            raise PermissionError(13, "Permission denied", directory)

    async def save(self, request_id: str, body: dict[str, Any]) -> None:
        """Write `body` as `<request_id>.json` and prune, off the event loop."""
        text = json.dumps(self._scrub(body), ensure_ascii=False, indent=2) + "\n"
        try:
            await asyncio.to_thread(self._write, request_id, text)
        except OSError as exc:  # a full disk must not fail the request it was only keeping a copy of
            logger.warning("%s not saved in %s: %s", request_id, self.directory, exc.strerror or exc)

    def _write(self, request_id: str, text: str) -> None:
        fd, tmp = tempfile.mkstemp(prefix=".saving-", dir=self.directory)  # created 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, self.directory / f"{request_id}.json")  # never half a file under the name
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._prune()

    def _prune(self) -> None:
        saved: list[tuple[int, int, Path]] = []
        for entry in os.scandir(self.directory):
            if _SAVED_NAME.fullmatch(entry.name):
                try:
                    info = entry.stat()
                except FileNotFoundError:  # another worker process pruned it
                    continue
                saved.append((info.st_mtime_ns, info.st_size, Path(entry.path)))
        saved.sort(reverse=True)  # newest first
        kept_bytes = 0
        for count, (_, size, path) in enumerate(saved, 1):
            kept_bytes += size
            if count > KEEP_FILES or (kept_bytes > KEEP_BYTES and count > 1):
                path.unlink(missing_ok=True)
