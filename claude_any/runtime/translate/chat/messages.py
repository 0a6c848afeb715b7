"""Anthropic conversation -> OpenAI Chat Completions `messages` (docs/PROTOCOL.md "Conversation").

The hard part is ordering: OpenAI wants every assistant `tool_calls` message followed at once by one
`tool` message per call, before anything else. Anthropic histories from real sessions are not always that
tidy (interrupted tools, system turns, consecutive turns of one role), so the history is repaired rather
than rejected: missing results are synthesised, stray results become user text, empty turns disappear.
Only input of the wrong JSON type is an error (400, naming its JSON path).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping
from typing import Any

from claude_any.runtime.errors import AnthropicError, invalid_request, json_type
from claude_any.runtime.translate.ids import Carried, read_carried
from claude_any.runtime.translate.replay import SKIP_THOUGHT_SIGNATURE, Replay, tool_call_extra
from claude_any.runtime.translate.tools import ToolNameMap

log = logging.getLogger(__name__)

JSON = dict[str, Any]

# OpenAI rejects tool_call ids longer than 40 characters; Anthropic's `toolu_…` ids are 30.
_VALID_CALL_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
# A provider's own id carried in a tool_use id (Kimi's `functions.Bash:0`) goes back as it was issued.
_PROVIDER_CALL_ID = re.compile(r"^[\x21-\x7e]{1,40}$")

NO_RESULT = "[no result: the tool call was interrupted]"
EMPTY_RESULT = "(no output)"
MEDIA_MOVED = "[attachment returned; see the next user message]"
IMAGE_OMITTED = "[image omitted: this model cannot read images]"

# The key under which `keep_thinking` leaves an assistant turn's thinking blocks (not an OpenAI field).
THINKING_BLOCKS = "thinking_blocks"

# Blocks that carry nothing an OpenAI-style model can use; dropped quietly (debug log only).
_SILENT_DROPS = frozenset({"thinking", "redacted_thinking", "server_tool_use", "tool_reference"})
_THOUGHT = frozenset({"thinking", "redacted_thinking"})


def bad(path: str, message: str) -> AnthropicError:
    """400 invalid_request_error for malformed input at a JSON path such as `messages.3.content.0`."""
    return invalid_request(f"{path}: {message}")


def _text_of(block: JSON, path: str) -> str:
    text = block.get("text", "")
    if not isinstance(text, str):
        raise bad(f"{path}.text", f"expected a string, got {json_type(text)}")
    return text


def _blocks(content: Any, path: str) -> list[tuple[str, JSON]]:
    """Message content as (path, block) pairs; a plain string is one text block."""
    if content is None:
        return []
    if isinstance(content, str):
        return [(path, {"type": "text", "text": content})]
    if not isinstance(content, list):
        raise bad(path, f"expected a string or a list of content blocks, got {json_type(content)}")
    out: list[tuple[str, JSON]] = []
    for j, block in enumerate(content):
        if not isinstance(block, dict):
            raise bad(f"{path}.{j}", f"expected a content block object, got {json_type(block)}")
        if "type" in block and not isinstance(block["type"], str):
            raise bad(f"{path}.{j}.type", "expected the block type as a string")
        out.append((f"{path}.{j}", block))
    return out


# Claude Code's first system block is billing metadata for Anthropic (client version + conversation
# fingerprint). It means nothing to other models and, sitting first, breaks providers' prompt-prefix caching.
BILLING_HEADER_PREFIX = "x-anthropic-billing-header:"


def system_text(system: Any, path: str = "system") -> str:
    """The text of a `system` value (string or text blocks), blocks joined by a blank line; Claude Code's
    billing-metadata block is left out."""
    texts = [_text_of(b, p) for p, b in _blocks(system, path) if b.get("type") == "text"]
    return "\n\n".join(t for t in texts if t.strip() and not t.startswith(BILLING_HEADER_PREFIX))


class _Parts:
    """Builds the content parts of one user message, degrading media the model cannot read to text."""

    def __init__(self, caps: Mapping[str, Any]) -> None:
        self.vision = bool(caps.get("vision"))
        self.pdf = bool(caps.get("pdf"))
        self.items: list[JSON] = []

    def text(self, text: str) -> None:
        if text.strip():
            self.items.append({"type": "text", "text": text})

    def image(self, block: JSON, path: str) -> None:
        source = block.get("source")
        if not isinstance(source, dict):
            raise bad(f"{path}.source", "expected an object")
        kind = source.get("type")
        if kind == "base64":
            data = source.get("data")
            if not isinstance(data, str):
                raise bad(f"{path}.source.data", "expected a base64 string")
            url = f"data:{source.get('media_type') or 'image/png'};base64,{data}"
        elif kind == "url" and isinstance(source.get("url"), str):
            url = source["url"]
        else:
            log.info("%s: image source %r not supported upstream; replaced by a note", path, kind)
            self.text(f"[image omitted: source type {kind!r} is not supported]")
            return
        if not self.vision:
            log.info("%s: model has no vision; image replaced by a note", path)
            self.text(IMAGE_OMITTED)
            return
        self.items.append({"type": "image_url", "image_url": {"url": url}})

    def document(self, block: JSON, path: str) -> None:
        source = block.get("source")
        if not isinstance(source, dict):
            raise bad(f"{path}.source", "expected an object")
        title = block.get("title") if isinstance(block.get("title"), str) else None
        context = block.get("context") if isinstance(block.get("context"), str) else None
        kind = source.get("type")
        header = "\n\n".join(x for x in (f"Document: {title}" if title else None, context) if x)
        if kind == "base64" and source.get("media_type", "application/pdf") == "application/pdf":
            data = source.get("data")
            if not isinstance(data, str):
                raise bad(f"{path}.source.data", "expected a base64 string")
            if self.pdf:
                file = {
                    "filename": title or "document.pdf",
                    "file_data": f"data:application/pdf;base64,{data}",
                }
                self.items.append({"type": "file", "file": file})
            else:
                log.info("%s: model cannot read PDF files; document replaced by a note", path)
                self.text(f"[document omitted: {title or 'PDF'}; this model cannot read PDF files]")
        elif kind == "text" and isinstance(source.get("data"), str):
            self.text("\n\n".join(x for x in (header, source["data"]) if x))
        elif kind == "content":
            self.text(header)
            for sub_path, sub in _blocks(source.get("content"), f"{path}.source.content"):
                self.block(sub, sub_path)
        else:
            where = source.get("url") if isinstance(source.get("url"), str) else kind
            log.info("%s: document source %r not supported upstream; replaced by a note", path, kind)
            self.text(f"[document omitted: {title or where}]")

    def search_result(self, block: JSON, path: str) -> None:
        lines = [f"Search result: {block.get('title', '')} ({block.get('source', '')})"]
        lines += [
            _text_of(b, p)
            for p, b in _blocks(block.get("content"), f"{path}.content")
            if b.get("type") == "text"
        ]
        self.text("\n".join(lines))

    def block(self, block: JSON, path: str) -> None:
        """Add one user-side block (text, image, document, search result); other kinds are dropped."""
        kind = block.get("type")
        if kind == "text":
            self.text(_text_of(block, path))
        elif kind == "image":
            self.image(block, path)
        elif kind == "document":
            self.document(block, path)
        elif kind == "search_result":
            self.search_result(block, path)
        elif kind in _SILENT_DROPS:
            log.debug("%s: dropped %s block", path, kind)
        else:
            log.info("%s: dropped block of unsupported type %r", path, kind)


def _content(items: list[JSON]) -> str | list[JSON] | None:
    """Text-only content as one string (what every server accepts), else the list of parts.

    Blocks are joined by a blank line so separate blocks (a reminder, then the user's words) stay apart.
    """
    if not items:
        return None
    if all(p["type"] == "text" for p in items):
        return "\n\n".join(p["text"] for p in items)
    return items


class _Conversation:
    """Walks the Anthropic messages once, appending OpenAI messages to `out`."""

    def __init__(
        self, caps: Mapping[str, Any], names: ToolNameMap, replay: Replay, keep_thinking: bool
    ) -> None:
        self.caps = caps
        self.names = names
        self.replay = replay
        self.keep_thinking = keep_thinking
        self.out: list[JSON] = []
        self.pending: list[tuple[str, str]] = []  # (Claude id, upstream id) of calls still awaiting results
        self.used_ids: set[str] = set()
        self.held_system: list[JSON] = []  # system turns that arrived between a tool call and its results

    # -- ids and repair ---------------------------------------------------------------------------------

    def _call_id(self, claude_id: Any, carried: Carried | None, path: str) -> str:
        """The upstream id for a tool_use: the provider's own when the id carries it, else the tool_use's
        own when valid and unused, else a stable derived one."""
        if (
            carried is not None
            and _PROVIDER_CALL_ID.match(carried.upstream_id)
            and carried.upstream_id not in self.used_ids
        ):
            chosen = carried.upstream_id
        elif (
            isinstance(claude_id, str) and _VALID_CALL_ID.match(claude_id) and claude_id not in self.used_ids
        ):
            chosen = claude_id
        else:
            seed = claude_id if isinstance(claude_id, str) else path
            n = 0
            while True:
                chosen = "toolu_" + hashlib.sha256(f"{seed}\0{n}".encode()).hexdigest()[:24]
                if chosen not in self.used_ids:
                    break
                n += 1
            log.debug("%s: tool_use id %r rewritten to %s", path, claude_id, chosen)
        self.used_ids.add(chosen)
        return chosen

    def _take_pending(self, claude_id: Any) -> str | None:
        for i, (cid, upstream) in enumerate(self.pending):
            if cid == claude_id:
                del self.pending[i]
                return upstream
        return None

    def _settle(self) -> None:
        """Close the open tool calls with placeholder results, then release held system turns."""
        for claude_id, upstream in self.pending:
            log.info("tool_use %s has no tool_result; synthesised one", claude_id)
            self.out.append({"role": "tool", "tool_call_id": upstream, "content": NO_RESULT})
        self.pending = []
        self.out.extend(self.held_system)
        self.held_system = []

    # -- turns --------------------------------------------------------------------------------------------

    def system(self, content: Any, path: str) -> None:
        text = system_text(content, path)
        if not text:
            return
        message = {"role": "system", "content": text}
        (self.held_system if self.pending else self.out).append(message)

    def assistant(self, blocks: list[tuple[str, JSON]]) -> None:
        self._settle()
        texts: list[str] = []
        calls: list[JSON] = []
        thinking: list[JSON] = []
        thought = False  # the turn holds (possibly redacted) thinking
        for path, block in blocks:
            kind = block.get("type")
            if kind == "text":
                text = _text_of(block, path)
                if text.strip():
                    texts.append(text)
            elif kind == "tool_use":
                calls.append(self._tool_call(block, path))
            elif kind in _THOUGHT:
                thought = True
                if kind == "thinking":
                    thinking.append(block)
            elif kind in _SILENT_DROPS:
                log.debug("%s: dropped %s block", path, kind)
            else:
                log.info("%s: dropped assistant block of unsupported type %r", path, kind)
        if not texts and not calls and not thought:
            return
        # A turn that only thought stays a turn (empty text), so two user turns never follow each other.
        message: JSON = {"role": "assistant", "content": "\n".join(texts) if texts else None if calls else ""}
        if calls:
            if self.replay.thought_signatures and "extra_content" not in calls[0]:
                calls[0].update(tool_call_extra(SKIP_THOUGHT_SIGNATURE))
            message["tool_calls"] = calls
        if self.keep_thinking and thinking:
            message[THINKING_BLOCKS] = thinking
        self.replay.add(message, thinking, bool(calls))
        self.out.append(message)

    def _tool_call(self, block: JSON, path: str) -> JSON:
        name = block.get("name")
        if not isinstance(name, str):
            raise bad(f"{path}.name", "expected a string")
        arguments = block.get("input")
        if arguments is None:
            arguments = {}
        elif not isinstance(arguments, dict):
            raise bad(f"{path}.input", f"expected an object, got {json_type(arguments)}")
        claude_id = block.get("id")
        carried = read_carried(claude_id)
        upstream = self._call_id(claude_id, carried, path)
        self.pending.append((claude_id if isinstance(claude_id, str) else upstream, upstream))
        call: JSON = {
            "id": upstream,
            "type": "function",
            "function": {
                "name": self.names.to_upstream(name),
                "arguments": json.dumps(arguments, ensure_ascii=False),
            },
        }
        if self.replay.thought_signatures and carried is not None and carried.thought_signature:
            call.update(tool_call_extra(carried.thought_signature))
        return call

    def user(self, blocks: list[tuple[str, JSON]]) -> None:
        moved = _Parts(self.caps)  # media from tool results, shown in the user message that follows
        parts = _Parts(self.caps)
        for path, block in blocks:
            if block.get("type") == "tool_result":
                self._tool_result(block, path, moved, parts)
            elif block.get("type") == "mid_conv_system":
                self._flush_user(moved, parts)
                self.system(block.get("content"), f"{path}.content")
            else:
                parts.block(block, path)
        self._flush_user(moved, parts)

    def _flush_user(self, moved: _Parts, parts: _Parts) -> None:
        self._settle()
        items = parts.items
        if moved.items:
            items = [
                {"type": "text", "text": "Attachments returned by the tool calls above:"},
                *moved.items,
                *items,
            ]
        content = _content(items)
        if content is not None:
            self.out.append({"role": "user", "content": content})
        moved.items = []
        parts.items = []

    def _tool_result(self, block: JSON, path: str, moved: _Parts, parts: _Parts) -> None:
        claude_id = block.get("tool_use_id")
        # Tool messages take text only: text (and notes for unreadable media) stays, media moves on.
        result = _Parts(self.caps)
        for sub_path, sub in _blocks(block.get("content"), f"{path}.content"):
            result.block(sub, sub_path)
        texts = [p["text"] for p in result.items if p["type"] == "text"]
        media = [p for p in result.items if p["type"] != "text"]
        moved.items.extend(media)
        text = "\n".join(texts)
        if media:
            text = f"{text}\n{MEDIA_MOVED}" if text else MEDIA_MOVED
        if block.get("is_error") is True and not text.lstrip().lower().startswith(
            ("error", "<tool_use_error>")
        ):
            text = f"Error: {text}" if text else "Error"
        upstream = self._take_pending(claude_id)
        if upstream is None:
            log.info("%s: tool_result for unknown tool_use %r; sent as user text", path, claude_id)
            parts.text(f"[result of tool call {claude_id}]: {text or EMPTY_RESULT}")
            return
        self.out.append({"role": "tool", "tool_call_id": upstream, "content": text or EMPTY_RESULT})


def messages_to_openai(
    system: Any,
    messages: list[Any],
    *,
    caps: Mapping[str, Any],
    names: ToolNameMap,
    replay: Replay | None = None,
    keep_thinking: bool = False,
) -> list[JSON]:
    """The OpenAI `messages` for an Anthropic `system` + `messages` pair.

    `replay` sends the target's own reasoning back the way it wants it (`replay.py`); without it thinking
    is dropped. `keep_thinking` keeps the assistant's thinking blocks as they are, under
    the `THINKING_BLOCKS` key, for a caller that turns them into something else (the Responses API's
    reasoning items). Raises AnthropicError(400) only for input of the wrong JSON type.
    """
    conv = _Conversation(caps, names, replay or Replay(), keep_thinking)
    lead = system_text(system)
    if lead:
        conv.out.append({"role": "system", "content": lead})
    # Anthropic merges consecutive turns of one role; doing the same keeps a tool_use and its results
    # adjacent when a client split them over several messages.
    role: str | None = None
    group: list[tuple[str, JSON]] = []
    for i, message in enumerate(messages):
        path = f"messages.{i}"
        if not isinstance(message, dict):
            raise bad(path, f"expected an object, got {json_type(message)}")
        this = message.get("role")
        if this not in ("user", "assistant", "system"):
            raise bad(f"{path}.role", f"expected 'user', 'assistant' or 'system', got {this!r}")
        if this != role and group:
            _turn(conv, role, group)
            group = []
        role = this
        if this == "system":
            conv.system(message.get("content"), f"{path}.content")
        else:
            group.extend(_blocks(message.get("content"), f"{path}.content"))
    if group:
        _turn(conv, role, group)
    conv._settle()
    return conv.out


def _turn(conv: _Conversation, role: str | None, group: list[tuple[str, JSON]]) -> None:
    if role == "assistant":
        conv.assistant(group)
    else:
        conv.user(group)
