"""Exports: row sources and encoding to CSV or NDJSON bytes (Parquet: export_parquet.py).

What is asked for is parsed in :mod:`.export_query` (re-exported here). The same
functions serve ``GET /api/v1/export`` and ``feedbackwidget export``, so both
produce identical bytes. Rows arrive in batches from the store and
leave as one chunk per batch: memory stays flat however long the history is.

:func:`encoded` is what both call. For the long kinds (votes, events,
reasons) a store that can (:class:`~.store.base.TextExport`) writes the lines
itself, in SQL, which is several times faster than encoding each cell here;
the encoders below remain the definition those lines must equal byte for byte
(tests/store/test_export_fast.py), and serve the short kinds.

CSV is RFC 4180 (CRLF line ends, quotes doubled) and neutralises spreadsheet
formulas: a text cell that could start one (``= + - @`` after any blanks, or a
leading tab or CR; the rule is :mod:`.formulas`) gets a leading ``'``. Apart
from that prefix, a CSV cell is the NDJSON value written as text
(``null`` as an empty cell).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from .export_query import (
    ALL_SITES,
    FORMATS,
    KINDS,
    MEDIA_TYPES,
    ExportQuery,
    about_filter,
    columns,
    parquet_encoder,
    parse_time,
    parse_tz,
)
from .formulas import needs_prefix
from .sentiment import share_up, wilson_lower
from .store import site_keys
from .store.base import TEXT_KINDS, LocalDailyText, Row, Store, TextExport
from .store.rollups import local_day_list, local_days
from .types import ExportFormat, ExportKind

__all__ = [
    "ALL_SITES", "BATCH_ROWS", "FORMATS", "KINDS", "MEDIA_TYPES", "ExportQuery", "about_filter", "columns",
    "complete", "csv_cell", "csv_header", "daily_from_events", "encode_csv", "encode_daily", "encode_ndjson",
    "encoded", "parquet_encoder", "parse_time", "parse_tz", "rows", "stream",
]

#: Rows per batch when this module builds batches itself (``daily`` in a time zone).
BATCH_ROWS = 1000


# -- row sources -------------------------------------------------------------------------

def rows(store: Store, query: ExportQuery) -> AsyncIterator[Sequence[Row]]:
    """The batches of rows ``query`` asks for.

    ``daily`` in a time zone other than UTC is regrouped from the store's hour
    rollups into local days (votes cast or changed to each value, counted on the
    local day; store/rollups.py); everything else comes straight from the store.
    """
    if tz := _local_tz(query):
        return local_days(store, tz, query.since, query.until, BATCH_ROWS)
    if query.kind == "articles":  # with what each article is about (section, authors, tags …)
        return store.export_articles(query.since, query.until, query.about)
    return store.export(query.kind, since=query.since, until=query.until, after=query.after)


def _local_tz(query: ExportQuery) -> ZoneInfo | None:
    """The time zone other than UTC that a ``kind=daily`` query counts days in (from the hour rollups), if any."""
    if query.kind != "daily" or query.tz is None or query.tz.key in ("UTC", "Etc/UTC"):
        return None
    return query.tz


def _as_datetime(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if not isinstance(value, dt.datetime):
        raise TypeError(f"expected a datetime, got {type(value).__name__}")
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


async def daily_from_events(
    events: AsyncIterator[Sequence[Row]], tz: dt.tzinfo, batch_rows: int = BATCH_ROWS
) -> AsyncIterator[Sequence[Row]]:
    """Rows ``day, article_id, up, down`` per local day in ``tz``, from event batches.

    Memory grows with the number of (day, article) pairs, not with the events.
    """
    counts: Counter[tuple[dt.date, str, str]] = Counter()
    async for batch in events:
        for event in batch:
            action, vote = event.get("action"), event.get("vote")
            if action not in ("cast", "change") or vote not in ("up", "down"):
                continue
            day = _as_datetime(event["at"]).astimezone(tz).date()
            counts[(day, str(event["article_id"]), str(vote))] += 1
    keys = sorted({(day, article) for day, article, _ in counts})
    out: list[Row] = []
    for day, article in keys:
        out.append({"day": day, "article_id": article,
                    "up": counts[(day, article, "up")], "down": counts[(day, article, "down")]})
        if len(out) >= batch_rows:
            yield out
            out = []
    if out:
        yield out


# -- encoding ----------------------------------------------------------------------------

def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


def csv_cell(value: Any) -> Any:
    """One value as written to CSV: ISO times, empty for null, formulas neutralised."""
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, list | tuple):  # authors, tags: the NDJSON array, as text
        value = json.dumps(list(value), ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, str) and needs_prefix(value):
        return "'" + value
    return value


def complete(kind: ExportKind, row: Row) -> Row:
    """Add the derived columns a kind exports (share and Wilson bound for articles)."""
    if kind == "articles":
        up, down = int(row["up"]), int(row["down"])
        row = {
            **row,
            "total": up + down,
            "share_up": share_up(up, down),
            "wilson_lower": wilson_lower(up, up + down),
        }
    return row


def csv_header(kind: ExportKind, site: bool = False) -> bytes:
    return (",".join(columns(kind, site)) + "\r\n").encode()


def encode_csv(
    kind: ExportKind, batches: Iterable[Sequence[Row]], header: bool = True, site: bool = False
) -> Iterable[bytes]:
    """CSV bytes, one chunk per non-empty batch (after the header, when asked for); ``site``:
    with the rows' ``site`` as a last column."""
    names = columns(kind, site)
    if header:
        yield csv_header(kind, site)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for batch in batches:
        for row in batch:
            full = complete(kind, row)
            writer.writerow([csv_cell(full.get(c)) for c in names])
        if buffer.tell():
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()


