"""The Claude Code settings for targets smaller than what Claude Code assumes: `explain` prints them for a
target, `claude-any code` sets them for every target of the table.

Checked against Claude Code 2.1.330 and 2.1.332 (`/context` shows the window and the compaction buffer):
- its current models (opus 4.7 and later, sonnet 5, fable 5) have a 1M-token window, and so does any model
  id it does not recognise (`--model large`), with a warning that it "assumes a context window of 1m";
- `CLAUDE_CODE_AUTO_COMPACT_WINDOW` sets the window compaction works in, for every model; below 100,000 it
  warns and uses 100,000;
- `CLAUDE_CODE_MAX_CONTEXT_TOKENS` sets the window of a model id it does not recognise (and silences the
  warning); it does not change a Claude model's window;
- it asks current models for up to 128,000 output tokens (`CLAUDE_CODE_MAX_OUTPUT_TOKENS` lowers that), and
  keeps min(output, 20,000) + 13,000 tokens of the window free for the compaction summary.
"""

from __future__ import annotations

from collections.abc import Iterable

from claude_any.table import Target

ASSUMED_CONTEXT = 1_000_000  # Claude Code's window for current Claude models and unrecognised ids
ASSUMED_MAX_OUTPUT = 128_000  # what it asks current models for
MIN_COMPACT_WINDOW = 100_000  # the smallest CLAUDE_CODE_AUTO_COMPACT_WINDOW it accepts


def claude_code_settings(targets: Iterable[Target]) -> dict[str, str]:
    """Environment settings for a Claude Code session whose requests may reach any of `targets`: the
    smallest known context window and output limit among them, where below what Claude Code assumes.

    A window under Claude Code's 100k compaction minimum sets only the window of unrecognised model ids;
    with a Claude model id the conversation is compacted when the provider reports the prompt too long.
    """
    contexts, outputs = [], []
    for target in targets:
        context, max_output = target.capabilities.get("context"), target.capabilities.get("max_output")
        if isinstance(context, int) and not isinstance(context, bool):
            contexts.append(context)
        if isinstance(max_output, int) and not isinstance(max_output, bool):
            outputs.append(max_output)
    settings: dict[str, str] = {}
    if contexts and min(contexts) < ASSUMED_CONTEXT:
        if min(contexts) >= MIN_COMPACT_WINDOW:
            settings["CLAUDE_CODE_AUTO_COMPACT_WINDOW"] = str(min(contexts))
        settings["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] = str(min(contexts))
    if outputs and min(outputs) < ASSUMED_MAX_OUTPUT:
        settings["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] = str(min(outputs))
    return settings
