"""SQL of the SQLite store: the operations its writer runs inside one
transaction, and the queries behind listings and exports. Times are stored
as integer microseconds since the epoch (UTC)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable
from typing import Any

from ..types import ArticleId, Cast, CastResult, ExportKind, Tally, Vote, VoterKey
from .base import Row

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


def to_us(at: dt.datetime) -> int:
    """Exact microseconds since the epoch; a naive datetime is taken as UTC (as asyncpg does)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return (at - _EPOCH) // _MICROSECOND


def from_us(us: int | None) -> dt.datetime | None:
    if us is None:
        return None
    return dt.datetime.fromtimestamp(us / 1_000_000, dt.UTC)


# -- the operations, run by the writer inside its transaction -------------


def statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def counts(conn: sqlite3.Connection, article_id: ArticleId) -> Tally:
    row = conn.execute("SELECT up, down FROM articles WHERE article_id = ?", (article_id,)).fetchone()
    return Tally(article_id, row[0], row[1]) if row else Tally(article_id)


def apply_cast(conn: sqlite3.Connection, cast: Cast) -> CastResult:
    at = to_us(cast.at)
    conn.execute(
        "INSERT INTO articles (article_id, title, first_vote_at, last_vote_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (article_id) DO NOTHING",
        (cast.article_id, cast.title, at, at),
    )
    if cast.title:
        if cast.title_trusted:
            conn.execute("UPDATE articles SET title = ? WHERE article_id = ?", (cast.title, cast.article_id))
        else:
            conn.execute(
                "UPDATE articles SET title = ? WHERE article_id = ? AND (title IS NULL OR title = '')",
                (cast.title, cast.article_id),
            )
    row = conn.execute(
        "SELECT vote FROM votes WHERE article_id = ? AND voter = ?", (cast.article_id, cast.voter)
    ).fetchone()
    previous: Vote | None = row[0] if row else None
    if previous == cast.vote:
        return CastResult(counts(conn, cast.article_id), changed=False, previous=previous)
    if previous is None:
        conn.execute(
            "INSERT INTO votes (article_id, voter, vote, created_at, updated_at, article_version) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (cast.article_id, cast.voter, cast.vote, at, at, cast.version),
        )
        action = "cast"
    else:
        conn.execute(
            "UPDATE votes SET vote = ?, updated_at = ?, article_version = ?, reason = NULL, reason_text = NULL "
            "WHERE article_id = ? AND voter = ?",
            (cast.vote, at, cast.version, cast.article_id, cast.voter),
        )
        action = "change"
    d_up = (cast.vote == "up") - (previous == "up")
    d_down = (cast.vote == "down") - (previous == "down")
    conn.execute(
        "UPDATE articles SET up = up + ?, down = down + ?, last_vote_at = MAX(COALESCE(last_vote_at, 0), ?), "
        "first_vote_at = COALESCE(first_vote_at, ?) WHERE article_id = ?",
        (d_up, d_down, at, at, cast.article_id),
    )
    conn.execute(
        "INSERT INTO events (at, article_id, voter, action, vote, article_version) VALUES (?, ?, ?, ?, ?, ?)",
        (at, cast.article_id, cast.voter, action, cast.vote, cast.version),
    )
    return CastResult(counts(conn, cast.article_id), changed=True, previous=previous)


def apply_withdraw(
    conn: sqlite3.Connection, article_id: ArticleId, voter: VoterKey, at: int, action: str = "withdraw"
) -> Tally | None:
    row = conn.execute(
        "SELECT vote, article_version FROM votes WHERE article_id = ? AND voter = ?", (article_id, voter)
    ).fetchone()
    if row is None:
        return None
    vote, version = row
    conn.execute("DELETE FROM votes WHERE article_id = ? AND voter = ?", (article_id, voter))
    conn.execute(
        "UPDATE articles SET up = up - ?, down = down - ? WHERE article_id = ?",
        (int(vote == "up"), int(vote == "down"), article_id),
    )
    conn.execute(
        "INSERT INTO events (at, article_id, voter, action, vote, article_version) VALUES (?, ?, ?, ?, ?, ?)",
        (at, article_id, voter, action, vote, version),
    )
    return counts(conn, article_id)


