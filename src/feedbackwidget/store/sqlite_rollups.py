"""Rollups of the SQLite store: counts kept with the data, so that pages read a few
rows instead of the event history.

- ``daily_rollup``: per article and UTC day, the votes cast or changed to each value
  (what ``kind=daily`` exports and the dashboard charts);
- ``hourly_rollup``: the same per UTC hour, which a daily export in another time zone
  regroups into local days;
- ``site_daily``: the same summed over all articles, per UTC day (the site-wide chart);
- ``site_totals``: one row, the current up and down votes of the whole site (the
  Bayesian prior);
- ``rank_*`` columns on ``articles``: the listing's sort keys, stored ascending (the
  Wilson bound and the total negated) so that one index serves each order and a keyset
  cursor is one row-value comparison.

A trigger on ``events`` moves the first four inside the transaction that writes the
event (the writer's), so they can never disagree with the history; the sort keys move
in the statement that moves the article's counters (``sqlite_sql.py``). Days and hours
are whole numbers since the epoch (floor division, also before 1970).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, TypeVar

from ..types import ArticleId, ArticleOrder, ArticleSummary, Tally
from .base import Row
from .rollups import HOUR, split, unit_number, wilson_sql, window
from .sqlite_sql import daily_row, daily_sql, from_us, to_us

T = TypeVar("T")

DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000
_EPOCH_DAY = dt.date(1970, 1, 1)
_EPOCH_ORDINAL = _EPOCH_DAY.toordinal()
#: rank_recent of an article without any vote time: after every other.
NO_TIME = 2**63 - 1


def _floor(column: str, unit: int) -> str:
    return f"(({column} - ((({column} % {unit}) + {unit}) % {unit})) / {unit})"


#: Change of the site's current up / down votes that one event makes (``IS``: a row written by
#: something else than this store may lack its vote; it then counts for nothing, never fails).
_D_UP = (
    "CASE WHEN NEW.action IN ('cast', 'change') "
    "THEN (NEW.vote IS 'up') - (NEW.action = 'change' AND NEW.vote IS 'down') "
    "ELSE -(NEW.vote IS 'up') END"
)
_D_DOWN = (
    "CASE WHEN NEW.action IN ('cast', 'change') "
    "THEN (NEW.vote IS 'down') - (NEW.action = 'change' AND NEW.vote IS 'up') "
    "ELSE -(NEW.vote IS 'down') END"
)


def _build(source: str, key: str, unit: int, per_article: bool) -> str:
    article = "article_id, " if per_article else ""
    return (
        f"INSERT INTO {source} ({key}, {article}up, down) "
        f"SELECT {_floor('at', unit)}, {article}SUM(vote = 'up'), SUM(vote = 'down') FROM events "
        f"WHERE action IN ('cast', 'change') GROUP BY 1{', 2' if per_article else ''}"
    )


def _bump(table: str, key: str, unit: int, per_article: bool) -> str:
    article = ("article_id, ", "NEW.article_id, ", ", article_id") if per_article else ("", "", "")
    return (
        f"INSERT INTO {table} ({key}, {article[0]}up, down) "
        f"VALUES ({_floor('NEW.at', unit)}, {article[1]}NEW.vote IS 'up', NEW.vote IS 'down') "
        f"ON CONFLICT ({key}{article[2]}) DO UPDATE SET up = up + excluded.up, down = down + excluded.down"
    )


#: Schema version 3 (sqlite_schema.py): the rollups, built from what is stored, and kept from then on.
MIGRATION = f"""
ALTER TABLE articles ADD COLUMN rank_wilson REAL NOT NULL DEFAULT 0;
ALTER TABLE articles ADD COLUMN rank_total INTEGER NOT NULL DEFAULT 0;
ALTER TABLE articles ADD COLUMN rank_recent INTEGER NOT NULL DEFAULT {NO_TIME};
UPDATE articles SET rank_wilson = -{wilson_sql("up", "down")}, rank_total = -(up + down),
    rank_recent = COALESCE(-last_vote_at, {NO_TIME});
