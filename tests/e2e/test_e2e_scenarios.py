"""The real Claude Code CLI through claude-any (in a thread) to a scripted OpenAI-compatible upstream.

Each test checks three sides: Claude Code's JSON result (text, `is_error`, usage), what the upstream
received (the tool output really came back in a `role: "tool"` message) and that Claude Code did not have
to heal around the gateway (`upstream_checks.assert_no_healing`).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from conftest import RunClaude, Session, Workspace
from loopback import DONE, FakeUpstream, Reply
from scripted import TOOL_ANSWER, Call, Model, chunk, error_reply, tool_outputs, usage_chunk
from upstream_checks import assert_no_healing, chat_bodies


def assert_success(session: Session, text: str | re.Pattern[str]) -> None:
    result = session.result
    assert result["is_error"] is False, result
    assert result["subtype"] == "success", result
    if isinstance(text, str):
        assert result["result"] == text
    else:
        assert text.fullmatch(result["result"]), result["result"]
    # Usage reached Claude Code from the upstream's final usage chunk (not zeros from a lost chunk).
    assert result["usage"]["input_tokens"] > 0, result["usage"]
    assert result["usage"]["output_tokens"] > 0, result["usage"]


def assert_tool_turn(bodies: list[dict[str, Any]], calls: int) -> dict[str, Any]:
    """Two requests: the tool calls, then their results; returns the second body."""
    assert len(bodies) == 2, [tool_outputs(b) for b in bodies]
    assert tool_outputs(bodies[0]) == []
    follow_up = bodies[1]
    assistant = [m for m in follow_up["messages"] if m.get("role") == "assistant"]
    assert len(assistant) == 1 and len(assistant[0]["tool_calls"]) == calls
    return follow_up


def test_plain_answer(upstream: FakeUpstream, openai_gateway: str, run_claude: RunClaude) -> None:
    upstream.responder = Model(answer="plain e2e answer")
    session = run_claude(openai_gateway, "say something")

    assert_success(session, "plain e2e answer")
    bodies = chat_bodies(upstream.requests)
    assert_no_healing(bodies)
    assert len(bodies) == 1
    assert bodies[0]["model"] == "gpt-4o"  # Claude Code's default (opus) → large
    assert "say something" in bodies[0]["messages"][1]["content"]


def test_bash_round_trip(upstream: FakeUpstream, openai_gateway: str, run_claude: RunClaude) -> None:
    # $RANDOM is expanded only by a real shell, so the number proves Bash ran the command.
    upstream.responder = Model(calls=[Call("Bash", {"command": "echo e2e-$RANDOM-marker"})])
    session = run_claude(openai_gateway, "run the marker command", "--allowedTools", "Bash")

    marker = re.compile(r"e2e-\d+-marker")
    assert_success(session, re.compile(f"{TOOL_ANSWER} {marker.pattern}"))
    bodies = chat_bodies(upstream.requests)
    assert_no_healing(bodies)
    follow_up = assert_tool_turn(bodies, calls=1)
    (output,) = tool_outputs(follow_up)
    assert marker.fullmatch(output.strip()), output
    assert output.strip() in session.result["result"]


def test_read_round_trip(
    upstream: FakeUpstream, openai_gateway: str, run_claude: RunClaude, workspace: Workspace
) -> None:
    secret = f"read-{uuid.uuid4().hex}"
    notes = workspace.cwd / "notes.txt"
    notes.write_text(f"the word is {secret}\n")
    upstream.responder = Model(calls=[Call("Read", {"file_path": str(notes)})])
    session = run_claude(openai_gateway, "read notes.txt", "--allowedTools", "Read")

    assert_success(session, re.compile(f"{TOOL_ANSWER} .*the word is {secret}.*", re.S))
    bodies = chat_bodies(upstream.requests)
    assert_no_healing(bodies)
    (output,) = tool_outputs(assert_tool_turn(bodies, calls=1))
    assert f"the word is {secret}" in output


def test_parallel_tool_calls(
    upstream: FakeUpstream, openai_gateway: str, run_claude: RunClaude, workspace: Workspace
) -> None:
    secret = f"par-{uuid.uuid4().hex}"
    (workspace.cwd / "notes.txt").write_text(f"{secret}\n")
    calls = [
        Call("Read", {"file_path": str(workspace.cwd / "notes.txt")}),
        Call("Bash", {"command": "echo bash-$((40 + 2))"}),
    ]
    upstream.responder = Model(calls=calls)
    session = run_claude(openai_gateway, "do both", "--allowedTools", "Read", "Bash")

    assert_success(session, re.compile(f"{TOOL_ANSWER} .*{secret}.* bash-42", re.S))
    bodies = chat_bodies(upstream.requests)
    assert_no_healing(bodies)
    follow_up = assert_tool_turn(bodies, calls=2)
    read_output, bash_output = tool_outputs(follow_up)
    assert secret in read_output
    assert bash_output.strip() == "bash-42"
    # Each result answers its own call, in the order the calls were made.
    ids = [m["tool_call_id"] for m in follow_up["messages"] if m.get("role") == "tool"]
    assert ids == ["call_e2e_0", "call_e2e_1"]


def test_streamed_reasoning(upstream: FakeUpstream, openai_gateway: str, run_claude: RunClaude) -> None:
    upstream.responder = Model(
        calls=[Call("Bash", {"command": "echo thought-out"})], reasoning="weighing the options"
    )
    session = run_claude(
        openai_gateway,
        "think, then run it",
        "--allowedTools",
        "Bash",
        "--output-format",
        "stream-json",
        "--verbose",
    )

    assert_success(session, f"{TOOL_ANSWER} thought-out")
    bodies = chat_bodies(upstream.requests)
    assert_no_healing(bodies)
    assert tool_outputs(assert_tool_turn(bodies, calls=1)) == ["thought-out"]
    # The reasoning reached Claude Code as thinking blocks, in both turns.
    thoughts = [
        block["thinking"]
        for event in session.events
        if event.get("type") == "assistant"
        for block in event["message"]["content"]
        if block.get("type") == "thinking"
    ]
    assert thoughts == ["weighing the options"] * 2


def test_rate_limited_once(upstream: FakeUpstream, openai_gateway: str, run_claude: RunClaude) -> None:
    # retry-after-ms (relayed by claude-any) keeps Claude Code's backoff short.
    rate_limit = error_reply(429, "Rate limit reached, slow down", **{"retry-after-ms": "10"})
    upstream.responder = Model(failures=[rate_limit], answer="after the 429")
    session = run_claude(openai_gateway, "try again")

    assert_success(session, "after the 429")
    bodies = chat_bodies(upstream.requests)
    assert_no_healing(bodies)
    # Claude Code retried the very same request (its system turn included) after the 429.
    assert len(bodies) == 2
    assert bodies[1]["messages"] == bodies[0]["messages"]


def test_a_tool_call_cut_inside_its_arguments_is_never_run(
    upstream: FakeUpstream, openai_gateway: str, run_claude: RunClaude, workspace: Workspace
) -> None:
    # The provider says the call is finished, but the command's end never arrived: completed, it would be
    # `touch cut-marker-` (a different command). Claude Code must never run it, whatever it does next.
    head = {"index": 0, "id": "call_cut", "type": "function"}
    cut = [
        chunk({"role": "assistant", "content": ""}),
        chunk(
            {"tool_calls": [head | {"function": {"name": "Bash", "arguments": '{"command": "touch cut-'}}]}
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": "marker-"}}]}),
        chunk({}, "tool_calls"),
        usage_chunk(1234, 42),
        DONE,
    ]
    upstream.responder = Model(failures=[Reply(chunks=cut)], answer="after the cut")
    session = run_claude(openai_gateway, "clean up", "--allowedTools", "Bash")

    assert not list(workspace.cwd.iterdir()), "the cut command ran"
    bodies = chat_bodies(upstream.requests)
    assert [tool_outputs(b) for b in bodies] == [[]] * len(bodies), "a tool result came back"
    # Claude Code saw an error, not an answer: it asked again (without streaming, as it heals) and got one.
    assert len(bodies) == 2 and session.result["result"] == "after the cut"
