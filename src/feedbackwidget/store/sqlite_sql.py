"""SQL of the SQLite store: the operations its writer runs inside one
transaction, and the queries behind listings and exports. Times are stored
as integer microseconds since the epoch (UTC)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sqlite3
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from ..formulas import sql_needs_prefix
from ..types import ArticleId, Cast, CastResult, ExportFormat, ExportKind, Tally, Vote, VoterKey
from .base import EXPORT_COLUMNS, INTEGER_COLUMNS, TIME_COLUMNS, WORD_COLUMNS, Row
from .site_sql import site_where

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


def to_us(at: dt.datetime) -> int:
    """Exact microseconds since the epoch; a naive datetime is taken as UTC (as asyncpg does)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return (at - _EPOCH) // _MICROSECOND


def from_us(us: int | None) -> dt.datetime | None:
    """The exact instant (``fromtimestamp(us / 1e6)`` was a microsecond off after the year 2242)."""
    if us is None:
        return None
    return _EPOCH + us * _MICROSECOND


# -- the operations, run by the writer inside its transaction -------------


def statements(script: str) -> list[str]:
    """The statements of a script, split at the semicolons that end one (not those inside a trigger)."""
    out: list[str] = []
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \t\r\n;"):
                out.append(pending.strip())
            pending = ""
    if pending.strip(" \t\r\n;"):
        out.append(pending.strip())
    return out


def counts(conn: sqlite3.Connection, article_id: ArticleId) -> Tally:
    row = conn.execute("SELECT up, down FROM articles WHERE article_id = ?", (article_id,)).fetchone()
    return Tally(article_id, row[0], row[1]) if row else Tally(article_id)


def apply_cast(conn: sqlite3.Connection, cast: Cast) -> CastResult:
    """Four statements for a new or changed vote (the current vote, the article row with its title
    and counters, which also answers the tally, the vote and its event), two for an unchanged one."""
    at = to_us(cast.at)
    row = conn.execute(
        "SELECT vote FROM votes WHERE article_id = ? AND voter = ?", (cast.article_id, cast.voter)
    ).fetchone()
    previous: Vote | None = row[0] if row else None
    changed = previous != cast.vote
    d_up = (cast.vote == "up") - (previous == "up") if changed else 0
    d_down = (cast.vote == "down") - (previous == "down") if changed else 0
    # The article row first: the vote and its event refer to it.
    up, down = conn.execute(
        _ARTICLE_AFTER_CAST, (cast.article_id, cast.title, d_up, d_down, at, changed, cast.title_trusted)
    ).fetchone()
    if changed:
        if previous is None:
            conn.execute(
                "INSERT INTO votes (article_id, voter, vote, created_at, updated_at, article_version) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (cast.article_id, cast.voter, cast.vote, at, at, cast.version),
            )
        else:
            conn.execute(
                "UPDATE votes SET vote = ?, updated_at = ?, article_version = ?, reason = NULL, reason_text = NULL "
                "WHERE article_id = ? AND voter = ?",
                (cast.vote, at, cast.version, cast.article_id, cast.voter),
            )
        conn.execute(
            "INSERT INTO events (at, article_id, voter, action, vote, article_version) VALUES (?, ?, ?, ?, ?, ?)",
            (at, cast.article_id, cast.voter, "change" if previous else "cast", cast.vote, cast.version),
        )
    return CastResult(Tally(cast.article_id, up, down), changed=changed, previous=previous)


#: The article row after a cast, in one statement: made on its first vote; its title set when
#: the embed vouches for it (?7) or when it has none yet; counters moved and vote times kept
#: only for a new or changed vote (?6); the listing's sort keys follow when the writer folds
#: the vote's event into the rollups (sqlite_fold.py).
#: (SQLite checks CHECK constraints on the row to insert before it finds the conflict, so a
#: change's negative step is kept out of VALUES; a new article's first vote never has one.)
_ARTICLE_AFTER_CAST = """
INSERT INTO articles (article_id, title, up, down, first_vote_at, last_vote_at)
VALUES (?1, ?2, MAX(?3, 0), MAX(?4, 0), ?5, ?5)
ON CONFLICT (article_id) DO UPDATE SET
    up = up + ?3,
    down = down + ?4,
    last_vote_at = CASE WHEN ?6 THEN MAX(COALESCE(last_vote_at, 0), ?5) ELSE last_vote_at END,
    first_vote_at = CASE WHEN ?6 THEN COALESCE(first_vote_at, ?5) ELSE first_vote_at END,
    title = CASE WHEN ?2 IS NULL OR ?2 = '' THEN title
                 WHEN ?7 OR title IS NULL OR title = '' THEN ?2
                 ELSE title END
RETURNING up, down
"""