CREATE INDEX articles_by_wilson ON articles (rank_wilson, rank_total, article_id);
CREATE INDEX articles_by_total ON articles (rank_total, article_id);
CREATE INDEX articles_by_recent ON articles (rank_recent, article_id);

CREATE TABLE daily_rollup (
    day        INTEGER NOT NULL,
    article_id TEXT NOT NULL,
    up         INTEGER NOT NULL,
    down       INTEGER NOT NULL,
    PRIMARY KEY (day, article_id)
) WITHOUT ROWID;
CREATE INDEX daily_rollup_by_article ON daily_rollup (article_id, day);
CREATE TABLE hourly_rollup (
    hour       INTEGER NOT NULL,
    article_id TEXT NOT NULL,
    up         INTEGER NOT NULL,
    down       INTEGER NOT NULL,
    PRIMARY KEY (hour, article_id)
) WITHOUT ROWID;
CREATE TABLE site_daily (
    day  INTEGER PRIMARY KEY,
    up   INTEGER NOT NULL,
    down INTEGER NOT NULL
);
CREATE TABLE site_totals (
    only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
    up       INTEGER NOT NULL,
    down     INTEGER NOT NULL
);
INSERT INTO site_totals (only_row, up, down) SELECT 1, COALESCE(SUM(up), 0), COALESCE(SUM(down), 0) FROM articles;
{_build("daily_rollup", "day", DAY_US, True)};
{_build("hourly_rollup", "hour", HOUR_US, True)};
{_build("site_daily", "day", DAY_US, False)};

CREATE TRIGGER events_totals AFTER INSERT ON events BEGIN
    UPDATE site_totals SET up = up + {_D_UP}, down = down + {_D_DOWN};
END;
CREATE TRIGGER events_rollups AFTER INSERT ON events WHEN NEW.action IN ('cast', 'change') BEGIN
    {_bump("daily_rollup", "day", DAY_US, True)};
    {_bump("hourly_rollup", "hour", HOUR_US, True)};
    {_bump("site_daily", "day", DAY_US, False)};
END;"""


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


def listing_sql(order: ArticleOrder, after: bool) -> str:
    """A listing page: by one index, from its start (``LIMIT ? OFFSET ?``) or, with ``after``,
    from just past that article's place (``?`` = its id, then ``LIMIT ? OFFSET ?``)."""
    keys = _ORDER_KEYS[order]
    where = f" WHERE ({keys}) > (SELECT {keys} FROM articles WHERE article_id = ?)" if after else ""
    return (
        "SELECT article_id, title, up, down, first_vote_at, last_vote_at FROM articles"
        f"{where} ORDER BY {keys} LIMIT ? OFFSET ?"
    )


def site_totals(conn: sqlite3.Connection) -> tuple[int, int]:
    row = conn.execute("SELECT up, down FROM site_totals").fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def site_daily(conn: sqlite3.Connection, start: dt.date, end: dt.date) -> list[Row]:
    rows = conn.execute(
        "SELECT day, up, down FROM site_daily WHERE day >= ? AND day < ? ORDER BY day",
        (day_number(start), day_number(end)),
    )
    return [{"day": day_of(r[0]), "up": r[1], "down": r[2]} for r in rows]


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
    article_id: ArticleId | None, first: dt.datetime | None, last: dt.datetime | None
) -> tuple[str, list[Any]]:
    """Rollup rows over whole UTC days ``[first, last)`` (either open), of one article or all, by day then article."""
    where: list[str] = []
    params: list[Any] = []
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


#: Whole hours ?1 <= hour < ?2 from the rollup, the partial ones ?3 <= at < ?4 and ?5 <= at < ?6 from events.
_COUNTS_BETWEEN = """
SELECT article_id, SUM(up), SUM(down) FROM (
    SELECT article_id, up, down FROM hourly_rollup WHERE hour >= ?1 AND hour < ?2
    UNION ALL
    SELECT article_id, vote = 'up', vote = 'down' FROM events
    WHERE at >= ?3 AND at < ?4 AND action IN ('cast', 'change')
    UNION ALL
    SELECT article_id, vote = 'up', vote = 'down' FROM events
    WHERE at >= ?5 AND at < ?6 AND action IN ('cast', 'change')
) GROUP BY article_id HAVING SUM(up) + SUM(down) > 0 ORDER BY article_id
"""


