"""Rollups of the PostgreSQL store, folded in from the event history by an exactly-once step.

The tables are those of the SQLite store (``sqlite_rollups.py``): ``fw_daily`` and
``fw_hourly`` per article and UTC day or hour, ``fw_site_daily`` and ``fw_site_totals``
per site (pg_sites.py), and ``fw_ranks``: each article's counts with the listing's sort
keys stored ascending (Wilson bound and total negated), one index per order (and per
order and site, for sites other than the default one), so a page and a keyset cursor
are one index range.

Why not in the vote's transaction. A vote here touches one of a few counter *slots*
(pg_schema.py, migration 2) so that a viral article's writers do not queue on one row;
a site-wide total or a per-article rank row written by every vote would bring that
queue back, for the whole site. So a vote writes only what it wrote before, and
:meth:`RollupQueries.catch_up` folds new events into the rollups afterwards, in one
transaction that also moves ``fw_rollup_state.mark`` (the last event folded in):

- *exactly once*: the fold and the mark commit together, under the state row's lock,
  so two servers never fold the same event and a failed fold leaves nothing behind;
- *no gaps*: a fold stops at the events' high-water mark (postgres.py), below which no
  transaction in flight can still add an event;
- *bounded lag*: every server folds every ``rollup_interval`` seconds (1 s by default),
  at most :data:`FOLD_LIMIT` events per statement; and a server folds before it answers
  a dashboard, listing or daily export whenever it has written since its last fold, so
  an editor always sees their own server's votes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from ..errors import StoreUnavailable
from ..types import ArticleId, ArticleOrder, ArticleSummary, ExportFormat, Tally
from . import local_sql, pg_queries
from .base import LocalDay, Row
from .pg_pooler import Connector, snapshot_batches_of
from .pg_sites import FOLD_SITES, counts_between_sql, daily_after_sql, site_daily_sql, site_totals_sql
from .rollups import split, window
from .site_sql import listing_where, numbered, site_where

_log = logging.getLogger("feedbackwidget.store")
#: Events folded by one statement at most (a backlog is folded in several).
FOLD_LIMIT = 50_000
#: How old a fold may be before a read folds again even without a write of its own (seconds).
READ_FRESH = 1.0
_MAX_KEY = 9223372036854775807


#: Fold events ``$1 < event_id <= $2`` into every rollup and move the mark to ``$2``.
#: ``cu``/``cd``: a vote cast or changed to up/down (what daily counts); ``du``/``dd``: the
#: change of the article's current up/down votes. A vote is never NULL on an event this
#: store writes; were it, the event would count for nothing rather than fail every fold.
FOLD = f"""
WITH e AS MATERIALIZED (
    SELECT at, article_id,
           (action IN ('cast', 'change') AND v = 'up')::int AS cu,
           (action IN ('cast', 'change') AND v = 'down')::int AS cd,
           CASE WHEN action IN ('cast', 'change') THEN (v = 'up')::int - (action = 'change' AND v = 'down')::int
                ELSE -(v = 'up')::int END AS du,
           CASE WHEN action IN ('cast', 'change') THEN (v = 'down')::int - (action = 'change' AND v = 'up')::int
                ELSE -(v = 'down')::int END AS dd
    FROM (SELECT at, article_id, action, coalesce(vote, '') AS v FROM fw_events
          WHERE event_id > $1 AND event_id <= $2) raw
), daily AS (
    INSERT INTO fw_daily AS r (day, article_id, up, down)
    SELECT (at AT TIME ZONE 'UTC')::date, article_id, sum(cu), sum(cd) FROM e WHERE cu + cd > 0 GROUP BY 1, 2
    ON CONFLICT (day, article_id) DO UPDATE SET up = r.up + excluded.up, down = r.down + excluded.down
), hourly AS (
    INSERT INTO fw_hourly AS r (hour, article_id, up, down)
    SELECT date_trunc('hour', at, 'UTC'), article_id, sum(cu), sum(cd) FROM e WHERE cu + cd > 0 GROUP BY 1, 2
    ON CONFLICT (hour, article_id) DO UPDATE SET up = r.up + excluded.up, down = r.down + excluded.down
), {FOLD_SITES}, ranks AS (
    INSERT INTO fw_ranks AS r (article_id, up, down, last_vote_at, rank_wilson, rank_total, rank_recent)
    -- fw_wilson never sees a negative count: the row to insert is computed (from the changes alone)
    -- before the article's row is found, and rows written into fw_events by anything but this store
    -- may withdraw votes that never were; one such event must not stop every fold after it.
    SELECT article_id, sum(du), sum(dd), max(at) FILTER (WHERE cu + cd > 0),
           -fw_wilson(greatest(sum(du), 0), greatest(sum(dd), 0)), -(sum(du) + sum(dd)),
           fw_recent_key(max(at) FILTER (WHERE cu + cd > 0))
    FROM e GROUP BY article_id
    ON CONFLICT (article_id) DO UPDATE SET
        up = r.up + excluded.up, down = r.down + excluded.down,
        last_vote_at = greatest(r.last_vote_at, excluded.last_vote_at),
        rank_wilson = -fw_wilson(greatest(r.up + excluded.up, 0), greatest(r.down + excluded.down, 0)),
        rank_total = r.rank_total + excluded.rank_total,
        rank_recent = least(r.rank_recent, excluded.rank_recent)
)
UPDATE fw_rollup_state SET mark = $2
"""

_ORDER_KEYS: dict[str, str] = {
    "wilson": "rank_wilson, rank_total, article_id",
    "total": "rank_total, article_id",
    "recent": "rank_recent, article_id",
}


def listing_sql(order: ArticleOrder, after: bool, site: str | None = None) -> tuple[str, bool]:
    """A listing page by one index: ``$1`` limit, ``$2`` offset, and with ``after`` ``$3`` the
    article id the page starts after; with ``site``, of that site only (then, and True in the
    answer, the site is the next parameter: served by its own index for a site other than the default)."""
    keys = _ORDER_KEYS[order]
    where = (
        [f"({', '.join('r.' + k for k in keys.split(', '))}) > (SELECT {keys} FROM fw_ranks WHERE article_id = $3)"]
        if after
        else []
    )
    site_mark = f"${4 if after else 3}"
    if site is not None:
        where.insert(0, listing_where("postgres", "r.article_id", site, site_mark))
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    ordered = ", ".join("r." + k for k in keys.split(", "))
    sql = (
        "SELECT r.article_id, a.title, r.up, r.down, a.first_vote_at, r.last_vote_at "
        f"FROM fw_ranks r JOIN fw_articles a USING (article_id){clause} ORDER BY {ordered} LIMIT $1 OFFSET $2"
    )
    return sql, site_mark in sql


# One index range per article (fw_daily_by_article), whatever the planner thinks of the day
# range; $4 days summed per row, from $2 on.
DAILY_OF = """
SELECT $2::date + (d.bucket * $4::int), d.article_id, d.up, d.down FROM unnest($1::text[]) AS a(id)
CROSS JOIN LATERAL (
    SELECT (day - $2::date) / $4::int AS bucket, article_id, sum(up)::bigint AS up, sum(down)::bigint AS down
    FROM fw_daily WHERE article_id = a.id AND day >= $2 AND day < $3 GROUP BY 1, 2
) d
ORDER BY 1, 2
"""


def _bounds(column: str, first: Any, last: Any, params: list[Any]) -> list[str]:
    where = []
    for value, op in ((first, ">="), (last, "<")):
        if value is not None:
            params.append(value)
            where.append(f"{column} {op} ${len(params)}")
    return where


#: Rows per batch of the whole-site daily rollup (pg_sites.daily_after_sql).
KEYSET_BATCH = 5000


def daily_sql(
    article_id: ArticleId | None, first: dt.date | None, last: dt.date | None, site: str | None = None
) -> tuple[str, list[Any]]:
    params: list[Any] = []
    where = _bounds("day", first, last, params)
    if article_id is not None:
        params.append(article_id)
        where.append(f"article_id = ${len(params)}")
    in_site, site_params = site_where("postgres", "article_id", site, numbered(len(params) + 1))
    where += in_site
    params += site_params
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return f"SELECT day, article_id, up, down FROM fw_daily{clause} ORDER BY day, article_id", params


def _daily_rows(records: list[Any]) -> list[Row]:
    return [{"day": r[0], "article_id": r[1], "up": r[2], "down": r[3]} for r in records]


def _date(at: dt.datetime | None) -> dt.date | None:
    return None if at is None else at.astimezone(dt.UTC).date()


class RollupQueries:
    """Mixed into :class:`~feedbackwidget.store.postgres.PostgresStore`, which provides the plumbing."""

    rollup_interval: float
    _rollup_dirty: bool
    _rollup_at: float
    _rollup_task: asyncio.Task[None] | None
    _connector: Connector

    def _connection(self, single: bool = True) -> contextlib.AbstractAsyncContextManager[Any]:
        raise NotImplementedError

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        raise NotImplementedError

    async def _event_high_water(self, conn: Any) -> int:
        raise NotImplementedError

    def _begin(self) -> str:
        raise NotImplementedError

    # -- the fold ---------------------------------------------------------------------

    async def catch_up(self, wait: bool = True) -> int:
        """Fold every event below the high-water mark into the rollups; returns how many
        statements it took (0: nothing to fold). ``wait=False`` gives way to a fold in progress."""
        folds = 0
        while True:
            async with self._connection(single=False) as conn:
                high = await self._event_high_water(conn)
                await conn.execute(self._begin())
                lock = "FOR UPDATE" if wait else "FOR UPDATE SKIP LOCKED"
                mark = await conn.fetchval(f"SELECT mark FROM fw_rollup_state {lock}")
                if mark is None or mark >= high:
                    await conn.execute("COMMIT")
                    return folds
                end = min(high, mark + FOLD_LIMIT)
                await conn.execute(FOLD, mark, end)
                await conn.execute("COMMIT")
                folds += 1
                if end == high:
                    return folds

    async def _fresh(self) -> None:
        """Fold before a rollup read if this server wrote since its last fold (or that fold is not recent)."""
        if self._rollup_dirty or time.monotonic() - self._rollup_at > READ_FRESH:
            self._rollup_dirty = False  # a write from now on marks it again
            await self.catch_up()
            self._rollup_at = time.monotonic()

    async def _fold_forever(self) -> None:
        while True:
            await asyncio.sleep(self.rollup_interval)
            try:
                await self.catch_up(wait=False)
            except StoreUnavailable:
                pass  # logged where it arose; the next round retries
            except Exception as exc:  # the task must outlive any one failed fold; the next round retries
                _log.warning("Folding events into the rollups failed (%s); retrying.", type(exc).__name__)

    def _start_folding(self) -> None:
        if self.rollup_interval > 0:
            self._rollup_task = asyncio.get_running_loop().create_task(self._fold_forever())

    async def _stop_folding(self) -> None:
        task, self._rollup_task = self._rollup_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- reads ------------------------------------------------------------------------

    async def articles(
        self, order: ArticleOrder, limit: int, offset: int, after: ArticleId | None = None, *, site: str | None = None
    ) -> list[ArticleSummary]:
        await self._fresh()
        sql, with_site = listing_sql(order, after is not None, site)
        args: tuple[Any, ...] = (limit, offset) + (() if after is None else (after,)) + ((site,) if with_site else ())
        rows = await self._fetch(sql, *args)
        return [ArticleSummary(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]

    async def site_totals(self, *, site: str | None = None) -> Tally:
        await self._fresh()
        sql, params = site_totals_sql(site)
        rows = await self._fetch(sql, *params)
        return Tally("", rows[0][0], rows[0][1]) if rows else Tally("")

    async def sites(self) -> list[str]:
        await self._fresh()
        return [r[0] for r in await self._fetch("SELECT site FROM fw_site_totals ORDER BY site")]

    async def site_daily(self, start: dt.date, end: dt.date, *, site: str | None = None) -> list[Row]:
        await self._fresh()
        sql, params = site_daily_sql(start, end, site)
        return [{"day": r[0], "up": r[1], "down": r[2]} for r in await self._fetch(sql, *params)]

    async def daily_of(
        self, article_ids: Sequence[ArticleId], start: dt.date, end: dt.date, size: int = 1
    ) -> list[Row]:
        await self._fresh()
        return _daily_rows(await self._fetch(DAILY_OF, sorted(set(article_ids)), start, end, size))

    async def daily(
        self, article_id: ArticleId | None, since: dt.datetime | None, until: dt.datetime | None, *,
        site: str | None = None,
    ) -> list[Row]:
        out: list[Row] = []
        async for batch in self._daily(article_id, since, until, site):
            out.extend(batch)
        return out

    def daily_export(
        self, since: dt.datetime | None, until: dt.datetime | None, site: str | None = None
    ) -> AsyncIterator[list[Row]]:
        return self._daily(None, since, until, site)

    async def _daily(
        self, article_id: ArticleId | None, since: dt.datetime | None, until: dt.datetime | None, site: str | None
    ) -> AsyncIterator[list[Row]]:
        """Partial end days from events (one day at most each), whole days streamed from the rollup."""
        await self._fresh()
        parts = split(since, until)
        if head := await self._from_events(article_id, parts.head, site):
            yield head
        if parts.whole and article_id is not None:
            sql, params = daily_sql(article_id, _date(parts.first), _date(parts.last), site)
            yield _daily_rows(await self._fetch(sql, *params))
        elif parts.whole:
            first = _date(parts.first) or dt.date.min
            last = _date(parts.last) or dt.date.max
            async for batch in self._keyset(daily_after_sql(site), first, last, first, _daily_rows):
                yield batch
        if tail := await self._from_events(article_id, parts.tail, site):
            yield tail

    async def _from_events(
        self, article_id: ArticleId | None, part: tuple[dt.datetime, dt.datetime] | None, site: str | None
    ) -> list[Row]:
        if part is None:
            return []
        sql, params = pg_queries.daily_sql(article_id, part[0], part[1], site)
        return _daily_rows(await self._fetch(sql, *params))

    async def local_daily(
        self, days: Sequence[LocalDay], size: int, *, site: str | None = None
    ) -> AsyncIterator[Sequence[Row]]:
        """A ``tz=`` daily export: one query per chunk of local days (local_sql.py), one snapshot."""
        async for records in self._local(days, site, None, size):
            yield local_sql.postgres_rows(records)

    async def local_daily_text(self, days: Sequence[LocalDay], fmt: ExportFormat, size: int) -> AsyncIterator[bytes]:
        """The same as lines written by PostgreSQL (base.LocalDailyText)."""
        async for records in self._local(days, None, fmt, size):
            yield local_sql.postgres_lines(records)

    async def _local(
        self, days: Sequence[LocalDay], site: str | None, fmt: ExportFormat | None, size: int
    ) -> AsyncIterator[list[Any]]:
        await self._fresh()
        queries = (local_sql.postgres_sql(c, site, fmt) for c in local_sql.chunks(days))
        async with self._connection(single=False) as conn:
            async for records in snapshot_batches_of(conn, self._connector, queries, size, local_sql.POSTGRES_LOCAL):
                yield records

    async def counts_between(self, since: dt.datetime, until: dt.datetime, *, site: str | None = None) -> list[Row]:
        await self._fresh()
        sql, params = counts_between_sql(site)
        rows = await self._fetch(sql, *window(since, until), *params)
        return [{"article_id": r[0], "up": r[1], "down": r[2]} for r in rows]

    async def _keyset(
        self, query: tuple[str, list[Any]], low: Any, high: Any, start: Any, convert: Callable[[list[Any]], list[Row]]
    ) -> AsyncIterator[list[Row]]:
        """Rows of ``query`` (pg_sites.daily_after_sql) with keys in ``[low, high)``, batch by batch."""
        sql, extra = query
        key: tuple[Any, str] = (start, "")  # article ids are never empty: before every row of ``start``
        while True:
            records = await self._fetch(sql, low, high, key[0], key[1], KEYSET_BATCH, *extra)
            if records:
                yield convert(records)
            if len(records) < KEYSET_BATCH:
                return
            key = (records[-1][0], records[-1][1])