_ARTICLE_AFTER_WITHDRAW = "UPDATE articles SET up = up - ?1, down = down - ?2 WHERE article_id = ?3"


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
        _ARTICLE_AFTER_WITHDRAW,
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
    article_id: ArticleId | None, since: dt.datetime | None, until: dt.datetime | None, site: str | None = None
) -> tuple[str, list[Any]]:
    where, params = time_range("at", since, until)
    where.insert(0, "action IN ('cast', 'change')")
    if article_id is not None:
        where.append("article_id = ?")
        params.append(article_id)
    in_site, site_params = site_where("sqlite", "article_id", site)
    where += in_site
    params += site_params
    sql = (
        "SELECT date(at / 1000000, 'unixepoch') AS day, article_id, "
        "SUM(vote = 'up'), SUM(vote = 'down') FROM events "
        f"{where_clause(where)} GROUP BY day, article_id ORDER BY day, article_id"
    )
    return sql, params


def daily_row(r: tuple[Any, ...]) -> Row:
    return {"day": dt.date.fromisoformat(r[0]), "article_id": r[1], "up": r[2], "down": r[3]}


def _source(
    kind: ExportKind, since: dt.datetime | None, until: dt.datetime | None, after: int | None, site: str | None
) -> tuple[str, list[Any]]:
    """`` FROM … WHERE … ORDER BY …`` of one export kind (all but ``daily``), of ``site`` or every site."""
    in_site, site_params = site_where("sqlite", "article_id", site)
    if kind == "votes":
        where, params = time_range("updated_at", since, until)
        return f" FROM votes{where_clause(where + in_site)} ORDER BY article_id, voter", params + site_params
    if kind == "events":
        where, params = time_range("at", since, until)
        if after is not None:
            where.append("event_id > ?")
            params.append(after)
        return f" FROM events{where_clause(where + in_site)} ORDER BY event_id", params + site_params
    if kind == "articles":
        where, params = time_range("last_vote_at", since, until)
        return f" FROM articles{where_clause(where + in_site)} ORDER BY article_id", params + site_params
    if kind == "reasons":
        where, params = time_range("updated_at", since, until)
        where.insert(0, "reason IS NOT NULL")
        return f" FROM votes{where_clause(where + in_site)} ORDER BY article_id, voter", params + site_params
    raise ValueError(f"unknown export kind {kind!r}")


def export_query(
    kind: ExportKind, since: dt.datetime | None, until: dt.datetime | None, after: int | None,
    site: str | None = None,
) -> tuple[str, list[Any], Callable[[tuple[Any, ...]], Row]]:
    if kind == "daily":
        sql, params = daily_sql(None, since, until, site)
        return sql, params, daily_row
    source, params = _source(kind, since, until, after, site)
    if kind == "votes":
        return "SELECT article_id, vote, voter, created_at, updated_at, article_version" + source, params, lambda r: {
            "article_id": r[0], "vote": r[1], "voter": r[2],
            "created_at": from_us(r[3]), "updated_at": from_us(r[4]), "article_version": r[5],
        }
    if kind == "events":
        return "SELECT event_id, at, article_id, voter, action, vote, article_version" + source, params, lambda r: {
            "event_id": r[0], "at": from_us(r[1]), "article_id": r[2], "voter": r[3],
            "action": r[4], "vote": r[5], "article_version": r[6],
        }
    if kind == "articles":
        return "SELECT article_id, title, up, down, first_vote_at, last_vote_at" + source, params, lambda r: {
            "article_id": r[0], "title": r[1], "up": r[2], "down": r[3],
            "first_vote_at": from_us(r[4]), "last_vote_at": from_us(r[5]),
        }
    return "SELECT article_id, voter, reason, reason_text, updated_at, article_version" + source, params, lambda r: {
        "article_id": r[0], "voter": r[1], "reason": r[2], "reason_text": r[3],
        "updated_at": from_us(r[4]), "article_version": r[5],
    }


# -- exports written by SQLite itself (TextExport in base.py) --------------
#
# SQLite turns each column into its final text, as bytes: a CSV cell before
# quoting (formula prefix, '' for NULL) or a JSON value before escaping. A
# batch is then joined by C code (bytes.join, %), and one look over the joined
# bytes tells whether any cell needs quoting or escaping after all; such a
# rare batch is encoded again by csv/json from the same cells. So the bytes
# never depend on how SQLite escapes anything.

#: Columns that are never NULL (NOT NULL in the schema, or filtered on): in NDJSON the
#: line template quotes them, which spares SQLite two concatenations per cell.
_PRESENT = {
    "votes": frozenset({"article_id", "voter", "vote", "created_at", "updated_at"}),
    "events": frozenset({"event_id", "at", "article_id", "voter", "action"}),
    "reasons": frozenset({"article_id", "voter", "reason", "updated_at"}),
}
_CSV_QUOTED = b',"\r\n'  # what makes csv.writer quote a cell
_JSON_ESCAPED = bytes(range(0x20)) + b'"\\'  # what json.dumps escapes


def _iso_part(seconds: str, micros: str) -> str:
    return (
        f"replace(datetime({seconds}, 'unixepoch'), ' ', 'T') || "
        f"CASE WHEN {micros} = 0 THEN 'Z' ELSE '.' || substr({micros} + 1000000, 2) || 'Z' END"
    )


