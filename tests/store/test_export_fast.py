"""Exports written by the database (``TextExport``) equal, byte for byte, what the
reference encoders in ``export.py`` make of the same rows: on every backend, for
both formats, for the nastiest strings, times and filters, across batch edges.

Rows go straight into the tables, so values the API would refuse (control
characters, NUL on SQLite, empty ids) are covered too: the encoders must be
right for any string a table can hold.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedbackwidget import export
from feedbackwidget.errors import StoreUnavailable
from feedbackwidget.export import ExportQuery
from feedbackwidget.store import pg_export as pg_store
from feedbackwidget.store import sqlite as sqlite_store
from feedbackwidget.store.base import TEXT_KINDS, TextExport
from feedbackwidget.store.sqlite_sql import to_us
from feedbackwidget.types import Cast, ExportFormat, ExportKind

from ..test_formulas import CELLS
from .backends import Backend

FORMATS: tuple[ExportFormat, ...] = ("csv", "ndjson")
#: Everything CSV quoting, formula neutralising or JSON escaping reacts to, and a few that must pass untouched.
NASTY = [
    "", ",", '"', '""', "\r", "\n", "\r\n", "=", "+", "-", "@", "\t", "'", "\\", "\\\\", "\\u0000", "/",
    "\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f", "\x80", "\u2028", "\u2029", "\ufeff",
    "é", "€", "😀", "null", ":null", '":null', "{}", "[", "%s", "%", "=1+1", "-5", "@home", " lead", "trail ",
    '=HYPERLINK("http://x")', 'a,"b"\r\nc',
    *(cell for cell, _ in CELLS),  # the formula prefix's table: blanks before formula characters
]
TIMES = [
    dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    dt.datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=dt.UTC),
    dt.datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
    dt.datetime(2026, 3, 29, 1, 0, 0, 500000, tzinfo=dt.UTC),
    dt.datetime(1970, 1, 1, tzinfo=dt.UTC),
    dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
    dt.datetime(1900, 2, 28, 12, 0, 0, 1, tzinfo=dt.UTC),
    dt.datetime(2038, 1, 19, 3, 14, 8, tzinfo=dt.UTC),
    dt.datetime(1, 1, 1, tzinfo=dt.UTC),
    dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
]


def texts(nul: bool) -> st.SearchStrategy[str]:
    """Any text a table can hold: PostgreSQL text cannot hold NUL; SQLite's can."""
    chars = st.characters(codec="utf-8", exclude_characters=None if nul else "\x00")
    nasty = [s for s in NASTY if nul or "\x00" not in s]
    return st.lists(st.one_of(st.sampled_from(nasty), st.text(chars, max_size=4)), max_size=5).map("".join)


times = st.one_of(
    st.sampled_from(TIMES),
    st.datetimes(dt.datetime(2020, 1, 1), dt.datetime(2030, 1, 1), timezones=st.just(dt.UTC)),
    st.datetimes(dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31), timezones=st.just(dt.UTC)),
)


class Tables:
    """Rows written straight into a backend's tables (set-up only, bypassing the store)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.conn: Any = None

    async def open(self) -> None:
        if self.backend.name == "sqlite":
            self.conn = sqlite3.connect(self.backend.url.removeprefix("sqlite:///"), isolation_level=None)
        else:
            import asyncpg

            self.conn = await asyncpg.connect(self.backend.url)

    async def close(self) -> None:
        await self.conn.close() if self.backend.name == "postgres" else self.conn.close()

    async def replace(self, votes: list[tuple[Any, ...]], events: list[tuple[Any, ...]]) -> list[int]:
        """Empty both tables, then add ``votes`` (article_id, voter, vote, created_at, updated_at,
        article_version, reason, reason_text) and ``events`` (at, article_id, voter, action, vote,
        article_version); returns the event ids."""
        vote_cols = "article_id, voter, vote, created_at, updated_at, article_version, reason, reason_text"
        event_cols = "at, article_id, voter, action, vote, article_version"
        if self.backend.name == "sqlite":
            c = self.conn
            c.execute("BEGIN")
            c.execute("DELETE FROM votes")
            c.execute("DELETE FROM events")
            c.executemany(f"INSERT INTO votes ({vote_cols}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                          [(*v[:3], to_us(v[3]), to_us(v[4]), *v[5:]) for v in votes])
            c.executemany(f"INSERT INTO events ({event_cols}) VALUES (?, ?, ?, ?, ?, ?)",
                          [(to_us(e[0]), *e[1:]) for e in events])
            c.execute("COMMIT")
            return [r[0] for r in c.execute("SELECT event_id FROM events ORDER BY event_id")]
        async with self.conn.transaction():
            await self.conn.execute("DELETE FROM fw_votes; DELETE FROM fw_events")
            await self.conn.executemany(f"INSERT INTO fw_votes ({vote_cols}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                                        votes)
            await self.conn.executemany(f"INSERT INTO fw_events ({event_cols}) VALUES ($1, $2, $3, $4, $5, $6)",
                                        events)
        return [r[0] for r in await self.conn.fetch("SELECT event_id FROM fw_events ORDER BY event_id")]


async def fast(store: Any, kind: ExportKind, fmt: ExportFormat, **filters: Any) -> bytes:
    assert isinstance(store, TextExport)
    lines = store.export_text(kind, fmt, **filters)
    assert lines is not None, f"{type(store).__name__} does not write {kind} as {fmt} itself"
    return b"".join([chunk async for chunk in lines])


async def reference(store: Any, kind: ExportKind, fmt: ExportFormat, **filters: Any) -> bytes:
    """What the Python encoders make of the store's rows (without the CSV header)."""
    query = ExportQuery(kind, fmt, **filters)
    chunks = [chunk async for chunk in export.stream(kind, fmt, export.rows(store, query))]
    if fmt == "csv":
        assert chunks[0] == export.csv_header(kind)
        chunks = chunks[1:]
    return b"".join(chunks)


