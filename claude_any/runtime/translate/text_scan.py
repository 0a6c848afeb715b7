"""Incremental scanners over generated text that arrives in arbitrary pieces.

Both look for markers that may be split across stream chunks, so both hold back only the few trailing
characters that could still turn into a marker, and pass everything else through at once:

- `StopScanner` enforces stop sequences the upstream was not given (more than 4, or a model that rejects
  `stop`): cut at the earliest match, report which one matched.
- `ThinkSplitter` turns a `<think>…</think>` preamble (raw open-weight models) into reasoning text.
"""

from __future__ import annotations


def _held_suffix(text: str, markers: tuple[str, ...]) -> int:
    """Length of the longest tail of `text` that is a proper prefix of one of `markers`."""
    held = 0
    for marker in markers:
        # Only positions holding the marker's first character can start a prefix: usually none.
        at = text.find(marker[0], max(len(text) - len(marker) + 1, 0))
        while at >= 0 and len(text) - at > held:
            if marker.startswith(text[at:]):
                held = len(text) - at
                break
            at = text.find(marker[0], at + 1)
    return held


class StopScanner:
    """Finds the earliest stop sequence in streamed text; see `feed`."""

    __slots__ = ("_held", "_stops", "hit")

    def __init__(self, stops: tuple[str, ...]) -> None:
        self._stops = tuple(s for s in stops if s)
        self._held = ""
        self.hit: str | None = None  # the stop sequence that matched, once one has

    def feed(self, text: str) -> str:
        """What of `text` (plus held text) is safe to emit; on a match sets `hit` and drops the rest."""
        if self.hit is not None:
            return ""
        if not self._stops:
            return text
        text = self._held + text
        first = -1
        for stop in self._stops:
            at = text.find(stop)
            if at >= 0 and (first < 0 or at < first):
                first, self.hit = at, stop
        if first >= 0:
            self._held = ""
            return text[:first]
        keep = _held_suffix(text, self._stops)
        self._held = text[len(text) - keep :]
        return text[: len(text) - keep]

    def flush(self) -> str:
        """Held text that turned out not to be a stop sequence (the text ended or moved on)."""
        held, self._held = self._held, ""
        return held


_OPEN = "<think>"
_CLOSE = "</think>"
_START, _INSIDE, _AFTER, _PLAIN = range(4)


class ThinkSplitter:
    """Splits a leading `<think>…</think>` off streamed content; text without one passes through. The
    newlines models put just inside the tags are layout, not reasoning: they are left out."""

    __slots__ = ("_began", "_buffer", "_state")

    def __init__(self) -> None:
        self._state = _START
        self._buffer = ""
        self._began = False  # reasoning text has been passed on

    def feed(self, text: str) -> tuple[str, str]:
        """(reasoning, text) decided by this piece; undecided characters are held for the next call."""
        if self._state == _PLAIN:
            return "", text
        buffer = self._buffer + text
        self._buffer = ""
        if self._state == _START:
            lead = buffer.lstrip()
            if _OPEN.startswith(lead):  # only whitespace, or a prefix of the tag so far
                self._buffer = buffer
                return "", ""
            if not lead.startswith(_OPEN):
                self._state = _PLAIN
                return "", buffer
            self._state = _INSIDE
            buffer = lead[len(_OPEN) :]
        if self._state == _INSIDE:
            if not self._began:
                buffer = buffer.lstrip("\n")
            end = buffer.find(_CLOSE)
            if end < 0:
                keep = _held_suffix(buffer, (_CLOSE,))
                body = buffer[: len(buffer) - keep]
                reasoning = body.rstrip("\n")  # newlines wait: they may only lead up to the closing tag
                self._buffer = buffer[len(reasoning) :]
                self._began = self._began or bool(reasoning)
                return reasoning, ""
            self._state = _AFTER
            reasoning, buffer = buffer[:end].rstrip("\n"), buffer[end + len(_CLOSE) :]
            return reasoning, self._after(buffer)
        return "", self._after(buffer)

    def _after(self, text: str) -> str:
        # The newlines models put after `</think>` would start the answer with a blank line.
        text = text.lstrip()
        if text:
            self._state = _PLAIN
        return text

    def close(self) -> tuple[str, str]:
        """At the end of the content: whatever is still held, as reasoning or text."""
        held, self._buffer = self._buffer, ""
        state = self._state
        if state != _START or held:
            self._state = _PLAIN  # a `<think>` is only honoured at the very start of the content
        if state == _INSIDE:
            return held.rstrip("\n"), ""
        return "", held
