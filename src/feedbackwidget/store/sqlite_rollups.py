"""Rollups of the SQLite store: counts kept with the data, so that pages read a few
rows instead of the event history.

- ``daily_rollup``: per article and UTC day, the votes cast or changed to each value
  (what ``kind=daily`` exports and the dashboard charts);
- ``hourly_rollup``: the same per UTC hour, which a daily export in another time zone
  regroups into local days;
- ``site_daily``: the same summed over each site's articles, per UTC day and site (the
  site-wide chart; site_keys.py says how a key names its site);
- ``site_totals``: one row per site, its current up and down votes (the Bayesian prior);
- ``rank_*`` columns on ``articles``: the listing's sort keys, stored ascending (the
  Wilson bound and the total negated) so that one index serves each order and a keyset
  cursor is one row-value comparison; the keys of sites other than the default one are
  also in per-site indexes that lead with their site (site_sql.py).

The writer folds new events into all of them (sqlite_fold.py: since schema 8; schemas 3-7
did it with a trigger on ``events``, whose migrations are below), in a write transaction
that moves a mark with them, so they can never disagree with the history; a read folds
first when this store has written since its last fold. Days and hours are whole numbers
since the epoch (floor division, also before 1970).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any, TypeVar

from ..types import ArticleId, ArticleOrder, ArticleSummary, ExportFormat, Tally
from . import local_sql
from .base import LocalDay, Row
from .rollups import HOUR, split, unit_number, window
from .site_sql import listing_where, numbered, site_where
from .sqlite_fold import fold
from .sqlite_sql import daily_row, daily_sql, from_us, to_us

T = TypeVar("T")

_EPOCH_DAY = dt.date(1970, 1, 1)
_EPOCH_ORDINAL = _EPOCH_DAY.toordinal()


def day_number(day: dt.date) -> int:
    return (day - _EPOCH_DAY).days


def day_of(number: int) -> dt.date:
    return dt.date.fromordinal(_EPOCH_ORDINAL + number)


# -- reads --------------------------------------------------------------------------------

_ORDER_KEYS: dict[str, str] = {
    "wilson": "rank_wilson, rank_total, article_id",
    "total": "rank_total, article_id",
    "recent": "rank_recent, article_id",
}


def listing_sql(order: ArticleOrder, after: bool, site: str | None = None) -> str:
    """A listing page: by one index, from its start (``LIMIT ?2 OFFSET ?3``) or, with ``after``,
    from just past a place in the order (``?5``, ``?6``…: the sort keys of the article the page
    starts after, :func:`place_sql`); with ``site``, of that site only (``?4`` = the site, for a
    site other than the default one: served by its own index). The keys are bound values, not a
    subquery: SQLite (3.40) seeks an index to a row value only then; from a subquery it seeks the
    first key alone and reads every article that ties on it (half of them, at 100,000)."""
    keys = _ORDER_KEYS[order]
    places = ", ".join(f"?{5 + n}" for n in range(keys.count(",") + 1))
    where = [f"({keys}) > ({places})"] if after else []
    if site is not None:
        where.insert(0, listing_where("sqlite", "article_id", site, "?4"))
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return (
        "SELECT article_id, title, up, down, first_vote_at, last_vote_at FROM articles"
        f"{clause} ORDER BY {keys} LIMIT ?2 OFFSET ?3"
    )


def place_sql(order: ArticleOrder) -> str:
    """An article's sort keys in ``order`` (``?`` = its id): where a keyset page after it starts."""
    return f"SELECT {_ORDER_KEYS[order]} FROM articles WHERE article_id = ?"


def site_totals(conn: sqlite3.Connection, site: str | None) -> tuple[int, int]:
    if site is None:
        row = conn.execute("SELECT COALESCE(SUM(up), 0), COALESCE(SUM(down), 0) FROM site_totals").fetchone()
    else:
        row = conn.execute("SELECT up, down FROM site_totals WHERE site = ?", (site,)).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def site_daily(conn: sqlite3.Connection, start: dt.date, end: dt.date, site: str | None) -> list[Row]:
    """The site's days (or every site's, summed) ``start <= day < end``."""
    sql = (
        "SELECT day, SUM(up), SUM(down) FROM site_daily WHERE day >= ? AND day < ? GROUP BY day ORDER BY day"
        if site is None
        else "SELECT day, up, down FROM site_daily WHERE day >= ? AND day < ? AND site = ? ORDER BY day"
    )
    params: tuple[Any, ...] = (day_number(start), day_number(end)) + (() if site is None else (site,))
    return [{"day": day_of(r[0]), "up": r[1], "down": r[2]} for r in conn.execute(sql, params)]


