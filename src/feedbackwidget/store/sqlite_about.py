"""What the SQLite store knows about what each article is about (about_sql.py has the shared SQL)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, TypeVar

from ..types import About, AboutFilter, AboutSource, ArticleId, GroupBy
from . import about_sql as q
from .base import Row
from .sqlite_sql import from_us, time_range, to_us

T = TypeVar("T")

_DAY_US = 86_400_000_000
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()

DIALECT = q.Dialect(prefix="", counts="articles a", mark=lambda n: "?", wilson="wilson({up}, {down})")


def _about_row(r: tuple[Any, ...], authors: tuple[str, ...], tags: tuple[str, ...]) -> About:
    return About(section=r[0], authors=authors, tags=tags, published_at=from_us(r[1]), headline=r[2])


def write_about(
    conn: sqlite3.Connection, article_id: ArticleId, about: About | None, source: AboutSource, at: int,
    url: str | None,
) -> bool:
    """The writer's part of :meth:`AboutQueries.set_about` (one savepoint)."""
    row = conn.execute("SELECT source FROM article_about WHERE article_id = ?", (article_id,)).fetchone()
    checked = at if source == "page" else None
    if about is None or (source == "page" and row is not None and row[0] == "embed"):
        # Nothing new to believe: remember the page was read (a failed read does not erase a good one).
        conn.execute(
            "INSERT INTO article_about (article_id, source, url, updated_at, checked_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (article_id) DO UPDATE SET checked_at = coalesce(excluded.checked_at, checked_at), "
            "url = coalesce(excluded.url, url)",
            (article_id, source, url, at, checked),
        )
        return False
    published = to_us(about.published_at) if about.published_at else None
    conn.execute(
        "INSERT INTO article_about (article_id, section, published_at, headline, source, url, updated_at, checked_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (article_id) DO UPDATE SET section = excluded.section, "
        "published_at = excluded.published_at, headline = excluded.headline, source = excluded.source, "
        "url = coalesce(excluded.url, url), updated_at = excluded.updated_at, "
        "checked_at = coalesce(excluded.checked_at, checked_at)",
        (article_id, about.section, published, about.headline, source, url, at, checked),
    )
    conn.execute("DELETE FROM article_labels WHERE article_id = ?", (article_id,))
    conn.executemany(
        "INSERT INTO article_labels (kind, name, article_id, position) VALUES (?, ?, ?, ?)",
        [("author", n, article_id, i) for i, n in enumerate(about.authors)]
        + [("tag", n, article_id, i) for i, n in enumerate(about.tags)],
    )
    if about.headline:  # like an unsigned title: fills an empty one only
        conn.execute(
            "UPDATE articles SET title = ? WHERE article_id = ? AND title IS NULL", (about.headline, article_id)
        )
    return True


