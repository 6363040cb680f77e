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
from collections.abc import AsyncIterator
from dataclasses import dataclass

from ..sentiment import Z95
from .base import Row, Store

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
_TICK = dt.timedelta(microseconds=1)


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


# -- daily counts in a time zone, from hour rollups -----------------------------------------

#: {local day: {article_id: [up, down]}} for the days not yet handed out.
_Pending = dict[dt.date, dict[str, list[int]]]


def _add(pending: _Pending, day: dt.date, article_id: str, up: int, down: int) -> None:
    counts = pending.setdefault(day, {}).setdefault(article_id, [0, 0])
    counts[0] += up
    counts[1] += down


def _ready(pending: _Pending, before: dt.date | None) -> list[Row]:
    """Rows of the pending days before ``before`` (all when None), removed from ``pending``."""
    out: list[Row] = []
    for day in sorted(d for d in pending if before is None or d < before):
        counts = pending.pop(day)
        out.extend({"day": day, "article_id": a, "up": counts[a][0], "down": counts[a][1]} for a in sorted(counts))
    return out


async def _events_by_local_day(
    store: Store, pending: _Pending, tz: dt.tzinfo, since: dt.datetime, until: dt.datetime
) -> None:
    """Count the votes cast or changed in ``[since, until)`` (a part of one hour) on their local day."""
    async for batch in store.export("events", since=since, until=until):
        for event in batch:
            vote = event.get("vote")
            if event.get("action") in ("cast", "change") and vote in ("up", "down"):
                day = event["at"].astimezone(tz).date()
                _add(pending, day, str(event["article_id"]), int(vote == "up"), int(vote == "down"))


async def local_days(
    store: Store, tz: dt.tzinfo, since: dt.datetime | None, until: dt.datetime | None, batch_rows: int = 1000
) -> AsyncIterator[list[Row]]:
    """Rows ``day, article_id, up, down`` per local day in ``tz`` (votes cast or changed to each
    value, on their local day), ordered by day then article, in batches of about ``batch_rows``.

    Whole UTC hours come from the hour rollup, streamed in time order; a local day is handed out
    once the stream is a day past it (local time goes back by at most hours), so memory holds
    about two days' (article, day) pairs, however long the range. From the event history come
    only the partial hours at the ends of the range and the hours that a local midnight cuts
    (zones whose offset is not whole hours: one hour per day, e.g. Asia/Kolkata).
    """
    parts = split(since, until, HOUR)
    pending: _Pending = {}
    out: list[Row] = []
    if parts.head is not None:
        await _events_by_local_day(store, pending, tz, *parts.head)
    hour: dt.datetime | None = None
    cut = False  # the current hour spans a local midnight: its events were counted instead
    counts: dict[str, list[int]] = {}  # the current hour's local day's, in pending
    if parts.whole:
        async for batch in store.hourly(parts.first, parts.last):
            for row in batch:
                if row["hour"] != hour:
                    hour = row["hour"]
                    day = hour.astimezone(tz).date()
                    cut = (hour + HOUR - _TICK).astimezone(tz).date() != day
                    if cut:
                        await _events_by_local_day(store, pending, tz, hour, hour + HOUR)
                    out.extend(_ready(pending, day - DAY))
                    counts = pending.setdefault(day, {})
                    if len(out) >= batch_rows:
                        yield out
                        out = []
                if cut:
                    continue
                known = counts.get(row["article_id"])
                if known is None:
                    counts[row["article_id"]] = [int(row["up"]), int(row["down"])]
                else:
                    known[0] += row["up"]
                    known[1] += row["down"]
    if parts.tail is not None:
        await _events_by_local_day(store, pending, tz, *parts.tail)
    out.extend(_ready(pending, None))
    for start in range(0, len(out), batch_rows):
        yield out[start:start + batch_rows]


def wilson_sql(up: str, down: str) -> str:
    """SQL (SQLite) for ``sentiment.wilson_lower(up, up + down)`` of two integer expressions,
    operation for operation, so that it gives the same double: the listing's sort key is kept in
    the writer's statements without calling back into Python from inside SQLite (which would
    wait for the interpreter lock held by the event loop). Needs SQLite's ``sqrt`` (built in
    since 3.35 with its math functions; ``sqlite_writer.connect`` supplies it otherwise)."""
    z = Z95
    total = f"(({up}) + ({down}))"
    p = f"(CAST({up} AS REAL) / {total})"
    centre = f"({p} + {z * z!r} / (2 * {total}))"
    margin = f"({z!r} * sqrt({p} * (1 - {p}) / {total} + {z * z!r} / (4 * {total} * {total})))"
    return f"(CASE WHEN {total} <= 0 THEN 0.0 ELSE max(0.0, ({centre} - {margin}) / (1 + {z * z!r} / {total})) END)"