def encode_ndjson(kind: ExportKind, batch: Sequence[Row], site: bool = False) -> bytes:
    """NDJSON bytes for one batch: one object per line, columns in contract order (``site`` last)."""
    names = columns(kind, site)
    lines = []
    for row in batch:
        full = complete(kind, row)
        lines.append(json.dumps({c: _plain(full.get(c)) for c in names},
                                ensure_ascii=False, separators=(",", ":")))
    return ("\n".join(lines) + "\n").encode() if lines else b""


async def stream(
    kind: ExportKind, fmt: ExportFormat, batches: AsyncIterator[Sequence[Row]]
) -> AsyncIterator[bytes]:
    """Encode an async stream of row batches, one chunk per batch (the reference encoder)."""
    if fmt == "csv":
        yield csv_header(kind)
    async for chunk in _body(kind, fmt, batches):
        yield chunk


async def _body(
    kind: ExportKind, fmt: ExportFormat, batches: AsyncIterator[Sequence[Row]], site: bool = False
) -> AsyncIterator[bytes]:
    async for batch in batches:
        chunk = (b"".join(encode_csv(kind, [batch], header=False, site=site)) if fmt == "csv"
                 else encode_ndjson(kind, batch, site))
        if chunk:
            yield chunk


async def _stamped(batches: AsyncIterator[Sequence[Row]], site: str) -> AsyncIterator[Sequence[Row]]:
    """Rows with their site: ``site``, or (:data:`ALL_SITES`) the one each row's store key names."""
    async for batch in batches:
        if site == ALL_SITES:
            yield [{**row, **dict(zip(("site", "article_id"), site_keys.split(row["article_id"]), strict=True))}
                   for row in batch]
        else:
            yield [{**row, "site": site} for row in batch]


_CSV_QUOTED = re.compile('[,"\r\n]')  # what makes csv.writer quote a cell


def encode_daily(fmt: ExportFormat, batch: Sequence[Row]) -> bytes:
    """``kind=daily`` lines, byte for byte what ``encode_csv``/``encode_ndjson`` write for the same
    rows (tests/test_export_daily.py), at a fraction of the cost: only ``article_id`` is text,
    and rows of one day share its text."""
    lines = []
    last_day, day = None, ""
    for row in batch:
        if row["day"] is not last_day:
            last_day = row["day"]
            day = _plain(last_day)
        article = row["article_id"]
        if fmt == "csv":
            if needs_prefix(article):
                article = "'" + article
            if _CSV_QUOTED.search(article):
                article = '"' + article.replace('"', '""') + '"'
            lines.append("%s,%s,%d,%d\r\n" % (day, article, row["up"], row["down"]))  # noqa: UP031
        else:
            article = json.dumps(article, ensure_ascii=False)
            lines.append('{"day":"%s","article_id":%s,"up":%d,"down":%d}\n' % (day, article, row["up"], row["down"]))  # noqa: UP031
    return "".join(lines).encode()


async def _daily_lines(fmt: ExportFormat, batches: AsyncIterator[Sequence[Row]]) -> AsyncIterator[bytes]:
    async for batch in batches:
        if batch:
            yield encode_daily(fmt, batch)


async def _local_lines(store: Store, query: ExportQuery, tz: ZoneInfo) -> AsyncIterator[bytes]:
    """``kind=daily`` in a time zone: its lines written by the store where it can (LocalDailyText)."""
    days = await local_day_list(store, tz, query.since, query.until)
    if not days:
        return
    text = store.local_daily_text(days, query.format, BATCH_ROWS) if isinstance(store, LocalDailyText) else None
    if text is None:
        text = _daily_lines(query.format, store.local_daily(days, BATCH_ROWS))
    async for chunk in text:
        yield chunk


def _lines(store: Store, query: ExportQuery) -> AsyncIterator[bytes]:
    """The export without its header: written by the store when it can (TextExport), else encoded here."""
    if query.site is not None:  # the general encoders, with the site column
        return _body(query.kind, query.format, _stamped(rows(store, query), query.site), site=True)
    if tz := _local_tz(query):
        return _local_lines(store, query, tz)
    if query.kind == "daily":
        return _daily_lines(query.format, rows(store, query))
    if query.kind in TEXT_KINDS and isinstance(store, TextExport):
        text = store.export_text(query.kind, query.format, since=query.since, until=query.until, after=query.after)
        if text is not None:
            return text
    return _body(query.kind, query.format, rows(store, query))


async def _completed(kind: ExportKind, batches: AsyncIterator[Sequence[Row]]) -> AsyncIterator[Sequence[Row]]:
    async for batch in batches:
        yield [complete(kind, row) for row in batch] if kind == "articles" else batch


async def encoded(store: Store, query: ExportQuery) -> AsyncIterator[bytes]:
    """The bytes of an export, exactly :func:`stream` of :func:`rows`, one chunk per batch
    (Parquet: one chunk per row group, see export_parquet.py).

    The CSV header travels with the first batch, so the first chunk comes only
    once the store has answered: the web layer can still answer 503 when it does not.
    """
    if query.format == "parquet":
        batches = _completed(query.kind, rows(store, query))
        if query.site is not None:
            batches = _stamped(batches, query.site)
        async for chunk in parquet_encoder().encode(query.kind, batches, site=query.site is not None):
            yield chunk
        return
    header = csv_header(query.kind, query.site is not None) if query.format == "csv" else b""
    async for chunk in _lines(store, query):
        yield header + chunk if header else chunk
        header = b""
    if header:
        yield header
