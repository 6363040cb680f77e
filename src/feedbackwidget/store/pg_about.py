"""What the PostgreSQL store knows about what each article is about (about_sql.py has the shared SQL)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, TypeVar

from ..types import About, AboutFilter, AboutSource, ArticleId, GroupBy
from . import about_sql as q
from .base import Row

T = TypeVar("T")

#: Schema version 7 (pg_schema.py): the tables of about_sql.py.
MIGRATION = """
CREATE TABLE fw_article_about (
    article_id   text COLLATE "C" PRIMARY KEY,
    section      text COLLATE "C",
    published_at timestamptz,
    headline     text,
    source       text NOT NULL CHECK (source IN ('embed', 'page')),
    url          text,
    updated_at   timestamptz NOT NULL,
    checked_at   timestamptz
);
CREATE INDEX fw_article_about_by_section ON fw_article_about (section, article_id) WHERE section IS NOT NULL;

CREATE TABLE fw_article_labels (
    kind       text NOT NULL CHECK (kind IN ('author', 'tag')),
    name       text COLLATE "C" NOT NULL,
    article_id text COLLATE "C" NOT NULL,
    position   integer NOT NULL,
    PRIMARY KEY (kind, name, article_id)
);
CREATE INDEX fw_article_labels_by_article ON fw_article_labels (article_id, kind, position);
"""

_COUNTS = """(
    SELECT a.article_id, a.title, coalesce(c.up, 0)::bigint AS up, coalesce(c.down, 0)::bigint AS down,
           a.first_vote_at, c.last_vote_at
    FROM fw_articles a LEFT JOIN (
        SELECT article_id, sum(up) AS up, sum(down) AS down, max(last_vote_at) AS last_vote_at
        FROM fw_counters GROUP BY article_id
    ) c USING (article_id)
) a"""
DIALECT = q.Dialect(prefix="fw_", counts=_COUNTS, mark=lambda n: f"${n}", wilson="fw_wilson({up}, {down})")

_UPSERT = """
INSERT INTO fw_article_about AS m (article_id, section, published_at, headline, source, url, updated_at, checked_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (article_id) DO UPDATE SET section = excluded.section, published_at = excluded.published_at,
    headline = excluded.headline, source = excluded.source, url = coalesce(excluded.url, m.url),
    updated_at = excluded.updated_at, checked_at = coalesce(excluded.checked_at, m.checked_at)
"""
_CHECKED = """
INSERT INTO fw_article_about AS m (article_id, source, url, updated_at, checked_at) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (article_id) DO UPDATE SET checked_at = coalesce(excluded.checked_at, m.checked_at),
    url = coalesce(excluded.url, m.url)
"""


async def _write_about(
    conn: Any, article_id: ArticleId, about: About | None, source: AboutSource, at: dt.datetime, url: str | None
) -> bool:
    held = await conn.fetchval(
        "SELECT source FROM fw_article_about WHERE article_id = $1 FOR UPDATE", article_id)
    checked = at if source == "page" else None
    if about is None or (source == "page" and held == "embed"):
        await conn.execute(_CHECKED, article_id, source, url, at, checked)
        return False
    await conn.execute(_UPSERT, article_id, about.section, about.published_at, about.headline, source, url, at,
                       checked)
    await conn.execute("DELETE FROM fw_article_labels WHERE article_id = $1", article_id)
    labels = [("author", n, i) for i, n in enumerate(about.authors)] + [("tag", n, i) for i, n in enumerate(about.tags)]
    if labels:
        await conn.execute(
            "INSERT INTO fw_article_labels (kind, name, article_id, position) "
            "SELECT k, n, $4, p::integer FROM unnest($1::text[], $2::text[], $3::text[]) AS u(k, n, p)",
            [k for k, _, _ in labels], [n for _, n, _ in labels], [str(i) for _, _, i in labels], article_id,
        )
    if about.headline:  # like an unsigned title: fills an empty one only
        await conn.execute("UPDATE fw_articles SET title = $1 WHERE article_id = $2 AND title IS NULL",
                           about.headline, article_id)
    return True


class PgAboutQueries:
    """Mixed into :class:`~feedbackwidget.store.postgres.PostgresStore`, which provides the plumbing."""

    async def _write(self, work: Callable[[Any], Any]) -> Any:
        raise NotImplementedError

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        raise NotImplementedError

    async def _fresh(self) -> None:
        raise NotImplementedError  # the rollups' (pg_rollups.py): fold what is pending before a read

    def _export(self, kind: Any, query: Callable[[int | None], Any]) -> AsyncIterator[Any]:
        raise NotImplementedError

    async def set_about(
        self, article_id: ArticleId, about: About | None, source: AboutSource, at: dt.datetime,
        url: str | None = None,
    ) -> bool:
        return bool(await self._write(lambda conn: _write_about(conn, article_id, about, source, at, url)))

    async def about(self, article_id: ArticleId) -> About | None:
        rows = await self._fetch(
            "SELECT m.section, m.published_at, m.headline, l.kind, l.name FROM fw_article_about m "
            "LEFT JOIN fw_article_labels l USING (article_id) WHERE m.article_id = $1 ORDER BY l.kind, l.position",
            article_id,
        )
        if not rows:
            return None
        first = rows[0]
        about = About(
            section=first[0], published_at=first[1], headline=first[2],
            authors=tuple(r[4] for r in rows if r[3] == "author"), tags=tuple(r[4] for r in rows if r[3] == "tag"),
        )
        return None if about.empty else about

    async def about_checked(self, article_id: ArticleId) -> dt.datetime | None:
        rows = await self._fetch("SELECT checked_at FROM fw_article_about WHERE article_id = $1", article_id)
        return rows[0][0] if rows else None

    async def groups(
        self, by: GroupBy, where: AboutFilter | None = None, limit: int = 100, *, site: str | None = None
    ) -> list[Row]:
        sql, params = q.groups_sql(DIALECT, by, where, limit, site)
        return [
            {"name": r[0], "articles": r[1], "up": int(r[2]), "down": int(r[3]), "last_vote_at": r[4]}
            for r in await self._fetch(sql, *params)
        ]

    async def group_daily(
        self, by: GroupBy, name: str, start: dt.date, end: dt.date, *, site: str | None = None
    ) -> list[Row]:
        await self._fresh()  # the rollups fold events after their transactions (pg_rollups.py)
        members, params = q.group_articles_sql(DIALECT, by, name, site)
        n = len(params)
        sql = (
            f"SELECT day, sum(up), sum(down) FROM fw_daily WHERE article_id IN ({members}) "
            f"AND day >= ${n + 1} AND day < ${n + 2} GROUP BY 1 HAVING sum(up) + sum(down) > 0 ORDER BY 1"
        )
        return [{"day": r[0], "up": int(r[1]), "down": int(r[2])}
                for r in await self._fetch(sql, *params, start, end)]

    async def groups_daily(
        self, by: GroupBy, names: Sequence[str], start: dt.date, end: dt.date, *, site: str | None = None
    ) -> list[Row]:
        if not names:
            return []
        await self._fresh()
        p = q.Params(DIALECT, [start, end])
        join, name = q.member_join(DIALECT, by, list(names), p, source="r")
        in_site = "".join(f" AND {c}" for c in q.in_site(DIALECT, "r.article_id", site, p))
        sql = (
            f"SELECT {name}, r.day, sum(r.up), sum(r.down) FROM fw_daily r{join} "
            f"WHERE r.day >= $1 AND r.day < $2{in_site} GROUP BY 1, 2 HAVING sum(r.up) + sum(r.down) > 0 ORDER BY 1, 2"
        )
        return [{"name": r[0], "day": r[1], "up": int(r[2]), "down": int(r[3])}
                for r in await self._fetch(sql, *p.values)]

    async def attention(
        self, min_votes: int, since: dt.datetime, *, below: float = 0.5, limit: int = 20,
        where: AboutFilter | None = None, site: str | None = None,
    ) -> list[Row]:
        sql, params = q.attention_sql(DIALECT, min_votes, since, below, limit, where, site)
        return [
            {"article_id": r[0], "title": r[1], "up": r[2], "down": r[3], "first_vote_at": r[4],
             "last_vote_at": r[5], "section": r[6], "published_at": r[7]}
            for r in await self._fetch(sql, *params)
        ]

    def export_articles(
        self, since: dt.datetime | None, until: dt.datetime | None, where: AboutFilter | None, *,
        site: str | None = None,
    ) -> AsyncIterator[Sequence[Row]]:
        p = q.Params(DIALECT)
        time_cond = [f"a.last_vote_at {op} {p(value)}" for value, op in ((since, ">="), (until, "<")) if value]
        sql = q.articles_export_sql(DIALECT, time_cond, p, where, site)

        def convert(rows: list[Any]) -> list[Row]:
            return [
                {"article_id": r[0], "title": r[1], "up": r[2], "down": r[3], "first_vote_at": r[4],
                 "last_vote_at": r[5], "section": r[6], "published_at": r[7],
                 "authors": q.split_names(r[8]), "tags": q.split_names(r[9])}
                for r in rows
            ]

        return self._export("articles", lambda high: (sql, p.values, convert))
