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
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, replace

from ..sentiment import Z95
from .base import LocalDay, Row, Store

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


# -- daily counts in a time zone, from hour rollups -----------------------------------------


def window(since: dt.datetime, until: dt.datetime) -> tuple[dt.datetime, dt.datetime, dt.datetime, dt.datetime]:
    """``[since, until)`` as its whole UTC hours ``[first, last)`` (empty when ``first == last``) and
    the partial hours ``[since, first)`` and ``[last, until)`` (empty when equal): what
    :meth:`Store.counts_between` reads from the hour rollup and from the events."""
    parts = split(since, until, HOUR)
    if not parts.whole or parts.first is None or parts.last is None:
        return since, since, since, until  # no whole hour: all from events
    return parts.first, parts.last, since, until


def _midnight(day: dt.date, tz: dt.tzinfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tz).astimezone(dt.UTC)


def local_day_ranges(tz: dt.tzinfo, since: dt.datetime, until: dt.datetime) -> list[LocalDay]:
    """The local days in ``tz`` that ``[since, until)`` touches, each as its UTC ranges (:class:`LocalDay`),
    clipped to the range, in order: about 365 a year. Local midnights come from ``zoneinfo``, so a
    day is 23 or 25 hours long across a daylight-saving change; where a midnight is not on a whole
    UTC hour (zones such as America/St_Johns or Asia/Kolkata, or the range's own ends) the hour it
    cuts is read from the events, on either side."""
    days: list[LocalDay] = []
    day = since.astimezone(tz).date()
    while (start := max(_midnight(day, tz), since)) < until:
        end = min(_midnight(day + DAY, tz), until)
        if start < end:
            first, last, _, _ = window(start, end)
            parts = tuple(p for p in ((start, first), (last, end)) if p[0] < p[1])
            days.append(LocalDay(day, first, last, parts))
        day += DAY
    return days


async def local_day_list(
    store: Store, tz: dt.tzinfo, since: dt.datetime | None, until: dt.datetime | None
) -> list[LocalDay]:
    """The local days of the range that can hold a vote, each with the site's votes on the UTC days
    it touches. The site's day rollup (a row a day with votes) gives both: the range is cut to the
    site's first and last day with a vote (an open end is that day), so that its length costs
    nothing — ``since=0001-01-01&until=9999-12-31`` works out the days of the site's history, not
    of ten thousand years, and no date passes the calendar's ends."""
    site_days = await store.site_daily(_utc_day(since, -1), _utc_day(until, 2))
    if not site_days:
        return []
    first = _midnight(site_days[0]["day"], dt.UTC)
    last = _midnight(site_days[-1]["day"], dt.UTC) + DAY  # a vote's day: never the calendar's last
    since = max(since, first) if since else first
    until = min(until, last) if until else last
    if since >= until:
        return []
    votes = {row["day"]: int(row["up"]) + int(row["down"]) for row in site_days}
    days = local_day_ranges(tz, since, until)
    return [replace(d, votes=sum(votes.get(utc, 0) for utc in _utc_days(d))) for d in days]


def _utc_day(moment: dt.datetime | None, shift: int) -> dt.date:
    """The UTC day of ``moment`` moved by ``shift`` days, within the calendar (None: its end that way)."""
    if moment is None:
        return dt.date.min if shift < 0 else dt.date.max
    number = moment.astimezone(dt.UTC).date().toordinal() + shift
    return dt.date.fromordinal(min(max(number, 1), dt.date.max.toordinal()))


def _utc_days(day: LocalDay) -> Iterator[dt.date]:
    """The UTC days that ``day``'s hours and parts of hours fall on."""
    start = min([day.first, *(s for s, _ in day.parts)])
    end = max([day.last, *(u for _, u in day.parts)]) - dt.timedelta(microseconds=1)
    for number in range(start.astimezone(dt.UTC).date().toordinal(), end.astimezone(dt.UTC).date().toordinal() + 1):
        yield dt.date.fromordinal(number)


async def local_days(
    store: Store, tz: dt.tzinfo, since: dt.datetime | None, until: dt.datetime | None, batch_rows: int = 1000
) -> AsyncIterator[Sequence[Row]]:
    """Rows ``day, article_id, up, down`` per local day in ``tz`` (votes cast or changed to each
    value, on their local day), ordered by day then article, in batches of about ``batch_rows``.

    The days' UTC bounds are worked out here (:func:`local_day_ranges`, ~365 a year); the store
    counts them in one snapshot, a query per few weeks (:meth:`Store.local_daily`, local_sql.py):
    whole UTC hours from the hour rollup, from the events only the parts of hours that a local
    midnight or the range's ends cut. Memory holds a batch, however long the range.
    """
    days = await local_day_list(store, tz, since, until)
    if days:
        async for batch in store.local_daily(days, batch_rows):
            yield batch


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