class AboutQueries:
    """Mixed into :class:`~feedbackwidget.store.sqlite.SQLiteStore`, which provides the plumbing."""

    async def _write(self, op: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    def _stream(
        self, sql: str, params: Sequence[Any], encode: Callable[[list[tuple[Any, ...]]], T], size: int
    ) -> AsyncIterator[T]:
        raise NotImplementedError

    async def set_about(
        self, article_id: ArticleId, about: About | None, source: AboutSource, at: dt.datetime,
        url: str | None = None,
    ) -> bool:
        return await self._write(lambda conn: write_about(conn, article_id, about, source, to_us(at), url))

    async def about(self, article_id: ArticleId) -> About | None:
        def run(conn: sqlite3.Connection) -> About | None:
            r = conn.execute(
                "SELECT section, published_at, headline FROM article_about WHERE article_id = ?", (article_id,)
            ).fetchone()
            if r is None:
                return None
            labels = conn.execute(
                "SELECT kind, name FROM article_labels WHERE article_id = ? ORDER BY kind, position", (article_id,)
            ).fetchall()
            authors = tuple(n for k, n in labels if k == "author")
            about = _about_row(r, authors, tuple(n for k, n in labels if k == "tag"))
            return None if about.empty else about

        return await self._read(run)

    async def about_checked(self, article_id: ArticleId) -> dt.datetime | None:
        def run(conn: sqlite3.Connection) -> dt.datetime | None:
            r = conn.execute("SELECT checked_at FROM article_about WHERE article_id = ?", (article_id,)).fetchone()
            return from_us(r[0]) if r else None

        return await self._read(run)

    async def groups(self, by: GroupBy, where: AboutFilter | None = None, limit: int = 100) -> list[Row]:
        sql, params = q.groups_sql(DIALECT, by, where, limit)

        def run(conn: sqlite3.Connection) -> list[Row]:
            return [
                {"name": r[0], "articles": r[1], "up": r[2], "down": r[3], "last_vote_at": from_us(r[4])}
                for r in conn.execute(sql, params)
            ]

        return await self._read(run)

    async def group_daily(self, by: GroupBy, name: str, start: dt.date, end: dt.date) -> list[Row]:
        members, params = q.group_articles_sql(DIALECT, by, name)
        first, last = q.day_bounds(start, end)
        sql = (
            "SELECT date(at / 1000000, 'unixepoch') AS day, SUM(vote = 'up'), SUM(vote = 'down') FROM events "
            f"WHERE article_id IN ({members}) AND at >= ? AND at < ? AND action IN ('cast', 'change') "
            "GROUP BY day ORDER BY day"
        )
        params = [*params, to_us(first), to_us(last)]

        def run(conn: sqlite3.Connection) -> list[Row]:
            return [{"day": dt.date.fromisoformat(r[0]), "up": r[1], "down": r[2]} for r in conn.execute(sql, params)]

        return await self._read(run)

    async def groups_daily(self, by: GroupBy, names: Sequence[str], start: dt.date, end: dt.date) -> list[Row]:
        if not names:
            return []
        first, last = q.day_bounds(start, end)
        p = q.Params(DIALECT, [to_us(first), to_us(last)])
        join, name = q.member_join(DIALECT, by, list(names), p)
        # The range's events in time order (events_by_time), each meeting its article's group by key:
        # one pass for every group, where one query per big group would seek each of its articles.
        day = f"((e.at - ((e.at % {_DAY_US}) + {_DAY_US}) % {_DAY_US}) / {_DAY_US})"  # floor: days since 1970
        sql = (
            f"SELECT {name}, {day}, SUM(e.vote = 'up'), SUM(e.vote = 'down') "
            f"FROM events e INDEXED BY events_by_time{join} "
            "WHERE e.at >= ? AND e.at < ? AND e.action IN ('cast', 'change') GROUP BY 1, 2 ORDER BY 1, 2"
        )
        params = [*p.values[2:], *p.values[:2]]  # the join's names come first in the text

        def run(conn: sqlite3.Connection) -> list[Row]:
            return [{"name": r[0], "day": dt.date.fromordinal(_EPOCH_ORDINAL + r[1]), "up": r[2], "down": r[3]}
                    for r in conn.execute(sql, params)]

        return await self._read(run)

    async def attention(
        self, min_votes: int, since: dt.datetime, *, below: float = 0.5, limit: int = 20,
        where: AboutFilter | None = None,
    ) -> list[Row]:
        sql, params = q.attention_sql(DIALECT, min_votes, to_us(since), below, limit, where)

        def run(conn: sqlite3.Connection) -> list[Row]:
            return [
                {"article_id": r[0], "title": r[1], "up": r[2], "down": r[3], "first_vote_at": from_us(r[4]),
                 "last_vote_at": from_us(r[5]), "section": r[6], "published_at": from_us(r[7])}
                for r in conn.execute(sql, params)
            ]

        return await self._read(run)

    def export_articles(
        self, since: dt.datetime | None, until: dt.datetime | None, where: AboutFilter | None
    ) -> AsyncIterator[Sequence[Row]]:
        time_cond, params = time_range("a.last_vote_at", since, until)
        p = q.Params(DIALECT, params)
        sql = q.articles_export_sql(DIALECT, time_cond, p, where)

        def convert(rows: list[tuple[Any, ...]]) -> list[Row]:
            return [
                {"article_id": r[0], "title": r[1], "up": r[2], "down": r[3], "first_vote_at": from_us(r[4]),
                 "last_vote_at": from_us(r[5]), "section": r[6], "published_at": from_us(r[7]),
                 "authors": q.split_names(r[8]), "tags": q.split_names(r[9])}
                for r in rows
            ]

        return self._stream(sql, p.values, convert, 1000)
