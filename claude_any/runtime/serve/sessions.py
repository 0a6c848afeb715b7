"""What answered each Claude Code session, and what it cost: a small summary per session id.

Claude Code sends `x-claude-code-session-id` with every request of a conversation. When a request's log line
is written, its target, token counts and cost are added to that session's summary, which
`GET /v1/claude-any/sessions/{id}` serves to `claude-any statusline`. Session ids are the client's to choose,
so at most `MAX_SESSIONS` summaries are kept (least recently used out first), each of a fixed size, and an
id longer than `MAX_ID_CHARS`, or with characters other than letters, digits and `._:-`, is not recorded
(`claude-any code` prints the last one in a shell command).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

from claude_any.runtime.memo import LRU
from claude_any.runtime.serve.access_log import RequestLog

SESSION_HEADER = "x-claude-code-session-id"
MAX_SESSIONS = 1024
MAX_ID_CHARS = 128  # Claude Code's ids are UUIDs (36 characters)
_SESSION_ID = re.compile(rf"[\w.:-]{{1,{MAX_ID_CHARS}}}", re.ASCII)


@dataclass
class SessionSummary:
    """One session's answered requests. Tokens and cost count only requests whose provider reported usage;
    `cost_usd` only those whose model has a price (`unpriced` counts the others)."""

    target: str = ""  # the target that answered last, and its provider/model
    model: str = ""
    requests: int = 0
    unmetered: int = 0  # answered without a usage report
    estimated: int = 0  # answered with token counts the gateway estimated (the provider reported none)
    input_tokens: int = 0  # not read from or written to the cache
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0
    unpriced: int = 0

    def add(self, log: RequestLog) -> None:
        """Count one answered request."""
        self.target, self.model = log.target, log.upstream
        self.requests += 1
        if log.tokens_out is None or log.tokens_in is None:
            self.unmetered += 1
            return
        uncached = max(log.tokens_in - log.cache_read - log.cache_write, 0)
        self.estimated += log.tokens_estimated
        self.input_tokens += uncached
        self.output_tokens += log.tokens_out
        self.cache_read_tokens += log.cache_read
        self.cache_write_tokens += log.cache_write
        if log.cost_usd is None:
            self.unpriced += 1
        else:
            self.cost_usd += log.cost_usd


def session_id(headers: Mapping[str, str]) -> str:
    """The request's Claude Code session id when it is a plausible one, else ""."""
    value = headers.get(SESSION_HEADER, "")
    return value if _SESSION_ID.fullmatch(value) else ""


class Sessions:
    """The summaries of the most recently active sessions; `latest` is the id of the last one to answer."""

    def __init__(self, max_sessions: int = MAX_SESSIONS) -> None:
        self._summaries: LRU[str, SessionSummary] = LRU(max_sessions, max_sessions * MAX_ID_CHARS, len)
        self.latest: str | None = None

    def follow(self, log: RequestLog) -> None:
        """Have `log` add its request to its session's summary once it is written."""
        if log.session:
            log.listeners.append(partial(self._record, log.session))

    def _record(self, session_id: str, log: RequestLog) -> None:
        if log.status != 200 or not log.target or log.target == "-":
            return  # an error answered nothing; its tokens, if any, are not known
        summary = self._summaries.get(session_id)
        if summary is None:
            summary = SessionSummary()
            self._summaries.put(session_id, summary)
        summary.add(log)
        self.latest = session_id

    def get(self, session_id: str) -> SessionSummary | None:
        """The summary of a session, or None when it made no answered request (or was dropped)."""
        return self._summaries.get(session_id)

    def describe(self, session_id: str) -> dict[str, Any]:
        """The JSON document of `GET /v1/claude-any/sessions/{id}`: the summary, all zeros when unknown."""
        summary = self._summaries.get(session_id) or SessionSummary()
        return {"session_id": session_id, **asdict(summary)}

    def __len__(self) -> int:
        return len(self._summaries)