def daily_of(
    conn: sqlite3.Connection, article_ids: list[ArticleId], start: dt.date, end: dt.date, size: int = 1
) -> list[Row]:
    """Rollup rows of some articles over whole days ``[start, end)``, ``size`` days a row, by day
    then article: one index range per article (daily_rollup_by_article), whatever the planner
    thinks of the days."""
    out: list[tuple[int, str, int, int]] = []
    first = day_number(start)
    sql = (
        "SELECT (day - ?1) / ?2, SUM(up), SUM(down) FROM daily_rollup "
        "WHERE article_id = ?3 AND day >= ?1 AND day < ?4 GROUP BY 1 ORDER BY 1"
    )
    for article_id in sorted(set(article_ids)):
        rows = conn.execute(sql, (first, size, article_id, day_number(end)))
        out.extend((first + b * size, article_id, up, down) for b, up, down in rows)
    out.sort(key=lambda r: r[0])  # stable: article ids stay in order within a day
    return [{"day": day_of(d), "article_id": a, "up": up, "down": down} for d, a, up, down in out]


def daily_all_sql(
    article_id: ArticleId | None, first: dt.datetime | None, last: dt.datetime | None, site: str | None = None
) -> tuple[str, list[Any]]:
    """Rollup rows over whole UTC days ``[first, last)`` (either open), of one article or all (of
    ``site``, or of every site), by day then article."""
    where, site_params = site_where("sqlite", "article_id", site)
    params: list[Any] = list(site_params)
    if article_id is not None:
        where.append("article_id = ?")
        params.append(article_id)
    if first is not None:
        where.append("day >= ?")
        params.append(day_number(first.date()))
    if last is not None:
        where.append("day < ?")
        params.append(day_number(last.date()))
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return f"SELECT day, article_id, up, down FROM daily_rollup{clause} ORDER BY day, article_id", params


def daily_rollup_row(r: tuple[Any, ...]) -> Row:
    return {"day": day_of(r[0]), "article_id": r[1], "up": r[2], "down": r[3]}


def counts_between_sql(site: str | None) -> tuple[str, list[str]]:
    """Whole hours ?1 <= hour < ?2 from the rollup, the partial ones ?3 <= at < ?4 and ?5 <= at < ?6
    from events; with ``site``, its keys only (its parameters ?7 on, after those six)."""
    where, params = site_where("sqlite", "article_id", site, numbered(7, lambda n: f"?{n}"))
    site_cond = "".join(f" AND {c}" for c in where)
    sql = f"""
SELECT article_id, SUM(up), SUM(down) FROM (
    SELECT article_id, up, down FROM hourly_rollup WHERE hour >= ?1 AND hour < ?2{site_cond}
    UNION ALL
    SELECT article_id, vote = 'up', vote = 'down' FROM events
    WHERE at >= ?3 AND at < ?4 AND action IN ('cast', 'change'){site_cond}
    UNION ALL
    SELECT article_id, vote = 'up', vote = 'down' FROM events
    WHERE at >= ?5 AND at < ?6 AND action IN ('cast', 'change'){site_cond}
) GROUP BY article_id HAVING SUM(up) + SUM(down) > 0 ORDER BY article_id
"""
    return sql, params


