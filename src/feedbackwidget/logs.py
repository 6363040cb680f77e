"""Log lines an aggregator can read: ``LOG_FORMAT=json`` writes one JSON object per line.

Each object has ``time`` (ISO 8601 UTC), ``level``, ``logger`` and ``event``
(the line's event name, or its message), plus ``article`` and ``outcome`` on
the lines about one vote, withdrawal or erasure (logger ``feedbackwidget.events``,
level info). Nothing else of a record is copied: its arguments never reach the
output except through its message, our messages never hold an address or a
token, and the HTTP server's access lines (``serve --access-log``) are written
as method, path and status, without the client address they carry.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

#: Lines about what happened to one reader's vote: ``event``, ``article`` and ``outcome``.
events = logging.getLogger("feedbackwidget.events")

#: Fields a log call may set with ``extra=`` that the JSON line carries.
_FIELDS = ("article", "outcome")
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (line ends in a message are escaped by JSON)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": getattr(record, "event", None) or _message(record),
        }
        for name in _FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            line["error"] = record.exc_info[0].__name__
            line["traceback"] = self.formatException(record.exc_info)
        return _dumps(line)


def _message(record: logging.LogRecord) -> str:
    if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
        # uvicorn's access line: (client address, method, path, HTTP version, status); no address.
        _, method, path, _, status = record.args
        return f"{method} {path} {status}"
    return record.getMessage()


def log_config(level: str = "info") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for ``serve`` (uvicorn's ``log_config``) writing JSON lines
    to standard error for uvicorn's loggers, ours (at ``level``) and anything else at warning."""
    handler = {"handlers": ["json"], "propagate": False}
    upper = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"json": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {**handler, "level": upper},
            "uvicorn.error": {"level": upper},
            "uvicorn.access": {**handler, "level": upper},
            "feedbackwidget": {**handler, "level": upper},
        },
        "root": {"handlers": ["json"], "level": "WARNING"},
    }


def event(name: str, article: str | None, outcome: str) -> None:
    """One line about one reader's action (logger ``feedbackwidget.events``, level info)."""
    if events.isEnabledFor(logging.INFO):
        extra = {"event": name, "article": article, "outcome": outcome}
        events.info("%s %s: %s", name, outcome, article, extra=extra)
