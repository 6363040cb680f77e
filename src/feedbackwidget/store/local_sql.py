"""SQL both stores use for the daily export in a time zone: local days counted from the hour
rollup in one query per few weeks, instead of one query per day.

The days' UTC bounds come from Python (``rollups.local_day_ranges``: zoneinfo knows the time
zones; SQLite knows none, and PostgreSQL's would have to agree with Python's to the hour).
The query joins them to the hour rollup (each day's whole hours: a primary-key range) and to
the events (the parts of hours that a local midnight or the range's ends cut: a time-index
range), and groups by day and article. A database sorts what such a query returns before its
first row, so the days go in chunks of :data:`CHUNK_DAYS` read in one snapshot: the first row
comes once a few weeks are counted, not the whole range, and each sort stays that size.

Each query gives rows (``fmt`` None) or, for an export without a site column, its CSV or
NDJSON lines written by the database, byte for byte what ``export.encode_daily`` writes for
those rows (tests/store/test_local_days.py): that spares ~1.5 µs of Python a row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any

from ..formulas import sql_needs_prefix
from ..types import ExportFormat
from .base import LocalDay, Row
from .pg_queries import csv_cell_sql, json_cell_sql
from .rollups import HOUR, unit_number
from .site_sql import numbered, site_where
from .sqlite_sql import csv_lines, ndjson_lines, to_us

#: Local days per query at most: a month of a mid-size site's rows (~85,000 at 20,000 articles).
CHUNK_DAYS = 32
#: Votes per query at most (a day's votes bound its rows): a bigger site's month would pass
#: PostgreSQL's work_mem (~390,000 rows at 100,000 articles, ~45 MB) and sort on disk; ~100,000
#: rows sort in memory in ~0.1 s. A day with more votes than this is a query of its own.
CHUNK_VOTES = 100_000
_COLUMNS = ("day", "article_id", "up", "down")
_TEMPLATE = b'{"day":"%s","article_id":"%s","up":%s,"down":%s}'
_EMPTY = "SELECT 0, 0, 0 WHERE 0"  # SQLite: VALUES cannot be empty

#: For the transaction of a PostgreSQL export in a time zone. A range join's row estimate is
#: the whole table's (millions, where a chunk reads ~85,000 rows at 20,000 articles), which
#: makes the planner compile the query (JIT: ~0.25 s a query), hash and spill to disk, and
#: start parallel workers; sorting the chunk in memory and grouping it in order is faster.
POSTGRES_LOCAL = (
    "SET LOCAL jit = off; SET LOCAL work_mem = '32MB'; SET LOCAL max_parallel_workers_per_gather = 0; "
    "SET LOCAL enable_hashagg = off"
)

Encoder = Callable[[list[Any]], Any]


def chunks(days: Sequence[LocalDay], size: int = CHUNK_DAYS, votes: int = CHUNK_VOTES) -> Iterator[
    Sequence[LocalDay]
]:
    """``days`` in consecutive slices of at most ``size`` days and ``votes`` votes (``LocalDay.votes``),
    each of at least one day."""
    start, total = 0, 0
    for n, day in enumerate(days):
        if n > start and (n - start == size or total + day.votes > votes):
            yield days[start:n]
            start, total = n, 0
        total += day.votes
    if start < len(days):
        yield days[start:]


# -- SQLite ------------------------------------------------------------------------------------

def sqlite_cells(fmt: ExportFormat | None) -> tuple[str, Encoder]:
    """The select list and batch encoder: rows, or (``fmt``) lines as ``export.encode_daily`` writes them."""
    if fmt is None:
        return "day, article_id, SUM(up), SUM(down)", sqlite_rows
    article = "article_id"
    if fmt == "csv":  # a cell that could start a formula gets a ' (formulas.py); csv_lines quotes
        prefix = sql_needs_prefix("article_id", "sqlite")
        article = f"CASE WHEN {prefix} THEN '''' || article_id ELSE article_id END"
    cells = f"CAST(day AS BLOB), CAST({article} AS BLOB), CAST(SUM(up) AS BLOB), CAST(SUM(down) AS BLOB)"
    if fmt == "csv":
        return cells, partial(csv_lines, 4)
    bare = [True, True, False, False]  # day and article id: strings the template quotes
    return cells, partial(ndjson_lines, _COLUMNS, bare, _TEMPLATE, integers=frozenset({"up", "down"}))


def sqlite_query(days: Sequence[LocalDay], site: str | None, fmt: ExportFormat | None = None) -> tuple[
    str, list[str], Encoder
]:
    """SQLite: the rows ``day, article_id, up, down`` of ``days`` by day then article, and how to turn
    a batch of them into export rows (``fmt`` None) or CSV / NDJSON bytes. The days' bounds are
    written into the statement as literals (computed here, never user text): no limit on bound
    parameters however many days. A day is its ISO text, which sorts as the dates do."""
    hours = ",".join(
        f"('{d.day.isoformat()}',{unit_number(d.first, HOUR)},{unit_number(d.last, HOUR)})"
        for d in days if d.first < d.last
    )
    parts = ",".join(f"('{d.day.isoformat()}',{to_us(s)},{to_us(u)})" for d in days for s, u in d.parts)
    where, params = site_where("sqlite", "article_id", site, numbered(1, lambda n: f"?{n}"))
    cond = "".join(f" AND {c}" for c in where)
    cells, encode = sqlite_cells(fmt)
    sql = f"""