async def agree(store: Any, kind: ExportKind, **filters: Any) -> dict[str, bytes]:
    got: dict[str, bytes] = {}
    for fmt in FORMATS:
        expected = await reference(store, kind, fmt, **filters)
        assert await fast(store, kind, fmt, **filters) == expected, (kind, fmt, filters)
        got[fmt] = expected
    return got


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of three rows, so one export mixes batches that need quoting with ones that do not."""
    monkeypatch.setattr(sqlite_store, "_EXPORT_BATCH", 3)
    monkeypatch.setattr(sqlite_store, "_TEXT_BATCH", 3)
    monkeypatch.setattr(pg_store, "_EXPORT_BATCH", 3)


@pytest.fixture
def opened(backend: Backend, small_batches: None) -> Iterator[tuple[asyncio.Runner, Any, Tables]]:
    """An open store and its tables, on one event loop that a hypothesis test can run examples on."""
    with asyncio.Runner() as runner:
        store = backend.make()
        tables = Tables(backend)
        runner.run(store.open())
        runner.run(tables.open())
        try:
            yield runner, store, tables
        finally:
            runner.run(tables.close())
            runner.run(store.close())


def vote_rows(nul: bool) -> st.SearchStrategy[list[tuple[Any, ...]]]:
    text = texts(nul)
    row = st.tuples(
        text, text, st.sampled_from(["up", "down"]), times, times, st.none() | text,
        st.none() | text, st.none() | text,
    )
    return st.lists(row, max_size=12, unique_by=lambda r: (r[0], r[1]))


def event_rows(nul: bool) -> st.SearchStrategy[list[tuple[Any, ...]]]:
    text = texts(nul)
    row = st.tuples(
        times, text, text, st.sampled_from(["cast", "change", "withdraw", "erase"]),
        st.none() | st.sampled_from(["up", "down"]), st.none() | text,
    )
    return st.lists(row, max_size=12)


@pytest.mark.parametrize("kind", TEXT_KINDS)
def test_database_lines_equal_the_python_encoders(
    opened: tuple[asyncio.Runner, Any, Tables], backend: Backend, kind: ExportKind
) -> None:
    runner, store, tables = opened
    nul = backend.name == "sqlite"

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(votes=vote_rows(nul), events=event_rows(nul), data=st.data())
    def check(votes: list[tuple[Any, ...]], events: list[tuple[Any, ...]], data: st.DataObject) -> None:
        ids = runner.run(tables.replace(votes, events))
        stamps = [e[0] for e in events] if kind == "events" else [v[4] for v in votes]
        since = data.draw(st.none() | st.sampled_from(stamps) if stamps else st.none(), "since")
        until = data.draw(st.none() | st.sampled_from(stamps) if stamps else st.none(), "until")
        after = data.draw(st.none() | st.sampled_from([0, *ids]), "after") if kind == "events" else None
        everything = runner.run(agree(store, kind))
        runner.run(agree(store, kind, since=since, until=until, after=after))
        wanted = len(events) if kind == "events" else len([v for v in votes if kind == "votes" or v[6] is not None])
        assert everything["ndjson"].count(b"\n") == wanted  # all rows came out, one line each

    check()


@pytest.mark.parametrize("kind", TEXT_KINDS)
@pytest.mark.anyio
async def test_every_nasty_value_in_every_column(backend: Backend, store: Any, kind: ExportKind) -> None:
    """Each nasty string (and NULL) in each text column, with times on and off the second."""
    nasty = [s for s in NASTY if backend.name == "sqlite" or "\x00" not in s]
    values: list[str | None] = [*nasty, None]
    tables = Tables(backend)
    await tables.open()
    try:
        votes: list[tuple[Any, ...]] = []
        events: list[tuple[Any, ...]] = []
        for i, value in enumerate(values):
            stamp, later = TIMES[i % len(TIMES)], TIMES[(i + 3) % len(TIMES)]
            votes.append((value or "", f"v{i}", "up", stamp, later, value, value or "r", value))
            votes.append((f"a{i}", value or "", "down", later, stamp, None, value, None))
            events.append((stamp, value or "", value or "", "erase", None if value is None else "up", value))
        await tables.replace(votes, events)
    finally:
        await tables.close()
    got = await agree(store, kind)
    rows = events if kind == "events" else [v for v in votes if kind == "votes" or v[6] is not None]
    assert got["ndjson"].count(b"\n") == len(rows)


@pytest.mark.anyio
async def test_exports_start_with_the_header_and_the_first_batch(store: Any) -> None:
    """``encoded`` is the header plus the store's own lines for the long kinds, and the
    reference encoding for the others: every format and kind gives the bytes of ``stream``."""
    for i in range(5):
        await store.cast(Cast(f"=a{i % 2}", f"v{i}", "up" if i % 3 else "down", TIMES[i], version="r,1", title='t"'))
    assert await store.set_reason("=a0", "v0", "unclear", '@"why",\r\n', TIMES[6])
    for kind in export.KINDS:
        for fmt in FORMATS:
            query = ExportQuery(kind, fmt)
            chunks = [c async for c in export.encoded(store, query)]
            expected = b"".join([c async for c in export.stream(query.kind, fmt, export.rows(store, query))])
            assert b"".join(chunks) == expected, (kind, fmt)
            if fmt == "csv":
                assert chunks[0].startswith(export.csv_header(query.kind))


@pytest.mark.anyio
async def test_a_store_that_does_not_answer_fails_before_the_header(backend: Backend) -> None:
    """The first chunk waits for the store, so the web layer can still answer 503 with JSON."""
    store = backend.make()  # never opened: every query raises StoreUnavailable
    for kind in export.KINDS:
        chunks = export.encoded(store, ExportQuery(kind, "csv"))
        with pytest.raises(StoreUnavailable):
            await anext(chunks)


def test_clean_batches_are_only_joined(monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite's batches without anything to quote or escape never reach csv/json (that is the speed)."""
    from feedbackwidget.store import sqlite_sql

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a clean batch was encoded cell by cell")

    monkeypatch.setattr(csv, "writer", refuse)
    monkeypatch.setattr(json, "dumps", refuse)
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE votes (article_id, voter, vote, created_at, updated_at, article_version)")
    conn.executemany("INSERT INTO votes VALUES (?, ?, ?, ?, ?, ?)", [
        ("a/1?x=é", "v1", "up", 0, 1, None), ("a 2", "v2", "down", 10**15, 10**15 + 7, "r 9"),
    ])
    for fmt in FORMATS:
        sql, params, encode = sqlite_sql.text_query("votes", fmt, None, None, None)
        assert encode(conn.execute(sql, params).fetchall()).count(b"\n") == 2


