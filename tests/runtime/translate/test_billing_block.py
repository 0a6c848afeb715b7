"""Claude Code's billing-metadata system block never reaches an OpenAI-style provider."""

from __future__ import annotations

from claude_any.capabilities import lookup
from claude_any.runtime.translate.chat.request import to_openai
from claude_any.runtime.translate.context import Upstream


def test_billing_block_is_left_out_and_the_rest_kept() -> None:
    body = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 1000,
        "system": [
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=9.9.9.abc; cc_entrypoint=cli;"},
            {"type": "text", "text": "You are a careful coding agent."},
        ],
        "messages": [{"role": "user", "content": "hi"}],
    }
    up = Upstream(model="gpt-4.1", capabilities=lookup("openai", "gpt-4.1"), params={})
    sent, _ = to_openai(body, up)
    assert sent["messages"][0] == {"role": "system", "content": "You are a careful coding agent."}
    assert "billing" not in str(sent)


def test_a_user_system_prompt_mentioning_billing_is_kept() -> None:
    body = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 1000,
        "system": "Explain the x-anthropic-billing-header: it is documented.",
        "messages": [{"role": "user", "content": "hi"}],
    }
    up = Upstream(model="gpt-4.1", capabilities=lookup("openai", "gpt-4.1"), params={})
    sent, _ = to_openai(body, up)
    assert sent["messages"][0]["content"].startswith("Explain the x-anthropic-billing-header")
