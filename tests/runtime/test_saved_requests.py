"""`run --save-requests DIR`: request bodies kept for `explain --request`, the newest few, scrubbed, 0600."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

import pytest

from claude_any.runtime.scrub import Scrubber
from claude_any.runtime.serve import saved_requests
from claude_any.runtime.serve.saved_requests import RequestArchive


def save_all(archive: RequestArchive, count: int, size: int = 10) -> list[str]:
    ids = [f"req_{i:024x}" for i in range(count)]

    async def run() -> None:
        for request_id in ids:
            await archive.save(
                request_id, {"model": "m", "messages": [{"role": "user", "content": "x" * size}]}
            )

    asyncio.run(run())
    return ids


def test_only_the_newest_requests_are_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(saved_requests, "KEEP_FILES", 3)
    RequestArchive.prepare(str(tmp_path / "saved"))
    (tmp_path / "saved" / "notes.json").write_text("{}")  # not one of ours: never removed
    ids = save_all(RequestArchive(str(tmp_path / "saved"), lambda value: value), 5)
    assert sorted(p.name for p in (tmp_path / "saved").iterdir()) == sorted(
        ["notes.json", *(f"{rid}.json" for rid in ids[-3:])]
    )


def test_the_directory_is_bounded_in_bytes_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(saved_requests, "KEEP_BYTES", 2500)
    ids = save_all(RequestArchive(str(tmp_path), lambda value: value), 4, size=1000)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{rid}.json" for rid in ids[-2:]]


def test_saved_files_are_private_and_scrubbed(tmp_path: Path) -> None:
    directory = tmp_path / "saved"
    RequestArchive.prepare(str(directory))
    archive = RequestArchive(str(directory), Scrubber(["sk-secret-123456"]).value)
    asyncio.run(archive.save("req_1", {"system": "key sk-secret-123456", "messages": []}))
    saved = directory / "req_1.json"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert json.loads(saved.read_text()) == {"system": "key ***", "messages": []}


def test_a_full_disk_does_not_fail_the_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, propagating: None, caplog: pytest.LogCaptureFixture
) -> None:
    def full(self: RequestArchive, request_id: str, text: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(RequestArchive, "_write", full)
    asyncio.run(RequestArchive(str(tmp_path), lambda v: v).save("req_2", {"messages": []}))  # no exception
    assert f"req_2 not saved in {tmp_path}: No space left on device" in caplog.text
