"""SQL of the PostgreSQL store. asyncpg prepares each statement once per
connection and reuses it (its statement cache), so the hot paths below run as
prepared statements."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

from ..formulas import sql_needs_prefix
from ..types import ArticleId, ExportFormat, ExportKind
from .base import EXPORT_COLUMNS, INTEGER_COLUMNS, TEXT_KINDS, TIME_COLUMNS, WORD_COLUMNS, Row
from .site_sql import numbered, own_key_sql, site_where

T = TypeVar("T")
#: An export's SQL, its parameters, and what turns a batch of its records into what the store yields.
Query = tuple[str, list[Any], Callable[[list[Any]], T]]

TALLY = "SELECT coalesce(sum(up), 0)::bigint, coalesce(sum(down), 0)::bigint FROM fw_counters WHERE article_id = $1"
VOTE_OF = "SELECT vote FROM fw_votes WHERE article_id = $1 AND voter = $2"

# The whole cast (vote, event, counters, title) in one statement; see fw_cast.
CAST = "SELECT r_changed, r_previous, r_up, r_down FROM fw_cast($1, $2, $3, $4, $5, $6, $7, $8)"
VOTE_DELETE = "DELETE FROM fw_votes WHERE article_id = $1 AND voter = $2 RETURNING vote, article_version"
VOTER_DELETE = """
WITH gone AS (DELETE FROM fw_votes WHERE voter = $1 RETURNING article_id, vote, article_version)
SELECT article_id, vote, article_version FROM gone ORDER BY article_id
"""

# One event and one counter slot in one round trip. The writing transaction
# already holds the shared event lock (see postgres.py), so the id drawn here
# cannot slip under an export's high-water mark.
EVENT_AND_COUNT = """
WITH event AS (
    INSERT INTO fw_events (at, article_id, voter, action, vote, article_version)
    VALUES ($1, $2, $3, $4, $5, $6)
)
INSERT INTO fw_counters AS c (article_id, slot, up, down, last_vote_at)
VALUES ($2, $7, $8, $9, $10)
ON CONFLICT (article_id, slot) DO UPDATE
    SET up = c.up + excluded.up, down = c.down + excluded.down,
        last_vote_at = greatest(c.last_vote_at, excluded.last_vote_at)
"""

# GCRA: the row holds the theoretical arrival time; an attempt is allowed when
# the new one stays within ``period`` of now. A refused attempt changes nothing.
# "now" is $2, or PostgreSQL's clock when $2 is NULL (app servers' clocks may
# disagree; the database's is one). _START is store.base.gcra_start.
_NOW = "coalesce($2::float8, extract(epoch FROM statement_timestamp())::float8)"
_START = f"(CASE WHEN r.tat > {_NOW} + $4::float8 THEN {_NOW} ELSE greatest(r.tat, {_NOW}) END)"
RATE_PRUNE = f"DELETE FROM fw_rate WHERE tat < {_NOW.replace('$2', '$1')}"
RATE_TAKE = f"""
INSERT INTO fw_rate AS r (key, tat) VALUES ($1, {_NOW} + $3::float8)
ON CONFLICT (key) DO UPDATE SET tat = {_START} + $3
    WHERE {_START} + $3 - {_NOW} <= $4::float8 + 1e-9
RETURNING tat
"""
RATE_TAT = f"SELECT tat, {_NOW} FROM fw_rate WHERE key = $1"

VERSIONS = """
SELECT article_version, count(*) FILTER (WHERE vote = 'up'), count(*) FILTER (WHERE vote = 'down')
FROM fw_votes WHERE article_id = $1
GROUP BY article_version ORDER BY min(created_at), article_version NULLS FIRST
"""

_ARTICLES = """
SELECT a.article_id, a.title, coalesce(c.up, 0)::bigint AS up, coalesce(c.down, 0)::bigint AS down,
       a.first_vote_at, c.last_vote_at