# -- export queries -------------------------------------------------------


def where_clause(conditions: list[str]) -> str:
    """`` WHERE a AND b`` (with its leading space), or nothing when there are no conditions."""
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""


def time_range(column: str, since: dt.datetime | None, until: dt.datetime | None) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if since is not None:
        where.append(f"{column} >= ?")
        params.append(to_us(since))
    if until is not None:
        where.append(f"{column} < ?")
        params.append(to_us(until))
    return where, params


def daily_sql(
    article_id: ArticleId | None, since: dt.datetime | None, until: dt.datetime | None
) -> tuple[str, list[Any]]:
    where, params = time_range("at", since, until)
    where.insert(0, "action IN ('cast', 'change')")
    if article_id is not None:
        where.append("article_id = ?")
        params.append(article_id)
    sql = (
        "SELECT date(at / 1000000, 'unixepoch') AS day, article_id, "
        "SUM(vote = 'up'), SUM(vote = 'down') FROM events "
        f"{where_clause(where)} GROUP BY day, article_id ORDER BY day, article_id"
    )
    return sql, params


def daily_row(r: tuple[Any, ...]) -> Row:
    return {"day": dt.date.fromisoformat(r[0]), "article_id": r[1], "up": r[2], "down": r[3]}


def export_query(
    kind: ExportKind, since: dt.datetime | None, until: dt.datetime | None, after: int | None
) -> tuple[str, list[Any], Callable[[tuple[Any, ...]], Row]]:
    if kind == "votes":
        where, params = time_range("updated_at", since, until)
        sql = (
            "SELECT article_id, vote, voter, created_at, updated_at, article_version FROM votes"
            + where_clause(where)
            + " ORDER BY article_id, voter"
        )
        return sql, params, lambda r: {
            "article_id": r[0], "vote": r[1], "voter": r[2],
            "created_at": from_us(r[3]), "updated_at": from_us(r[4]), "article_version": r[5],
        }
    if kind == "events":
        where, params = time_range("at", since, until)
        if after is not None:
            where.append("event_id > ?")
            params.append(after)
        sql = (
            "SELECT event_id, at, article_id, voter, action, vote, article_version FROM events"
            + where_clause(where)
            + " ORDER BY event_id"
        )
        return sql, params, lambda r: {
            "event_id": r[0], "at": from_us(r[1]), "article_id": r[2], "voter": r[3],
            "action": r[4], "vote": r[5], "article_version": r[6],
        }
    if kind == "articles":
        where, params = time_range("last_vote_at", since, until)
        sql = (
            "SELECT article_id, title, up, down, first_vote_at, last_vote_at FROM articles"
            + where_clause(where)
            + " ORDER BY article_id"
        )
        return sql, params, lambda r: {
            "article_id": r[0], "title": r[1], "up": r[2], "down": r[3],
            "first_vote_at": from_us(r[4]), "last_vote_at": from_us(r[5]),
        }
    if kind == "reasons":
        where, params = time_range("updated_at", since, until)
        where.insert(0, "reason IS NOT NULL")
        sql = (
            "SELECT article_id, voter, reason, reason_text, updated_at, article_version FROM votes"
            f"{where_clause(where)} ORDER BY article_id, voter"
        )
        return sql, params, lambda r: {
            "article_id": r[0], "voter": r[1], "reason": r[2], "reason_text": r[3],
            "updated_at": from_us(r[4]), "article_version": r[5],
        }
    if kind == "daily":
        sql, params = daily_sql(None, since, until)
        return sql, params, daily_row
    raise ValueError(f"unknown export kind {kind!r}")