# -- values only something else than this store could have written (SQLite) ----------------


def _sqlite_store(path: str) -> sqlite_store.SQLiteStore:
    return sqlite_store.SQLiteStore(path)


async def _both(store: Any, fmt: ExportFormat) -> tuple[BaseException | bytes, BaseException | bytes]:
    """What the database-written and the reference export make of the store: bytes or the error."""
    results: list[BaseException | bytes] = []
    for make in (fast, reference):
        try:
            results.append(await make(store, "votes", fmt))
        except Exception as exc:
            results.append(exc)
    return results[0], results[1]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "column, raw",
    [
        ("article_id", "CAST(x'61ff' AS TEXT)"),  # not UTF-8
        ("voter", "CAST(x'eda080' AS TEXT)"),  # a lone surrogate, as CESU-8
        ("created_at", "-62135596800000001"),  # a microsecond before the year 1
        ("updated_at", "253402300800000000"),  # the year 10000
    ],
)
def test_a_value_no_export_can_write_is_503_on_both_paths(
    tmp_path: Any, column: str, raw: str, fmt: ExportFormat
) -> None:
    path = str(tmp_path / "votes.db")
    values = {"article_id": "'a'", "voter": "'v'", "vote": "'up'", "created_at": "0", "updated_at": "0"}
    values[column] = raw

    async def run() -> tuple[BaseException | bytes, BaseException | bytes]:
        store = _sqlite_store(path)
        await store.open()
        try:
            conn = sqlite3.connect(path, isolation_level=None)
            conn.execute(f"INSERT INTO votes ({', '.join(values)}) VALUES ({', '.join(values.values())})")
            conn.close()
            return await _both(store, fmt)
        finally:
            await store.close()

    got, expected = asyncio.run(run())
    assert isinstance(expected, StoreUnavailable), expected
    assert isinstance(got, StoreUnavailable), got


def test_a_utf16_file_is_exported_through_the_python_encoders(tmp_path: Any) -> None:
    path = str(tmp_path / "votes.db")
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA encoding = 'UTF-16le'")
    conn.execute("CREATE TABLE made_elsewhere (x)")  # the encoding is fixed by the first table
    conn.close()

    async def run() -> tuple[Any, bytes]:
        store = _sqlite_store(path)
        await store.open()
        try:
            await store.cast(Cast("ab", "v1", "up", dt.datetime(2026, 1, 1, tzinfo=dt.UTC)))
            text = store.export_text("votes", "csv")
            return text, await reference(store, "votes", "csv")
        finally:
            await store.close()

    text, expected = asyncio.run(run())
    assert text is None  # SQLite would hand over UTF-16 bytes: the store does not offer them
    assert expected.startswith(b"ab,up,v1,2026-01-01T00:00:00Z")