FROM fw_articles a
LEFT JOIN (
    SELECT article_id, sum(up) AS up, sum(down) AS down, max(last_vote_at) AS last_vote_at
    FROM fw_counters GROUP BY article_id
) c USING (article_id)
"""

# One article's summary: the same columns as a listing row.
ARTICLE = """
SELECT a.article_id, a.title, coalesce(sum(c.up), 0)::bigint, coalesce(sum(c.down), 0)::bigint,
       a.first_vote_at, max(c.last_vote_at)
FROM fw_articles a LEFT JOIN fw_counters c USING (article_id)
WHERE a.article_id = $1
GROUP BY a.article_id
"""

# A reason only ever sits on a current "down" vote (fw_cast drops it when the vote changes).
SET_REASON = """
UPDATE fw_votes SET reason = $3, reason_text = $4, updated_at = $5
WHERE article_id = $1 AND voter = $2 AND vote = 'down'
RETURNING 1
"""
REASON_TEXTS = """
SELECT updated_at, reason, reason_text FROM fw_votes
WHERE article_id = $1 AND reason_text IS NOT NULL AND reason_text <> ''
ORDER BY updated_at DESC, voter LIMIT $2
"""

# Rows arrive summed per key and sorted (see PostgresStore.add_refusals): one
# statement, and concurrent flushes take their row locks in the same order.
# An article the store has never seen a vote for is counted under its site's own key ("" for
# the default site): random article ids in a flood of refusals cannot make the table grow, and
# one site's flood is not counted as another's. Days and counts
# travel as text[]: asyncpg looks date[] and bigint[] up in the catalogue on first
# use, with session-level SETs that a connection pooler would leave behind.
ADD_REFUSALS = f"""
INSERT INTO fw_refusals AS r (day, article_id, kind, count)
SELECT u.day::date,
       CASE WHEN EXISTS (SELECT 1 FROM fw_articles a WHERE a.article_id = u.article_id) THEN u.article_id
            ELSE {own_key_sql("postgres", "u.article_id")} END,
       u.kind, SUM(u.count::bigint)
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(day, article_id, kind, count)
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
ON CONFLICT (day, article_id, kind) DO UPDATE SET count = r.count + excluded.count
"""


def _range(
    column: str, since: dt.datetime | None, until: dt.datetime | None, start: int = 1
) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    for value, op in ((since, ">="), (until, "<")):
        if value is not None:
            params.append(value)
            where.append(f"{column} {op} ${start + len(params) - 1}")
    return where, params


def _where(where: list[str]) -> str:
    return f" WHERE {' AND '.join(where)}" if where else ""


def _site(column: str, site: str | None, where: list[str], params: list[Any]) -> None:
    """Keep ``column`` to ``site``'s keys (nothing for None): its condition and parameters added."""
    conditions, values = site_where("postgres", column, site, numbered(len(params) + 1))
    where += conditions
    params += values


def daily_sql(
    article_id: ArticleId | None, since: dt.datetime | None, until: dt.datetime | None, site: str | None = None
) -> tuple[str, list[Any]]:
    where, params = _range("at", since, until)
    where.insert(0, "action IN ('cast', 'change')")
    if article_id is not None:
        params.append(article_id)
        where.append(f"article_id = ${len(params)}")
    _site("article_id", site, where, params)
    sql = (
        "SELECT (at AT TIME ZONE 'UTC')::date AS day, article_id, "
        "count(*) FILTER (WHERE vote = 'up'), count(*) FILTER (WHERE vote = 'down') "
        f"FROM fw_events{_where(where)} GROUP BY 1, 2 ORDER BY 1, 2"
    )
    return sql, params


def reasons_sql(
    article_id: ArticleId | None, since: dt.datetime | None, until: dt.datetime | None, site: str | None = None
) -> tuple[str, list[Any]]:
    where, params = _range("updated_at", since, until)
    where.insert(0, "reason IS NOT NULL")
    if article_id is not None:
        params.append(article_id)
        where.append(f"article_id = ${len(params)}")
    _site("article_id", site, where, params)
    sql = f"SELECT article_id, reason, count(*) FROM fw_votes{_where(where)} GROUP BY 1, 2 ORDER BY 1, 2"
    return sql, params