class RollupQueries:
    """Mixed into :class:`~feedbackwidget.store.sqlite.SQLiteStore`, which provides the plumbing:
    the reads behind the dashboard, the listing and the daily exports, all from rollups."""

    _rollup_dirty: bool

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    async def _write(self, op: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    async def _fresh(self) -> None:
        """Fold new events into the rollups before a read of them if this store has written since
        its last fold: an editor sees their own server's votes (other processes' writers fold theirs
        within ``rollup_interval``, sqlite_fold.py)."""
        if self._rollup_dirty:
            self._rollup_dirty = False  # a write from now on marks it again
            await self._write(fold)

    _utf8: bool

    def _stream_all(
        self, queries: Iterable[tuple[str, Sequence[Any]]], encode: Callable[[list[tuple[Any, ...]]], T], size: int
    ) -> AsyncIterator[T]:
        raise NotImplementedError

    def _stream(
        self, sql: str, params: Sequence[Any], encode: Callable[[list[tuple[Any, ...]]], T], size: int
    ) -> AsyncIterator[T]:
        raise NotImplementedError

    async def articles(
        self, order: ArticleOrder, limit: int, offset: int, after: ArticleId | None = None, *, site: str | None = None
    ) -> list[ArticleSummary]:
        await self._fresh()
        sql = listing_sql(order, after is not None, site)

        def run(conn: sqlite3.Connection) -> list[ArticleSummary]:
            # Numbered parameters (?4 the site, ?5… the place): one the text does not use is bound in vain.
            params: tuple[Any, ...] = (after, limit, offset)
            if after is not None:
                place = conn.execute(place_sql(order), (after,)).fetchone()
                if place is None:  # an unknown article: no place in the order, an empty page
                    return []
                params += (site, *place)
            elif "?4" in sql:
                params += (site,)
            return [
                ArticleSummary(r[0], r[1], r[2], r[3], from_us(r[4]), from_us(r[5])) for r in conn.execute(sql, params)
            ]

        return await self._read(run)

    async def site_totals(self, *, site: str | None = None) -> Tally:
        await self._fresh()
        up, down = await self._read(lambda conn: site_totals(conn, site))
        return Tally("", up, down)

    async def site_daily(self, start: dt.date, end: dt.date, *, site: str | None = None) -> list[Row]:
        await self._fresh()
        return await self._read(lambda conn: site_daily(conn, start, end, site))

    async def sites(self) -> list[str]:
        await self._fresh()
        return await self._read(lambda conn: [r[0] for r in conn.execute("SELECT site FROM site_totals ORDER BY site")])

    async def daily_of(
        self, article_ids: Sequence[ArticleId], start: dt.date, end: dt.date, size: int = 1
    ) -> list[Row]:
        await self._fresh()
        return await self._read(lambda conn: daily_of(conn, list(article_ids), start, end, size))

    async def daily(
        self, article_id: ArticleId | None, since: dt.datetime | None, until: dt.datetime | None, *,
        site: str | None = None,
    ) -> list[Row]:
        await self._fresh()
        parts = split(since, until)

        def run(conn: sqlite3.Connection) -> list[Row]:
            out: list[Row] = []
            conn.execute("BEGIN")  # one snapshot for the three parts
            try:
                out.extend(_from_events(conn, article_id, parts.head, site))
                if parts.whole:
                    sql, params = daily_all_sql(article_id, parts.first, parts.last, site)
                    out.extend(daily_rollup_row(r) for r in conn.execute(sql, params))
                out.extend(_from_events(conn, article_id, parts.tail, site))
            finally:
                conn.execute("COMMIT")
            return out

        return await self._read(run)

    async def daily_export(
        self, since: dt.datetime | None, until: dt.datetime | None, size: int, site: str | None = None
    ) -> AsyncIterator[Sequence[Row]]:
        """``kind=daily``: the partial first and last days from events, the whole ones streamed from the rollup."""
        await self._fresh()
        parts = split(since, until)
        head = await self._read(lambda conn: _from_events(conn, None, parts.head, site))
        if head:
            yield head
        if parts.whole:
            sql, params = daily_all_sql(None, parts.first, parts.last, site)
            async for batch in self._stream(sql, params, lambda rows: [daily_rollup_row(r) for r in rows], size):
                yield batch
        tail = await self._read(lambda conn: _from_events(conn, None, parts.tail, site))
        if tail:
            yield tail

    async def local_daily(
        self, days: Sequence[LocalDay], size: int, *, site: str | None = None
    ) -> AsyncIterator[Sequence[Row]]:
        """A ``tz=`` daily export: one query per chunk of local days (local_sql.py), one snapshot."""
        await self._fresh()
        queries = (local_sql.sqlite_query(c, site)[:2] for c in local_sql.chunks(days))
        async for batch in self._stream_all(queries, local_sql.sqlite_rows, size):
            yield batch

    def local_daily_text(self, days: Sequence[LocalDay], fmt: ExportFormat, size: int) -> AsyncIterator[bytes] | None:
        """The same as lines written by SQLite (base.LocalDailyText); None where the file is not UTF-8."""
        return self._local_text(days, fmt, size) if self._utf8 else None

    async def _local_text(self, days: Sequence[LocalDay], fmt: ExportFormat, size: int) -> AsyncIterator[bytes]:
        await self._fresh()
        queries = (local_sql.sqlite_query(c, None, fmt)[:2] for c in local_sql.chunks(days))
        async for chunk in self._stream_all(queries, local_sql.sqlite_cells(fmt)[1], size):
            yield chunk

    async def counts_between(self, since: dt.datetime, until: dt.datetime, *, site: str | None = None) -> list[Row]:
        await self._fresh()
        first, last, since, until = window(since, until)
        sql, site_params = counts_between_sql(site)
        params = (unit_number(first, HOUR), unit_number(last, HOUR), to_us(since), to_us(first),
                  to_us(last), to_us(until), *site_params)

        def run(conn: sqlite3.Connection) -> list[Row]:
            return [{"article_id": r[0], "up": r[1], "down": r[2]} for r in conn.execute(sql, params)]

        return await self._read(run)


def _from_events(
    conn: sqlite3.Connection, article_id: ArticleId | None, part: tuple[dt.datetime, dt.datetime] | None,
    site: str | None,
) -> list[Row]:
    """Daily rows of a part of one day, counted from its events (at most one day of history)."""
    if part is None:
        return []
    sql, params = daily_sql(article_id, part[0], part[1], site)
    return [daily_row(r) for r in conn.execute(sql, params)]
