"""`--log-format text|json`: how each log record is written.

json: one JSON object per line. A request's line is its `RequestLog.fields()` (the usage ledger's record,
`time` being when the request came) with `level` and `logger` added; every other record (a warning, an
error, a server notice) is `{"time", "level", "logger", "message"}`, plus `exception` with a traceback.
Encoded as ASCII, so no character of a client's string can break a line.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonLines(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        request = getattr(record, "request_log", None)  # access_log.RequestLog.emit passes it
        line: dict[str, Any]
        if request is not None:
            fields = request.fields()
            line = {"time": fields.pop("time"), "level": _level(record), "logger": record.name, **fields}
        else:
            line = {
                "time": _time(record.created),
                "level": _level(record),
                "logger": record.name,
                "message": record.getMessage(),
            }
            if record.exc_info:
                line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=True, separators=(",", ":"), default=str)


def formatter(log_format: str, text: str = TEXT) -> logging.Formatter:
    """The formatter for `log_format` (text: `text`, a logging format string)."""
    return JsonLines() if log_format == "json" else logging.Formatter(text)


def _level(record: logging.LogRecord) -> str:
    return record.levelname.lower()


def _time(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
