"""What the SQLite store answers beyond votes and tallies: one article's summary,
reasons given after a "No", and refused attempts aggregated per day."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ..types import ArticleId, ArticleSummary, VoterKey
from .base import Row
from .site_sql import own_key_sql, site_where
from .sqlite_sql import from_us, time_range, to_us, where_clause

T = TypeVar("T")


def _days(since: dt.datetime | None, until: dt.datetime | None) -> tuple[list[str], list[Any]]:
    """Day filter: days from ``since``'s day, up to but excluding ``until`` (a day it only
    partly covers counts)."""
    where: list[str] = []
    params: list[Any] = []
    if since is not None:
        where.append("day >= ?")
        params.append(since.astimezone(dt.UTC).date().isoformat())
    if until is not None:
        end = until.astimezone(dt.UTC)
        where.append("day < ?" if end.time() == dt.time() else "day <= ?")
        params.append(end.date().isoformat())
    return where, params


def _day(value: Any) -> str:
    """A UTC day as stored: from a date, a datetime (its UTC day) or an ISO date string."""
    if isinstance(value, dt.datetime):
        value = (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(dt.UTC).date()
    if isinstance(value, dt.date):
        return value.isoformat()
    return dt.date.fromisoformat(str(value)).isoformat()


class FeedbackQueries:
    """Mixed into :class:`~feedbackwidget.store.sqlite.SQLiteStore`, which provides the plumbing."""

    async def _write(self, op: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    async def article(self, article_id: ArticleId) -> ArticleSummary | None:
        def run(conn: sqlite3.Connection) -> ArticleSummary | None:
            r = conn.execute(
                "SELECT article_id, title, up, down, first_vote_at, last_vote_at FROM articles WHERE article_id = ?",
                (article_id,),
            ).fetchone()
            return ArticleSummary(r[0], r[1], r[2], r[3], from_us(r[4]), from_us(r[5])) if r else None

        return await self._read(run)

    async def set_reason(
        self, article_id: ArticleId, voter: VoterKey, reason: str, text: str | None, at: dt.datetime
    ) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE votes SET reason = ?, reason_text = ?, updated_at = ? "
                "WHERE article_id = ? AND voter = ? AND vote = 'down'",
                (reason, text, to_us(at), article_id, voter),
            )
            return cursor.rowcount > 0

        return await self._write(op)

    async def reasons(
        self, article_id: ArticleId | None, since: dt.datetime | None, until: dt.datetime | None, *,
        site: str | None = None,
    ) -> list[Row]:
        where, params = time_range("updated_at", since, until)
        where.insert(0, "reason IS NOT NULL")
        if article_id is not None:
            where.append("article_id = ?")
            params.append(article_id)
        in_site, site_params = site_where("sqlite", "article_id", site)
        where += in_site
        params += site_params
        sql = (
            f"SELECT article_id, reason, COUNT(*) FROM votes{where_clause(where)} "
            "GROUP BY article_id, reason ORDER BY article_id, reason"
        )

        def run(conn: sqlite3.Connection) -> list[Row]:
            return [{"article_id": r[0], "reason": r[1], "count": r[2]} for r in conn.execute(sql, params)]

        return await self._read(run)

    async def reason_texts(self, article_id: ArticleId, limit: int) -> list[Row]:
        def run(conn: sqlite3.Connection) -> list[Row]:
            rows = conn.execute(
                "SELECT updated_at, reason, reason_text FROM votes WHERE article_id = ? "
                "AND reason_text IS NOT NULL AND reason_text != '' ORDER BY updated_at DESC, voter LIMIT ?",
                (article_id, limit),
            )
            return [{"updated_at": from_us(r[0]), "reason": r[1], "reason_text": r[2]} for r in rows]

        return await self._read(run)

    async def add_refusals(self, rows: Sequence[Row]) -> None:
        values = [(_day(r["day"]), r["article_id"], r["kind"], int(r["count"])) for r in rows]

        def op(conn: sqlite3.Connection) -> None:
            # An article the store has never seen a vote for is counted under its site's own key
            # ("" for the default site): random article ids in a flood of refusals cannot make
            # the table grow, and one site's flood is not counted as another's.
            conn.executemany(
                "INSERT INTO refusals (day, article_id, kind, count) "
                "SELECT ?1, CASE WHEN EXISTS (SELECT 1 FROM articles WHERE article_id = ?2) THEN ?2 "
                f"ELSE {own_key_sql('sqlite', '?2')} END, ?3, ?4 "
                "WHERE 1 ON CONFLICT (day, article_id, kind) DO UPDATE SET count = count + excluded.count",
                values,
            )

        if values:
            await self._write(op)

    async def refusals(
        self, article_id: ArticleId | None, since: dt.datetime | None, until: dt.datetime | None, *,
        site: str | None = None,
    ) -> list[Row]:
        where, params = _days(since, until)
        if article_id is not None:
            where.append("article_id = ?")
            params.append(article_id)
        in_site, site_params = site_where("sqlite", "article_id", site)
        where += in_site
        params += site_params
        sql = (
            "SELECT day, article_id, kind, count FROM refusals"
            + where_clause(where)
            + " ORDER BY day, article_id, kind"
        )

        def run(conn: sqlite3.Connection) -> list[Row]:
            return [
                {"day": dt.date.fromisoformat(r[0]), "article_id": r[1], "kind": r[2], "count": r[3]}
                for r in conn.execute(sql, params)
            ]

        return await self._read(run)
