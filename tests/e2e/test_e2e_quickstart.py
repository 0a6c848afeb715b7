"""Issue #7: `claude-any code --config examples/quickstart.yaml` with the real Claude Code, echo provider.

A `/tool Bash {...}` line makes echo answer with that tool call; Claude Code runs it and sends the result;
echo then summarises the result. Claude Code 2.1.330 in `-p` mode sends a prompt starting with an unknown
slash command (`/tool …`) as plain text, while known ones (`/help`) are handled locally and never sent.
Because a future `/tool` command or a user's own `tool` command or skill would capture such a prompt, the
directive also works on a later line, after any text; both forms are checked.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from conftest import REPO, Workspace, run_process

COMMAND = "echo echo-$((6 * 7))-e2e"  # only a real shell turns this into echo-42-e2e
PROMPTS = {
    "directive first": f'/tool Bash {{"command": "{COMMAND}"}}',
    "directive on a later line": f'Please run this.\n/tool Bash {{"command": "{COMMAND}"}}',
}


@pytest.mark.parametrize("prompt", PROMPTS.values(), ids=PROMPTS.keys())
def test_quickstart_tool_round_trip(claude: Path, workspace: Workspace, prompt: str) -> None:
    quickstart = str(REPO / "examples" / "quickstart.yaml")
    command = [sys.executable, "-m", "claude_any", "code", "--config", quickstart]
    command += ["--", "-p", prompt, "--output-format", "json", "--allowedTools", "Bash"]
    session = run_process(command, workspace.env(CLAUDE_ANY_CLAUDE=str(claude)), workspace.cwd)

    assert session.result["is_error"] is False, session.result
    assert (
        session.result["result"]
        == 'echo from claude-any: tool call call_echo_0 returned a result: "echo-42-e2e"'
    )
    assert session.result["usage"]["input_tokens"] > 0 and session.result["usage"]["output_tokens"] > 0

    # The gateway's request log (its path is announced on stderr): the tool call, then the summary, both
    # streamed, neither with a note (fallback, stream error, disconnect).
    found = re.search(r"\(log: (\S+)\)", session.stderr)
    assert found, session.stderr
    lines = [line for line in Path(found[1]).read_text().splitlines() if "POST /v1/messages" in line]
    assert len(lines) == 2, lines
    for line in lines:
        assert "-> large (echo/echo-large)" in line and "status=200" in line, line
        assert line.endswith(" stream"), line
