"""`run`'s logs as a user reads them: `--log-file`, what `--log-level debug` shows of each call (the
translated request and the provider's answer, secrets scrubbed, bodies cut), and `--save-requests`, whose
files `explain --request` reads. A real `claude-any run` in front of the fake provider, over loopback."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import httpx
from cli_process import Running, claude_any, free_port, wait_until_listening
from loopback import DONE, FakeUpstream, Reply

KEY = "sk-logtest-0123456789abcdef"  # what the provider is given, and quotes back


def completion(text: str) -> dict[str, object]:
    message = {"role": "assistant", "content": text}
    return {"id": "c", "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}


def chunk(delta: dict[str, str] | None = None, finish: str | None = None) -> dict[str, object]:
    return {"id": "c", "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}]}


def test_debug_log_file_shows_each_call_scrubbed_and_saved_requests_explain(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"providers:\n  up: {{kind: openai, base_url: '{upstream.url}/v1', api_key: '${{UP_KEY}}'}}\n"
        "model_categories: {large: up/gpt-4o, small: up/gpt-4o-mini}\n",
        encoding="utf-8",
    )
    log_file, saved = tmp_path / "claude-any.log", tmp_path / "requests"
    upstream.script(
        Reply(json=completion(f"I was called with {KEY}")),
        Reply(chunks=[chunk({"content": f"streamed {KEY}"}), chunk(finish="stop"), DONE]),
    )
    port = free_port()
    args = [str(config), "--port", str(port), "--log-level", "debug", "--log-file", str(log_file)]
    server = Running([*args, "--save-requests", str(saved)], tmp_path, env={"UP_KEY": KEY})
    try:
        server.wait_for_line(r"serving http://")
        assert server.wait_for_line(r"logging to (\S+) ").group(1) == str(log_file)
        wait_until_listening(f"http://127.0.0.1:{port}")
        long_prompt = "word " * 2000  # 10,000 characters: cut in the log, whole in the saved file
        bodies = [
            {
                "model": "claude-sonnet-4-6",
                "max_tokens": 50,
                "messages": [{"role": "user", "content": long_prompt}],
            },
            {
                "model": "claude-sonnet-4-6",
                "max_tokens": 50,
                "stream": True,
                "messages": [{"role": "user", "content": "hi"}],
            },
        ]
        ids = []
        for body in bodies:
            answer = httpx.post(f"http://127.0.0.1:{port}/v1/messages", json=body, timeout=10)
            assert answer.status_code == 200, answer.text
            ids.append(answer.headers["request-id"])
    finally:
        status, stderr = server.interrupt()
    assert status in (0, 130) and stderr == "", "with --log-file, nothing goes to stderr"

    log = log_file.read_text(encoding="utf-8")
    assert KEY not in log
    lines = log.splitlines()
    sent = [line for line in lines if f"-> up/gpt-4o POST {upstream.url}/v1/chat/completions " in line]
    assert [line.split(" DEBUG ")[1].split()[1] for line in sent] == ids, "one line per call, by request id"
    assert '"model":"gpt-4o"' in sent[0] and '"max_completion_tokens":50' in sent[0]
    cut = re.search(r"\.\.\.\[(\d+) chars\]$", sent[0])
    assert cut and int(cut.group(1)) > 10_000, "the translated body is cut at a size, saying how long it was"
    assert len(sent[0]) < 4000
    answered = next(line for line in lines if f"{ids[0]} <- up/gpt-4o " in line)
    assert "I was called with ***" in answered, "the provider's answer, its quoted key scrubbed"
    streamed = next(line for line in lines if f"{ids[1]} <- up/gpt-4o stream, " in line)
    assert "streamed ***" in streamed and "data: " in streamed
    assert sum(f"{ids[0]} POST /v1/messages " in line and " INFO " in line for line in lines) == 1

    files = sorted(saved.iterdir())
    assert sorted(f.name for f in files) == sorted(f"{rid}.json" for rid in ids)
    assert stat.S_IMODE(saved.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    kept = json.loads((saved / f"{ids[0]}.json").read_text(encoding="utf-8"))
    assert kept == bodies[0], "the request as the client sent it, whole"
    explained = claude_any(
        "explain",
        "claude-sonnet-4-6",
        "--config",
        str(config),
        "--request",
        str(saved / f"{ids[1]}.json"),
        home=tmp_path,
    )
    assert explained.returncode == 0, explained.stderr
    assert "stream = true" in explained.stdout and "messages = 1" in explained.stdout
