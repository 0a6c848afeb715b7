"""Per-target and per-request state shared by request, response and stream translation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from claude_any.runtime.translate.tools import ToolNameMap

__all__ = ["Context", "ToolNameMap", "Upstream"]


@dataclass(frozen=True)
class Upstream:
    """What one target needs for translation; built once per target at start-up from `table.Target`."""

    model: str  # model / deployment name sent upstream
    capabilities: dict[str, Any]
    params: dict[str, Any]
    kind: str = "openai"  # provider kind: openai | azure | databricks | echo | ...


@dataclass
class Context:
    """Per request state, written by `to_openai` and read by the response/stream translators."""

    requested_model: str  # echoed back in message.model
    stream: bool
    tool_names: ToolNameMap = field(default_factory=ToolNameMap)
    estimated_input_tokens: int = 0
    # False once a non-streamed answer's usage had to be estimated (`usage.metered`); streams say it
    # themselves (`MessageStream.usage_metered`).
    usage_metered: bool = True
    # Stop sequences not sent upstream (more than 4, or a provider that rejects them); the stream side
    # enforces them on the output text.
    stop_sequences: tuple[str, ...] = ()
    # The provider's name, for the errors the answer's translation reports (set by the relay).
    provider: str = "upstream"
    # The stop sequences sent upstream: a provider that names the one it matched (vLLM `stop_reason`,
    # SGLang `matched_stop`) is reported as Anthropic reports a stop sequence.
    sent_stops: tuple[str, ...] = ()
    # The tag of the target answering (`signatures.target_tag`), written into thinking signatures so the
    # thinking goes back only to the target that wrote it.
    signer: str = ""
