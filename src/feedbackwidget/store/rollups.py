"""What both stores' rollups share: how a time range splits into whole days (or hours),
read from the rollups, and at most two partial ones at its ends, read from the event history.

A rollup counts whole UTC days (or hours). A range such as ``since=2026-03-01T12:00Z``
starts inside one; that day's part is counted from its events (one day of history at
most at each end, found by the time index), every whole day in between from the rollup.
So every answer equals a recount of the history, and its cost is bounded by the range
shown plus two days, never by the whole history.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)


def floor_to(at: dt.datetime, unit: dt.timedelta) -> dt.datetime:
    """The start of the ``unit`` (a day or an hour, UTC) that ``at`` falls in."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return _EPOCH + ((at - _EPOCH) // unit) * unit


@dataclass(frozen=True, slots=True)
class Split:
    """``[since, until)`` as rollup units ``[first, last)`` (None: open on that side) and the
    partial units ``head`` and ``tail`` (each a ``(since, until)`` pair, or None)."""

    head: tuple[dt.datetime, dt.datetime] | None
    first: dt.datetime | None
    last: dt.datetime | None
    tail: tuple[dt.datetime, dt.datetime] | None

    @property
    def whole(self) -> bool:
        """Whether any whole unit lies in the range."""
        return self.first is None or self.last is None or self.first < self.last


def split(since: dt.datetime | None, until: dt.datetime | None, unit: dt.timedelta = DAY) -> Split:
    """Split a range (``since`` inclusive, ``until`` exclusive, either open) at ``unit`` boundaries."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    if until is not None and until.tzinfo is None:
        until = until.replace(tzinfo=dt.UTC)
    if since is not None and until is not None and since >= until:
        return Split(None, since, since, None)  # empty
    first = last = None
    head = tail = None
    if since is not None:
        first = floor_to(since, unit)
        if first != since:
            first += unit
            head = (since, first if until is None else min(first, until))
    if until is not None:
        last = floor_to(until, unit)
        if last != until:
            start = last if since is None else max(last, since)
            if head is None or head[1] < until:
                tail = (start, until)
    if first is not None and last is not None and last < first:
        last = first
    return Split(head, first, last, tail)


def unit_number(at: dt.datetime, unit: dt.timedelta) -> int:
    """Whole ``unit``s from the epoch to ``at`` (aligned), as the SQLite rollups key them."""
    return (at - _EPOCH) // unit