class RollupQueries:
    """Mixed into :class:`~feedbackwidget.store.sqlite.SQLiteStore`, which provides the plumbing:
    the reads behind the dashboard, the listing and the daily exports, all from rollups."""

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    def _stream(
        self, sql: str, params: Sequence[Any], encode: Callable[[list[tuple[Any, ...]]], T], size: int
    ) -> AsyncIterator[T]:
        raise NotImplementedError

    async def articles(
        self, order: ArticleOrder, limit: int, offset: int, after: ArticleId | None = None
    ) -> list[ArticleSummary]:
        sql = listing_sql(order, after is not None)
        params: tuple[Any, ...] = (limit, offset) if after is None else (after, limit, offset)

        def run(conn: sqlite3.Connection) -> list[ArticleSummary]:
            return [
                ArticleSummary(r[0], r[1], r[2], r[3], from_us(r[4]), from_us(r[5])) for r in conn.execute(sql, params)
            ]

        return await self._read(run)

    async def site_totals(self) -> Tally:
        up, down = await self._read(site_totals)
        return Tally("", up, down)

    async def site_daily(self, start: dt.date, end: dt.date) -> list[Row]:
        return await self._read(lambda conn: site_daily(conn, start, end))

    async def daily_of(
        self, article_ids: Sequence[ArticleId], start: dt.date, end: dt.date, size: int = 1
    ) -> list[Row]:
        return await self._read(lambda conn: daily_of(conn, list(article_ids), start, end, size))

    async def daily(
        self, article_id: ArticleId | None, since: dt.datetime | None, until: dt.datetime | None
    ) -> list[Row]:
        parts = split(since, until)

        def run(conn: sqlite3.Connection) -> list[Row]:
            out: list[Row] = []
            conn.execute("BEGIN")  # one snapshot for the three parts
            try:
                out.extend(_from_events(conn, article_id, parts.head))
                if parts.whole:
                    sql, params = daily_all_sql(article_id, parts.first, parts.last)
                    out.extend(daily_rollup_row(r) for r in conn.execute(sql, params))
                out.extend(_from_events(conn, article_id, parts.tail))
            finally:
                conn.execute("COMMIT")
            return out

        return await self._read(run)

    async def daily_export(
        self, since: dt.datetime | None, until: dt.datetime | None, size: int
    ) -> AsyncIterator[Sequence[Row]]:
        """``kind=daily``: the partial first and last days from events, the whole ones streamed from the rollup."""
        parts = split(since, until)
        head = await self._read(lambda conn: _from_events(conn, None, parts.head))
        if head:
            yield head
        if parts.whole:
            sql, params = daily_all_sql(None, parts.first, parts.last)
            async for batch in self._stream(sql, params, lambda rows: [daily_rollup_row(r) for r in rows], size):
                yield batch
        tail = await self._read(lambda conn: _from_events(conn, None, parts.tail))
        if tail:
            yield tail

    async def counts_between(self, since: dt.datetime, until: dt.datetime) -> list[Row]:
        first, last, since, until = window(since, until)
        params = (unit_number(first, HOUR), unit_number(last, HOUR), to_us(since), to_us(first),
                  to_us(last), to_us(until))

        def run(conn: sqlite3.Connection) -> list[Row]:
            return [{"article_id": r[0], "up": r[1], "down": r[2]} for r in conn.execute(_COUNTS_BETWEEN, params)]

        return await self._read(run)


def _from_events(
    conn: sqlite3.Connection, article_id: ArticleId | None, part: tuple[dt.datetime, dt.datetime] | None
) -> list[Row]:
    """Daily rows of a part of one day, counted from its events (at most one day of history)."""
    if part is None:
        return []
    sql, params = daily_sql(article_id, part[0], part[1])
    return [daily_row(r) for r in conn.execute(sql, params)]