WITH h(day, h0, h1) AS ({f"VALUES {hours}" if hours else _EMPTY}),
     p(day, s, e) AS ({f"VALUES {parts}" if parts else _EMPTY})
SELECT {cells} FROM (
    SELECT h.day AS day, article_id, up, down FROM h JOIN hourly_rollup ON hour >= h.h0 AND hour < h.h1{cond}
    UNION ALL
    SELECT p.day, article_id, vote = 'up', vote = 'down' FROM p JOIN events
    ON at >= p.s AND at < p.e AND action IN ('cast', 'change'){cond}
) GROUP BY day, article_id HAVING SUM(up) + SUM(down) > 0 ORDER BY day, article_id
"""
    return sql, params, encode


def sqlite_rows(rows: list[tuple[Any, ...]]) -> list[Row]:
    """Rows of :func:`sqlite_query` as export rows; a day's rows share its ``date`` (export.encode_daily
    writes a day's text once per day)."""
    out: list[Row] = []
    text, day = None, dt.date.min
    for iso, article_id, up, down in rows:
        if iso != text:
            text, day = iso, dt.date.fromisoformat(iso)
        out.append({"day": day, "article_id": article_id, "up": up, "down": down})
    return out


# -- PostgreSQL --------------------------------------------------------------------------------

def _postgres_cells(fmt: ExportFormat | None) -> str:
    day = "to_char(day, 'YYYY-MM-DD')"
    if fmt == "csv":
        article = csv_cell_sql("article_id")
        return f"textsend({day} || ',' || {article} || ',' || sum(up) || ',' || sum(down) || E'\\r\\n')"
    if fmt == "ndjson":
        return (f"""textsend('{{"day":"' || {day} || '","article_id":' || {json_cell_sql('article_id')} """
                f"""|| ',"up":' || sum(up) || ',"down":' || sum(down) || E'}}\\n')""")
    return "day, article_id, sum(up), sum(down)"


def postgres_sql(days: Sequence[LocalDay], site: str | None, fmt: ExportFormat | None = None) -> tuple[
    str, list[Any]
]:
    """PostgreSQL: rows ``day, article_id, up, down`` of ``days``, by day then article (with ``fmt``:
    each row's CSV or NDJSON line as bytes, as ``export.encode_daily`` writes it); the bounds are six
    array parameters (whole hours ``$1-$3``, parts of hours ``$4-$6``), the site's from ``$7``. An
    hour's rollup counts are read as ``int`` (fewer than 2^31 votes an hour), so that their sums are
    ``bigint``, not ``numeric``."""
    whole = [d for d in days if d.first < d.last]
    parts = [(d.day, s, u) for d in days for s, u in d.parts]
    where, site_params = site_where("postgres", "article_id", site, numbered(7))
    cond = "".join(f" AND {c}" for c in where)
    sql = f"""
WITH h AS (SELECT * FROM unnest($1::date[], $2::timestamptz[], $3::timestamptz[]) AS h(day, h0, h1)),
     p AS (SELECT * FROM unnest($4::date[], $5::timestamptz[], $6::timestamptz[]) AS p(day, s, e))
SELECT {_postgres_cells(fmt)} FROM (
    SELECT h.day, article_id, up::int AS up, down::int AS down FROM h
    JOIN fw_hourly ON hour >= h.h0 AND hour < h.h1{cond}
    UNION ALL
    SELECT p.day, article_id, (vote = 'up')::int, (vote = 'down')::int FROM p JOIN fw_events
    ON at >= p.s AND at < p.e AND action IN ('cast', 'change'){cond}
) u GROUP BY day, article_id HAVING sum(up) + sum(down) > 0 ORDER BY day, article_id
"""
    params: list[Any] = [
        [d.day for d in whole], [d.first for d in whole], [d.last for d in whole],
        [p[0] for p in parts], [p[1] for p in parts], [p[2] for p in parts], *site_params,
    ]
    return sql, params


def postgres_rows(records: list[Any]) -> list[Row]:
    return [{"day": r[0], "article_id": r[1], "up": r[2], "down": r[3]} for r in records]


def postgres_lines(records: list[Any]) -> bytes:
    return b"".join([r[0] for r in records])
