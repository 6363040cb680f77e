"""Where a database failure becomes :class:`~feedbackwidget.errors.StoreUnavailable`, and is logged.

Readers get a 503 that says only that the store is not answering; the operator
gets the cause — the driver's exception class and its first line, with nothing
of the connection URL in it — once, here, at the point of translation (at most
one line per cause every :data:`LOG_EVERY` seconds, with a count of the rest, so
an outage under load is a few lines, not one per request).
"""

from __future__ import annotations

import logging
import time

from ..errors import StoreUnavailable

log = logging.getLogger("feedbackwidget.store")

LOG_EVERY = 10.0
_last: dict[str, tuple[float, int]] = {}


def unavailable(exc: BaseException, detail: str | None = None, *, said: str | None = None) -> StoreUnavailable:
    """The error for a store that failed with ``exc``; ``said`` is what may be logged of its
    message (stripped of names and secrets; by default its first line, for drivers whose
    messages hold none); ``detail`` what the client is told."""
    kind = type(exc).__name__
    _log(kind, first_line(exc) if said is None else said)
    error = StoreUnavailable(detail or f"The vote store is not answering ({kind}).", cause=exc)
    error.__cause__ = exc
    return error


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, at most 200 characters (SQLite's messages hold
    no names of the connection: the file's path is never in them)."""
    return (str(exc).strip().splitlines() or [""])[0][:200]


def _log(kind: str, said: str | None) -> None:
    now = time.monotonic()
    key = f"{kind}: {said}" if said else kind
    last, suppressed = _last.get(key, (-LOG_EVERY, 0))
    if now - last < LOG_EVERY:
        _last[key] = (last, suppressed + 1)
        return
    more = f" ({suppressed} more since the last line)" if suppressed else ""
    log.warning("the vote store is not answering: %s%s", key, more)
    if len(_last) > 256:  # causes are few; never let odd messages grow this without bound
        _last.clear()
    _last[key] = (now, 0)
