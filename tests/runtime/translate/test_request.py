"""Anthropic -> OpenAI request translation: snapshots of the outgoing body per scenario, plus the rules
behind them as plain assertions (so a snapshot update cannot silently accept a broken rule)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension
from test_request_fixtures import check_openai_body

from claude_any.capabilities import lookup
from claude_any.runtime.errors import AnthropicError
from claude_any.runtime.translate.chat.request import nearest_effort, to_openai
from claude_any.runtime.translate.context import Context, Upstream
from claude_any.runtime.translate.signatures import signature, target_tag

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
PDF = "JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PD4+CmVuZG9iagp0cmFpbGVyCjw8Pj4KJSVFT0YK"
LONG_MCP = "mcp__acme-internal-knowledge-base__search_engineering_design_documents_by_keyword"


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


def translate(
    body: dict[str, Any],
    model: str = "gpt-4o",
    kind: str = "openai",
    params: dict[str, Any] | None = None,
    **caps: Any,
) -> tuple[dict[str, Any], Context]:
    capabilities = {**lookup(kind, model), **caps}
    up = Upstream(model=model, capabilities=capabilities, params=params or {"body": {}}, kind=kind)
    before = json.dumps(body, sort_keys=True)
    out, ctx = to_openai(body, up)
    assert json.dumps(body, sort_keys=True) == before, "the client's request must not be modified"
    check_openai_body(out)
    return out, ctx


def req(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-5", "max_tokens": 1024, "messages": list(messages), **fields}


def user(*content: Any) -> dict[str, Any]:
    return {
        "role": "user",
        "content": content[0] if len(content) == 1 and isinstance(content[0], str) else list(content),
    }


def assistant(*content: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": list(content)}


def text(value: str, **extra: Any) -> dict[str, Any]:
    return {"type": "text", "text": value, **extra}


def tool_use(call_id: str, name: str, **arguments: Any) -> dict[str, Any]:
    return {"type": "tool_use", "id": call_id, "name": name, "input": arguments}


def tool_result(call_id: str, content: Any = "ok", **extra: Any) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": call_id, "content": content, **extra}


def image_b64() -> dict[str, Any]:
    return {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}


def image_url() -> dict[str, Any]:
    return {"type": "image", "source": {"type": "url", "url": "https://example.test/diagram.png"}}


def tool(name: str, **props: Any) -> dict[str, Any]:
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": props or {"path": {"type": "string", "description": "Where to look"}},
        "required": list(props or ["path"]),
        "additionalProperties": False,
    }
    return {"name": name, "description": f"The {name} tool.", "input_schema": schema}


READ = tool("Read")
BASH = tool("Bash", command={"type": "string"}, timeout={"type": "number"})


# --- scenarios (snapshots) ----------------------------------------------------------------------------


def test_plain_text(snapshot_json: SnapshotAssertion) -> None:
    body = req(
        user("Say hello in French."),
        max_tokens=64000,
        temperature=0.3,
        top_p=0.9,
        top_k=40,
        metadata={"user_id": "user_abc_account_def_session_123"},
        context_management={"edits": []},
        service_tier="auto",
    )
    out, ctx = translate(body)
    assert out == snapshot_json
    assert out["max_completion_tokens"] == 16384  # clamped to gpt-4o's output limit
    assert "top_k" not in out and "context_management" not in out and "stream" not in out
    assert out["user"].startswith("ca-") and len(out["user"]) == 19
    assert ctx.requested_model == "claude-sonnet-4-5" and not ctx.stream


def test_system_blocks_and_mid_conversation_system_turns(snapshot_json: SnapshotAssertion) -> None:
    body = req(
        user(text("Earlier question."), text("   ")),
        {"role": "system", "content": "Reminder: the working directory is /srv/app."},
        assistant(text("Noted.")),
        {"role": "system", "content": [text("Second reminder.", cache_control={"type": "ephemeral"})]},
        user(
            text("Go on."),
            {"type": "mid_conv_system", "content": [text("Inline system note.")]},
            text("After the note."),
        ),
        system=[
            text("client: test-suite 1.0"),
            text("You are a careful coding assistant.", cache_control={"type": "ephemeral"}),
            text("Answer briefly."),
        ],
    )
    out, _ = translate(body)
    assert out == snapshot_json
    roles = [m["role"] for m in out["messages"]]
    assert roles == ["system", "user", "system", "assistant", "system", "user", "system", "user"]
    assert out["messages"][0]["content"].count("\n\n") == 2


def test_tool_round_trip_with_error_result(snapshot_json: SnapshotAssertion) -> None:
    body = req(
        user("List the files, then read the config."),
        assistant(text("Listing."), tool_use("toolu_01ListAAAAAAAAAAAAAAAAAA", "Bash", command="ls")),
        user(tool_result("toolu_01ListAAAAAAAAAAAAAAAAAA", "app.py\nconfig.toml", is_error=False)),
        assistant(tool_use("toolu_01ReadBBBBBBBBBBBBBBBBBB", "Read", path="config.toml")),
        user(
            tool_result("toolu_01ReadBBBBBBBBBBBBBBBBBB", [text("permission denied")], is_error=True),
            text("Try something else."),
        ),
        tools=[BASH, READ],
        tool_choice={"type": "auto"},
        stream=True,
    )
    out, ctx = translate(body, "gpt-4.1")
    assert out == snapshot_json
    assert out["messages"][-2] == {
        "role": "tool",
        "tool_call_id": "toolu_01ReadBBBBBBBBBBBBBBBBBB",
        "content": "Error: permission denied",
    }
    assert out["stream_options"] == {"include_usage": True} and ctx.stream


def test_parallel_tool_calls(snapshot_json: SnapshotAssertion) -> None:
    body = req(
        user("Read both files."),
        assistant(
            text("Reading both."),
            tool_use("toolu_a", "Read", path="a.py"),
            tool_use("toolu_b", "Read", path="b.py"),
        ),
        user(text("(meanwhile: be quick)"), tool_result("toolu_b", "B"), tool_result("toolu_a", [])),
        tools=[READ],
        tool_choice={"type": "any", "disable_parallel_tool_use": True},
    )
    out, _ = translate(body)
    assert out == snapshot_json
    roles = [m["role"] for m in out["messages"]]
    assert roles == ["user", "assistant", "tool", "tool", "user"]
    assert out["messages"][3]["content"] == "(no output)"
    assert out["tool_choice"] == "required" and out["parallel_tool_calls"] is False
    # o-series rejects even parallel_tool_calls: false.
    o3, _ = translate(body, "o3")
    assert "parallel_tool_calls" not in o3


def test_images_base64_url_and_inside_tool_result(snapshot_json: SnapshotAssertion) -> None:
    body = req(
        user(text("What is in these?"), image_b64(), image_url()),
        assistant(tool_use("toolu_shot", "Screenshot")),
        user(tool_result("toolu_shot", [text("captured"), image_b64()]), text("And this one?")),
        tools=[tool("Screenshot", region={"type": "string"})],
    )
    out, _ = translate(body)
    assert out == snapshot_json
    first = out["messages"][0]["content"]
    assert first[1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert first[2]["image_url"]["url"] == "https://example.test/diagram.png"
    assert (
        out["messages"][2]["role"] == "tool" and "see the next user message" in out["messages"][2]["content"]
    )
    assert out["messages"][3]["content"][1]["type"] == "image_url"

    # A model without vision gets notes instead of images, and the tool result keeps its text.
    blind, _ = translate(body, "llama3.1:8b")
    assert "[image omitted" in blind["messages"][0]["content"]
    assert all(m["role"] != "user" or isinstance(m["content"], str) for m in blind["messages"])


def test_documents(snapshot_json: SnapshotAssertion) -> None:
    body = req(
        user(
            {
                "type": "document",
                "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
                "title": "spec.pdf",
            },
            {
                "type": "document",
                "source": {"type": "text", "media_type": "text/plain", "data": "Plain notes."},
                "title": "notes.txt",
                "context": "From the wiki.",
            },
            {
                "type": "document",
                "source": {"type": "content", "content": [text("Chunk one."), text("Chunk two.")]},
            },
            {"type": "document", "source": {"type": "url", "url": "https://example.test/paper.pdf"}},
            text("Summarise them."),
        )
    )
    out, _ = translate(body, "gpt-4o", "openai")
    azure, _ = translate(body, "gpt-4o", "azure")
    assert {"openai": out, "azure": azure} == snapshot_json
    assert out["messages"][0]["content"][0] == {
        "type": "file",
        "file": {"filename": "spec.pdf", "file_data": f"data:application/pdf;base64,{PDF}"},
    }
    assert "[document omitted: spec.pdf" in azure["messages"][0]["content"]


def test_thinking_and_effort_per_model(snapshot_json: SnapshotAssertion) -> None:
    think = {"type": "enabled", "budget_tokens": 10000}
    adaptive_max = {"thinking": {"type": "adaptive"}, "output_config": {"effort": "max"}}
    base = req(user("Plan the refactor."), temperature=0.5, max_tokens=200000)
    with_tools = {**base, "tools": [READ], **adaptive_max}
    cases = {
        "o3 budget 10k": translate({**base, "thinking": think}, "o3")[0],
        "o3 budget 2k": translate({**base, "thinking": {"type": "enabled", "budget_tokens": 2000}}, "o3")[0],
        "o3 adaptive max": translate({**base, **adaptive_max}, "o3")[0],
        "gpt-5.4 adaptive max, no tools": translate({**base, **adaptive_max}, "gpt-5.4")[0],
        "gpt-5.4 adaptive max, tools": translate(with_tools, "gpt-5.4")[0],
        "gpt-5.4 no thinking": translate(base, "gpt-5.4")[0],
        "gpt-5 disabled": translate({**base, "thinking": {"type": "disabled"}}, "gpt-5")[0],
        "gpt-4o thinking": translate({**base, "thinking": think}, "gpt-4o")[0],
    }
    for case in cases.values():
        del case["messages"]
    assert cases == snapshot_json
    assert cases["o3 budget 10k"]["reasoning_effort"] == "medium"
    assert cases["o3 budget 2k"]["reasoning_effort"] == "low"
    assert cases["o3 adaptive max"]["reasoning_effort"] == "high"  # max -> highest accepted
    assert "temperature" not in cases["o3 adaptive max"]
    assert cases["gpt-5.4 adaptive max, no tools"]["reasoning_effort"] == "xhigh"
    assert "temperature" not in cases["gpt-5.4 adaptive max, no tools"]
    assert cases["gpt-5.4 adaptive max, tools"]["reasoning_effort"] == "none"
    assert cases["gpt-5.4 adaptive max, tools"]["temperature"] == 0.5  # sampling is allowed at effort none
    assert cases["gpt-5 disabled"]["reasoning_effort"] == "minimal"
    assert "reasoning_effort" not in cases["gpt-4o thinking"]
    assert cases["gpt-5.4 adaptive max, tools"]["max_completion_tokens"] == 128000


def test_structured_output(snapshot_json: SnapshotAssertion) -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"title": {"type": "string"}, "tags": {"type": "array", "items": {"type": "object"}}},
        "required": ["title"],
    }
    body = req(
        user("Name this session."),
        output_config={"effort": "low", "format": {"type": "json_schema", "schema": schema}},
    )
    out, _ = translate(body)
    assert out == snapshot_json
    fmt = out["response_format"]["json_schema"]
    assert fmt["strict"] is False and "$schema" not in fmt["schema"]
    assert fmt["schema"]["properties"]["tags"]["items"] == {"type": "object", "properties": {}}


def test_more_than_four_stop_sequences(snapshot_json: SnapshotAssertion) -> None:
    stops = ["\n\nHuman:", "END", "", "STOP", "###", "</answer>"]
    out, ctx = translate(req(user("Count."), stop_sequences=stops))
    o3, o3_ctx = translate(req(user("Count."), stop_sequences=stops), "o3")
    assert {
        "gpt-4o": [out["stop"], list(ctx.stop_sequences)],
        "o3": [o3.get("stop"), list(o3_ctx.stop_sequences)],
    } == snapshot_json
    assert out["stop"] == ["\n\nHuman:", "END", "STOP", "###"] and ctx.stop_sequences == ("</answer>",)
    assert "stop" not in o3 and len(o3_ctx.stop_sequences) == 5


def test_long_mcp_tool_names_are_mapped_and_mapped_back(snapshot_json: SnapshotAssertion) -> None:
    dotted = "mcp__files.v2__read file"
    body = req(
        user("Search the design docs."),
        assistant(tool_use("toolu_m1", LONG_MCP, keyword="cache")),
        user(tool_result("toolu_m1", "3 documents")),
        tools=[tool(LONG_MCP, keyword={"type": "string"}), tool(dotted), READ],
        tool_choice={"type": "tool", "name": LONG_MCP},
    )
    out, ctx = translate(body)
    assert out == snapshot_json
    sent = [t["function"]["name"] for t in out["tools"]]
    assert sent[2] == "Read" and all(len(n) <= 64 for n in sent)
    assert [ctx.tool_names.to_claude(n) for n in sent] == [LONG_MCP, dotted, "Read"]
    assert out["messages"][1]["tool_calls"][0]["function"]["name"] == sent[0]
    assert out["tool_choice"] == {"type": "function", "function": {"name": sent[0]}}
    assert ctx.tool_names.to_claude("NotOurs") == "NotOurs"


def test_server_and_deferred_tools_are_dropped(snapshot_json: SnapshotAssertion) -> None:
    server = [
        {"type": "memory_20250818", "name": "memory"},
        {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"},
        {"type": "bash_20250124", "name": "bash"},
    ]
    deferred = {**tool("LaterTool"), "defer_loading": True}
    mixed, _ = translate(
        req(
            user("Find it."),
            tools=[*server, deferred, {**READ, "type": "custom"}],
            tool_choice={"type": "tool", "name": "memory"},
        )
    )
    only_server, _ = translate(
        req(
            user("Find it."),
            tools=[*server, deferred],
            tool_choice={"type": "any", "disable_parallel_tool_use": True},
        )
    )
    assert {"mixed": mixed, "only_server": only_server} == snapshot_json
    assert [t["function"]["name"] for t in mixed["tools"]] == ["Read"]
    assert mixed["tool_choice"] == "auto"  # the named tool was dropped
    assert not {"tools", "tool_choice", "parallel_tool_calls"} & only_server.keys()


@pytest.mark.parametrize(
    "server_tool",
    [
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 8},
        {"type": "web_fetch_20250910", "name": "web_fetch"},
        {"type": "code_execution_20250825", "name": "code_execution"},
    ],
)
def test_server_tools_anthropic_runs_are_refused_not_dropped(server_tool: dict[str, Any]) -> None:
    """Claude Code's WebSearch sends `web_search_20250305`; dropped, the model would answer as if it had
    searched. A 400 that says so is the truthful answer."""
    with pytest.raises(AnthropicError) as info:
        translate(req(user("Search for it."), tools=[READ, server_tool]))
    assert info.value.status == 400
    assert info.value.message.startswith(f"tools.1: {server_tool['type']} is a server tool")


def test_claude_code_shaped_request(snapshot_json: SnapshotAssertion) -> None:
    """Same structure as a real capture (three system blocks, a system turn, many tools with `$schema`,
    adaptive thinking, cache_control everywhere, context_management), with text written for this test."""
    body = {
        "model": "claude-opus-4-6",
        "max_tokens": 128000,
        "stream": True,
        "system": [
            text("client-header: version=9.9.9; entry=test;"),
            text("You are a coding agent used in tests.", cache_control={"type": "ephemeral"}),
            text("\nWork step by step and keep answers short.", cache_control={"type": "ephemeral"}),
        ],
        "messages": [
            user(text("<reminder>\nProject notes go here.\n</reminder>"), text("run the greeting script")),
            {
                "role": "system",
                "content": [
                    text("# Environment\n - cwd: /home/test/project", cache_control={"type": "ephemeral"})
                ],
                "output_config": {"effort": "medium"},
            },
            assistant(
                {
                    "type": "thinking",
                    "thinking": "The user wants the script run.",
                    "signature": "c2lnbmF0dXJl",
                },
                text("Running it."),
                tool_use(
                    "toolu_0123456789abcdef01234567",
                    "Bash",
                    command="./greet.sh",
                    description="Run the greeting",
                ),
            ),
            user(
                tool_result(
                    "toolu_0123456789abcdef01234567",
                    "hello from greet.sh",
                    is_error=False,
                    cache_control={"type": "ephemeral"},
                )
            ),
        ],
        "tools": [
            BASH,
            READ,
            tool("Edit", file_path={"type": "string"}, old={"type": "string"}, new={"type": "string"}),
            {
                "name": "TodoList",
                "description": "No arguments.",
                "input_schema": {
                    "$schema": "https://json-schema.org/draft/2020-12/schema",
                    "type": "object",
                    "additionalProperties": False,
                },
            },
            {
                "name": "Placeholder",
                "description": "never call",
                "input_schema": {"type": "object", "properties": {}},
                "defer_loading": True,
            },
            tool("mcp__docs__lookup", query={"type": "string", "format": "uri"}),
        ],
        "metadata": {
            "user_id": json.dumps({"device_id": "0" * 64, "account_uuid": "", "session_id": "test-session"})
        },
        "thinking": {"type": "adaptive", "display": "omitted"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "output_config": {"effort": "medium"},
    }
    out, ctx = translate(body, "gpt-5.4")
    assert out == snapshot_json
    assert out["messages"][3]["content"] == "Running it."  # thinking dropped
    assert out["tools"][3]["function"]["parameters"] == {
        "type": "object",
        "additionalProperties": False,
        "properties": {},
    }
    assert out["reasoning_effort"] == "none"
    assert ctx.estimated_input_tokens > 0


# --- history repair -----------------------------------------------------------------------------------


def test_history_repair(snapshot_json: SnapshotAssertion) -> None:
    body = req(
        user(""),
        user("Start."),
        assistant(tool_use("toolu_interrupted", "Bash", command="sleep 100")),
        user(text("Never mind, stop."), tool_result("toolu_unknown", "stray output")),
        assistant(text("Stopping.")),
        assistant(tool_use("bad id!", "Read", path="x")),
        assistant(tool_use("bad id!", "Read", path="y")),
        user(tool_result("bad id!", "first"), tool_result("bad id!", "second")),
        assistant({"type": "thinking", "thinking": "only thoughts", "signature": "x"}),
        assistant({"type": "redacted_thinking", "data": "opaque"}, text("")),
        user(text("Done?"), {"type": "brand_new_block", "payload": 1}),
        assistant(tool_use("toolu_dangling", "Read", path="z")),
    )
    out, _ = translate(body)
    assert out == snapshot_json
    msgs = out["messages"]
    assert msgs[1]["role"] == "assistant" and msgs[2] == {
        "role": "tool",
        "tool_call_id": "toolu_interrupted",
        "content": "[no result: the tool call was interrupted]",
    }
    assert "[result of tool call toolu_unknown]: stray output" in msgs[3]["content"]
    assert msgs[0] == {"role": "user", "content": "Start."}  # the empty turn merged away
    merged = msgs[4]  # consecutive assistant turns are merged, like Anthropic does
    ids = [c["id"] for c in merged["tool_calls"]]
    assert (
        merged["content"] == "Stopping." and len(set(ids)) == 2 and all(i.startswith("toolu_") for i in ids)
    )
    assert [(m["tool_call_id"], m["content"]) for m in msgs[5:7]] == [(ids[0], "first"), (ids[1], "second")]
    # Turns that only thought (consecutive ones merged) stay a turn, empty for a model that cannot read them.
    assert msgs[7] == {"role": "assistant", "content": ""}
    assert msgs[8] == {"role": "user", "content": "Done?"}
    assert msgs[-1]["tool_call_id"] == msgs[-2]["tool_calls"][0]["id"]


def test_system_turn_between_call_and_result_waits_for_the_result() -> None:
    body = req(
        user("Go."),
        assistant(tool_use("toolu_x", "Read", path="a")),
        {"role": "system", "content": "Late reminder."},
        user(tool_result("toolu_x", "A"), text("next")),
    )
    out, _ = translate(body)
    assert [m["role"] for m in out["messages"]] == ["user", "assistant", "tool", "system", "user"]


def test_deepseek_gets_reasoning_content_back() -> None:
    own = signature(target_tag("openai", "deepseek-v4-pro"), "Need the file.")
    body = req(
        user("Go."),
        assistant(
            {"type": "thinking", "thinking": "Need the file.", "signature": own},
            tool_use("toolu_d", "Read", path="a"),
        ),
        user(tool_result("toolu_d", "A")),
        assistant(tool_use("toolu_e", "Read", path="b")),
        user(tool_result("toolu_e", "B")),
        tools=[READ],
    )
    out, _ = translate(body, "deepseek-v4-pro")
    assert out["messages"][1]["reasoning_content"] == "Need the file."
    assert out["messages"][3]["reasoning_content"] == ""
    plain, _ = translate(body, "gpt-4o")
    assert all("reasoning_content" not in m for m in plain["messages"])


# --- target params -----------------------------------------------------------------------------------


def test_target_params_win() -> None:
    params = {
        "reasoning_effort": "high",
        "max_tokens": 2000,
        "temperature": 0.1,
        "body": {"prompt_cache_key": "k"},
    }
    body = req(user("Hi."), max_tokens=8000, temperature=0.9)
    out, _ = translate(body, "gpt-4o", params=params)
    assert out["reasoning_effort"] == "high"
    assert out["max_completion_tokens"] == 2000
    assert out["temperature"] == 0.1
    # params.body is rendered and laid over this body by provider_templates / upstream, not here.
    assert "prompt_cache_key" not in out


def test_token_field_follows_capabilities() -> None:
    out, _ = translate(req(user("Hi."), max_tokens=0), "llama3.1:8b")
    assert out["max_tokens"] == 1 and "max_completion_tokens" not in out
    out, _ = translate(req(user("Hi.")), "databricks-meta-llama-3-3-70b-instruct", "databricks")
    assert out["max_tokens"] == 1024


@pytest.mark.parametrize(
    "requested,accepted,expected",
    [
        ("medium", ["low", "medium", "high"], "medium"),
        ("max", ["low", "medium", "high"], "high"),
        ("xhigh", ["high", "max"], "max"),
        ("low", ["high", "max"], "high"),
        ("minimal", ["none", "low", "medium"], "low"),
        ("medium", ["low", "high"], "high"),
        ("none", ["minimal", "low"], "minimal"),
        ("bogus", ["low"], None),
        ("low", [], None),
    ],
)
def test_nearest_effort(requested: str, accepted: list[str], expected: str | None) -> None:
    assert nearest_effort(requested, accepted) == expected


# --- malformed input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body,path",
    [
        ([], "request body"),
        ({"messages": []}, "model"),
        ({"model": "m"}, "messages"),
        ({"model": "m", "messages": {}}, "messages"),
        ({"model": "m", "messages": ["hi"]}, "messages.0"),
        ({"model": "m", "messages": [{"role": "robot", "content": "x"}]}, "messages.0.role"),
        ({"model": "m", "messages": [{"role": "user", "content": 7}]}, "messages.0.content"),
        ({"model": "m", "messages": [{"role": "user", "content": ["x"]}]}, "messages.0.content.0"),
        (
            {"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": 1}]}]},
            "messages.0.content.0.text",
        ),
        (
            {"model": "m", "messages": [assistant({"type": "tool_use", "id": "t", "input": {}})]},
            "messages.0.content.0.name",
        ),
        (
            {"model": "m", "messages": [assistant(tool_use("t", "X") | {"input": [1]})]},
            "messages.0.content.0.input",
        ),
        ({"model": "m", "messages": [user({"type": "image", "source": "x"})]}, "messages.0.content.0.source"),
        ({"model": "m", "messages": [], "max_tokens": "10"}, "max_tokens"),
        ({"model": "m", "messages": [], "max_tokens": True}, "max_tokens"),
        ({"model": "m", "messages": [], "temperature": "hot"}, "temperature"),
        ({"model": "m", "messages": [], "stop_sequences": ["a", 1]}, "stop_sequences.1"),
        ({"model": "m", "messages": [], "tools": [{"input_schema": {}}]}, "tools.0.name"),
        ({"model": "m", "messages": [], "tools": {}}, "tools"),
        ({"model": "m", "messages": [], "system": 5}, "system"),
        ({"model": "m", "messages": [], "stream": "yes"}, "stream"),
    ],
)
def test_malformed_input_is_a_400_naming_the_path(body: Any, path: str) -> None:
    up = Upstream(model="gpt-4o", capabilities=lookup("openai", "gpt-4o"), params={"body": {}})
    with pytest.raises(AnthropicError) as info:
        to_openai(body, up)
    assert info.value.status == 400 and info.value.type == "invalid_request_error"
    assert info.value.message.startswith(f"{path}:")
    # JSON's names for what came, never Python's (`NoneType`, `int`, `dict`, `list`, `str`).
    assert not re.search(r"\bgot (NoneType|int|float|dict|list|str|bool)\b", info.value.message)


@pytest.mark.parametrize(
    ("content", "said"),
    [(7, "a number"), ({"a": 1}, "an object"), (True, "a boolean")],  # null content: an empty message
)
def test_a_wrong_json_type_is_named_as_json_names_it(content: Any, said: str) -> None:
    up = Upstream(model="gpt-4o", capabilities=lookup("openai", "gpt-4o"), params={"body": {}})
    with pytest.raises(AnthropicError) as info:
        to_openai({"model": "m", "messages": [{"role": "user", "content": content}]}, up)
    assert (
        info.value.message == f"messages.0.content: expected a string or a list of content blocks, got {said}"
    )


def test_unknown_fields_and_blocks_are_ignored() -> None:
    body = req(
        user(text("Hi."), {"type": "future_block", "x": 1}, {"no_type": True}),
        assistant(
            {"type": "server_tool_use", "id": "srv", "name": "web_search", "input": {}}, text("Hello.")
        ),
        container="c1",
        mcp_servers=[],
        inference_geo="global",
        cache_control={"type": "ephemeral"},
        context_management={"edits": [{"type": "clear_thinking_20251015"}]},
        service_tier="auto",
        speed="fast",
        a_field_from_the_future={"x": 1},
    )
    out, _ = translate(body)
    assert out["messages"] == [{"role": "user", "content": "Hi."}, {"role": "assistant", "content": "Hello."}]
    assert set(out) == {"model", "messages", "max_completion_tokens"}