def utc_day(value: dt.datetime) -> dt.date:
    return value.astimezone(dt.UTC).date()


def refusals_sql(
    article_id: ArticleId | None, since: dt.datetime | None, until: dt.datetime | None, site: str | None = None
) -> tuple[str, list[Any]]:
    """Whole UTC days: from ``since``'s day on, up to ``until``'s day, which is
    left out only when ``until`` is its midnight (a partly covered day counts)."""
    where: list[str] = []
    params: list[Any] = []
    if since is not None:
        params.append(utc_day(since))
        where.append(f"day >= ${len(params)}")
    if until is not None:
        end = until.astimezone(dt.UTC)
        params.append(end.date())
        where.append(f"day {'<' if end.time() == dt.time() else '<='} ${len(params)}")
    if article_id is not None:
        params.append(article_id)
        where.append(f"article_id = ${len(params)}")
    _site("article_id", site, where, params)
    sql = f"SELECT day, article_id, kind, count FROM fw_refusals{_where(where)} ORDER BY day, article_id, kind"
    return sql, params


def daily_row(r: Any) -> Row:
    return {"day": r[0], "article_id": r[1], "up": r[2], "down": r[3]}


def _source(
    kind: ExportKind, since: dt.datetime | None, until: dt.datetime | None, after: int | None, high: int | None,
    site: str | None,
) -> tuple[str, str, list[Any]]:
    """`` FROM … WHERE …``, `` ORDER BY …`` and parameters of votes, events or reasons (of ``site``)."""
    if kind == "events":
        where, params = _range("at", since, until)
        for value, op in ((after, ">"), (high, "<=")):
            if value is not None:
                params.append(value)
                where.append(f"event_id {op} ${len(params)}")
        _site("article_id", site, where, params)
        return f" FROM fw_events{_where(where)}", " ORDER BY event_id", params
    where, params = _range("updated_at", since, until)
    if kind == "reasons":
        where.insert(0, "reason IS NOT NULL")
    _site("article_id", site, where, params)
    return f" FROM fw_votes{_where(where)}", " ORDER BY article_id, voter", params


def export_query(
    kind: ExportKind,
    since: dt.datetime | None,
    until: dt.datetime | None,
    after: int | None,
    high: int | None,
    site: str | None = None,
) -> Query[list[Row]]:
    """An export as batches of rows (of ``site``, or of every site)."""
    if kind == "articles":
        where, params = _range("c.last_vote_at", since, until)
        _site("a.article_id", site, where, params)
        sql = f"{_ARTICLES}{_where(where)} ORDER BY a.article_id"
        cols: tuple[str, ...] = ("article_id", "title", "up", "down", "first_vote_at", "last_vote_at")
    elif kind == "daily":
        sql, params = daily_sql(None, since, until, site)
        cols = ("day", "article_id", "up", "down")
    elif kind in TEXT_KINDS:
        cols = EXPORT_COLUMNS[kind]
        rows, order, params = _source(kind, since, until, after, high, site)
        sql = f"SELECT {', '.join(cols)}{rows}{order}"
    else:
        raise ValueError(f"unknown export kind {kind!r}")
    return sql, params, lambda records: [dict(zip(cols, r, strict=True)) for r in records]


# -- exports written by PostgreSQL itself (TextExport in base.py) ----------
#
# Each record is one finished line (as bytes, so nothing is decoded and encoded
# again): the server formats, quotes and escapes, in its own process, while
# this one only joins lines. PostgreSQL's JSON string escapes are Python's
# (\b \f \n \r \t \" \\ and \u00XX in lower case for other control
# characters; nothing else); its text holds no NUL.



