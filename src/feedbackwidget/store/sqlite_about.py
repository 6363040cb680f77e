"""What the SQLite store knows about what each article is about (about_sql.py has the shared SQL)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, TypeVar

from ..types import About, AboutFilter, AboutSource, ArticleId, GroupBy
from . import about_sql as q
from .base import Row
from .rollups import wilson_sql
from .sqlite_sql import from_us, time_range, to_us

T = TypeVar("T")

_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


def _day_number(day: dt.date) -> int:
    """A UTC day as the rollups key it: whole days since 1970-01-01."""
    return day.toordinal() - _EPOCH_ORDINAL


def _day(number: int) -> dt.date:
    return dt.date.fromordinal(_EPOCH_ORDINAL + number)

#: The Wilson bound in SQL, operation for operation the same double as ``sentiment.wilson_lower`` (rollups.py).
DIALECT = q.Dialect(prefix="", counts="articles a", mark=lambda n: "?",
                    wilson=wilson_sql("{up}", "{down}").replace("{", "{{").replace("}", "}}")
                    .replace("{{up}}", "{up}").replace("{{down}}", "{down}"))


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

    async def _fresh(self) -> None:
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

    async def groups(
        self, by: GroupBy, where: AboutFilter | None = None, limit: int = 100, *, site: str | None = None
    ) -> list[Row]:
        sql, params = q.groups_sql(DIALECT, by, where, limit, site)

        def run(conn: sqlite3.Connection) -> list[Row]:
            return [
                {"name": r[0], "articles": r[1], "up": r[2], "down": r[3], "last_vote_at": from_us(r[4])}
                for r in conn.execute(sql, params)
            ]

        return await self._read(run)

    async def group_daily(
        self, by: GroupBy, name: str, start: dt.date, end: dt.date, *, site: str | None = None
    ) -> list[Row]:
        await self._fresh()  # daily_rollup (sqlite_fold.py)
        members, params = q.group_articles_sql(DIALECT, by, name, site)
        # The rollups' per-article days (sqlite_rollups.py), each member's by its (article, day) index.
        sql = (
            f"SELECT day, SUM(up), SUM(down) FROM daily_rollup WHERE article_id IN ({members}) "
            "AND day >= ? AND day < ? GROUP BY day HAVING SUM(up) + SUM(down) > 0 ORDER BY day"
        )
        params = [*params, _day_number(start), _day_number(end)]

        def run(conn: sqlite3.Connection) -> list[Row]:
            return [{"day": _day(r[0]), "up": r[1], "down": r[2]} for r in conn.execute(sql, params)]

        return await self._read(run)

    async def groups_daily(
        self, by: GroupBy, names: Sequence[str], start: dt.date, end: dt.date, *, site: str | None = None
    ) -> list[Row]:
        await self._fresh()  # daily_rollup (sqlite_fold.py)
        if not names:
            return []
        p = q.Params(DIALECT)
        join, name = q.member_join(DIALECT, by, list(names), p, source="r")
        p.values += [_day_number(start), _day_number(end)]
        in_site = "".join(f" AND {c}" for c in q.in_site(DIALECT, "r.article_id", site, p))
        # The range's rollup rows in day order (their key), each meeting its article's group by key:
        # one pass for every group, where one query per big group would seek each of its articles.
        sql = (
            f"SELECT {name}, r.day, SUM(r.up), SUM(r.down) FROM daily_rollup r{join} "
            f"WHERE r.day >= ? AND r.day < ?{in_site} GROUP BY 1, 2 HAVING SUM(r.up) + SUM(r.down) > 0 ORDER BY 1, 2"
        )
        params = p.values

        def run(conn: sqlite3.Connection) -> list[Row]:
            return [{"name": r[0], "day": _day(r[1]), "up": r[2], "down": r[3]} for r in conn.execute(sql, params)]

        return await self._read(run)

    async def attention(
        self, min_votes: int, since: dt.datetime, *, below: float = 0.5, limit: int = 20,
        where: AboutFilter | None = None, site: str | None = None,
    ) -> list[Row]:
        sql, params = q.attention_sql(DIALECT, min_votes, to_us(since), below, limit, where, site)

        def run(conn: sqlite3.Connection) -> list[Row]:
            return [
                {"article_id": r[0], "title": r[1], "up": r[2], "down": r[3], "first_vote_at": from_us(r[4]),
                 "last_vote_at": from_us(r[5]), "section": r[6], "published_at": from_us(r[7])}
                for r in conn.execute(sql, params)
            ]

        return await self._read(run)

    def export_articles(
        self, since: dt.datetime | None, until: dt.datetime | None, where: AboutFilter | None, *,
        site: str | None = None,
    ) -> AsyncIterator[Sequence[Row]]:
        time_cond, params = time_range("a.last_vote_at", since, until)
        p = q.Params(DIALECT, params)
        sql = q.articles_export_sql(DIALECT, time_cond, p, where, site)

        def convert(rows: list[tuple[Any, ...]]) -> list[Row]:
            return [
                {"article_id": r[0], "title": r[1], "up": r[2], "down": r[3], "first_vote_at": from_us(r[4]),
                 "last_vote_at": from_us(r[5]), "section": r[6], "published_at": from_us(r[7]),
                 "authors": q.split_names(r[8]), "tags": q.split_names(r[9])}
                for r in rows
            ]

        return self._stream(sql, p.values, convert, 1000)