def iso_sql(column: str) -> str:
    """SQL for ``isoformat()`` of a microsecond column with ``Z`` for ``+00:00`` (NULL stays NULL):
    no fraction on a whole second, else six digits; seconds rounded down, also before 1970.
    A time outside years 1-9999 (which Python's datetime cannot hold either) becomes NULL, so
    that its row fails the export as reading it as a datetime would, rather than being written:
    SQLite's ``datetime()`` is NULL past 9999 by itself; the year 0 is checked on the (rare)
    negative branch only, so times after 1970 pay nothing for it."""
    down = f"(({column} - 999999) / 1000000)"
    return (
        f"CASE WHEN {column} >= 0 THEN {_iso_part(f'{column} / 1000000', f'{column} % 1000000')} "
        f"WHEN {column} < {_FIRST_US} THEN NULL "
        f"ELSE {_iso_part(down, f'{column} - {down} * 1000000')} END"
    )


#: 0001-01-01T00:00:00Z in microseconds since 1970.
_FIRST_US = -62135596800000000


def _cell_sql(fmt: ExportFormat, column: str, present: bool) -> str:
    if column in INTEGER_COLUMNS:
        value = f"CAST({column} AS TEXT)"
    elif column in TIME_COLUMNS:
        value = iso_sql(column)
    elif fmt == "ndjson" or column in WORD_COLUMNS:
        value = column
    else:  # a cell that could start a formula gets a ' (the rule: formulas.py)
        value = f"CASE WHEN {sql_needs_prefix(column, 'sqlite')} THEN '''' || {column} ELSE {column} END"
    if present:
        return f"CAST({value} AS BLOB)"
    if fmt == "ndjson" and column not in INTEGER_COLUMNS:
        value = f"""'"' || {value} || '"'"""
    return f"CAST(coalesce({value}, '{'' if fmt == 'csv' else 'null'}') AS BLOB)"


def text_query(
    kind: ExportKind, fmt: ExportFormat, since: dt.datetime | None, until: dt.datetime | None, after: int | None,
    site: str | None = None,
) -> tuple[str, list[Any], Callable[[list[tuple[Any, ...]]], bytes]]:
    """SQL and batch encoder of a CSV (headerless) or NDJSON export of votes, events or reasons."""
    columns, present = EXPORT_COLUMNS[kind], _PRESENT[kind]
    source, params = _source(kind, since, until, after, site)
    sql = f"SELECT {', '.join(_cell_sql(fmt, c, c in present) for c in columns)}{source}"
    if fmt == "csv":
        return sql, params, partial(csv_lines, len(columns))
    bare = [c in present and c not in INTEGER_COLUMNS for c in columns]  # strings the line template quotes
    template = ",".join(f'"{c}":"%s"' if b else f'"{c}":%s' for c, b in zip(columns, bare, strict=True))
    return sql, params, partial(ndjson_lines, columns, bare, ("{" + template + "}").encode())


def _utf8(data: bytes) -> bytes:
    """``data`` if it is UTF-8 (what reading the rows as text would have checked), else UnicodeDecodeError."""
    if not data.isascii():
        data.decode()
    return data


def csv_lines(width: int, rows: list[tuple[bytes, ...]]) -> bytes:
    """CSV lines of finished cells, quoted as ``csv.writer`` quotes: only where a cell needs it."""
    data = b"\r\n".join(map(b",".join, rows))
    n = len(rows)
    # Joining put (width - 1) commas in each line and CR LF between lines; any more comma, quote,
    # CR or LF is in a cell.
    if len(data) - len(data.translate(None, _CSV_QUOTED)) == (width - 1) * n + 2 * (n - 1):
        return _utf8(data) + b"\r\n"
    # Some cell holds a comma, a quote or a line break: csv.writer quotes exactly those.
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows([c.decode() for c in row] for row in rows)
    return buffer.getvalue().encode()


def ndjson_lines(
    columns: Sequence[str], bare: list[bool], template: bytes, rows: list[tuple[bytes, ...]],
    integers: frozenset[str] = INTEGER_COLUMNS,
) -> bytes:
    """NDJSON lines of JSON values that still need escaping only if the batch says so (``integers``:
    the columns whose cells are numbers)."""
    data = b"\n".join(map(template.__mod__, rows))
    # Joining put two quotes per key and per string that is not null in each line, and LF between
    # lines; any more quote, backslash or control character is in a value. (A null is ":null"; if
    # a value held that text, the count below comes out short and the batch is encoded again.)
    n, strings = len(rows), sum(c not in integers for c in columns)
    expected = 2 * (len(columns) + strings) * n - 2 * data.count(b":null") + n - 1
    if len(data) - len(data.translate(None, _JSON_ESCAPED)) == expected:
        return _utf8(data) + b"\n"
    lines = []
    for row in rows:
        value = {c: _json_value(c, cell, b, integers) for c, cell, b in zip(columns, row, bare, strict=True)}
        lines.append(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
    return ("\n".join(lines) + "\n").encode()


def _json_value(column: str, cell: bytes, bare: bool, integers: frozenset[str]) -> str | int | None:
    if bare:
        return cell.decode()
    if cell == b"null":
        return None
    return int(cell) if column in integers else cell[1:-1].decode()