def iso_sql(column: str) -> str:
    """``isoformat()`` of a timestamptz, ``Z`` for ``+00:00``: no fraction on a whole second, else six
    digits. asyncpg reads ±infinity as ``datetime.max``/``min``, so those are written too."""
    text = f"""replace(to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), '.000000Z', 'Z')"""
    infinite = (
        f"CASE {column} WHEN 'infinity' THEN '9999-12-31T23:59:59.999999Z' "
        "WHEN '-infinity' THEN '0001-01-01T00:00:00Z' END"
    )
    # Outside years 1-9999 Python's datetime (and so the row export) fails; fail here too rather
    # than write a time no reader could parse (the text cast to integer is that failure).
    outside = f"{column} < '0001-01-01 00:00:00Z' OR {column} >= '10000-01-01 00:00:00Z'"
    return (
        f"CASE WHEN {column} IN ('infinity', '-infinity') THEN {infinite} "
        f"WHEN {outside} THEN ({column}::text::int)::text ELSE {text} END"
    )


def csv_cell_sql(column: str) -> str:
    """The cell ``csv.writer`` writes for ``export.csv_cell(value)``."""
    if column in TIME_COLUMNS:
        return f"coalesce({iso_sql(column)}, '')"
    if column in INTEGER_COLUMNS:
        return f"coalesce({column}::text, '')"
    if column in WORD_COLUMNS:
        return f"coalesce({column}, '')"
    # A cell that could start a formula gets a ' (the rule: formulas.py); quoted (quotes
    # doubled) only with , " CR or LF inside.
    cell = f"CASE WHEN {sql_needs_prefix(column, 'postgresql')} THEN '''' || {column} ELSE {column} END"
    special = " OR ".join(f"strpos({column}, {c}) > 0" for c in ("','", "'\"'", "E'\\r'", "E'\\n'"))
    quoted = f"""'"' || replace({cell}, '"', '""') || '"'"""
    return f"CASE WHEN {column} IS NULL THEN '' WHEN {special} THEN {quoted} ELSE {cell} END"


def json_cell_sql(column: str) -> str:
    if column in TIME_COLUMNS:
        return f"""coalesce('"' || {iso_sql(column)} || '"', 'null')"""
    if column in INTEGER_COLUMNS:
        return f"coalesce({column}::text, 'null')"
    if column in WORD_COLUMNS:
        return f"""coalesce('"' || {column} || '"', 'null')"""
    return f"coalesce(to_json({column})::text, 'null')"


def text_query(
    kind: ExportKind,
    fmt: ExportFormat,
    since: dt.datetime | None,
    until: dt.datetime | None,
    after: int | None,
    high: int | None,
    site: str | None = None,
) -> Query[bytes]:
    """A CSV (headerless) or NDJSON export of votes, events or reasons: one line per record."""
    columns = EXPORT_COLUMNS[kind]
    cell = csv_cell_sql if fmt == "csv" else json_cell_sql
    cells = {c: cell(c) for c in columns}
    rows, order, params = _source(kind, since, until, after, high, site)
    if "created_at" in cells:  # most votes never change: their one time is formatted once
        cells["updated_at"] = f"CASE WHEN updated_at = created_at THEN created ELSE {cells['updated_at']} END"
        rows = f" FROM (SELECT {', '.join(columns)}, {cells['created_at']} AS created{rows}{order} OFFSET 0) v"
        cells["created_at"] = "created"
    if fmt == "csv":
        line = " || ',' || ".join(cells.values()) + " || E'\\r\\n'"
    else:
        line = " || ".join(f"""'{"{" if i == 0 else ","}"{c}":' || {cells[c]}""" for i, c in enumerate(columns))
        line += " || E'}\\n'"
    # The outer ORDER BY costs nothing (the plan keeps the subquery's order) and makes it certain.
    return f"SELECT textsend({line}){rows}{order}", params, lambda records: b"".join([r[0] for r in records])
