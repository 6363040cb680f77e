"""Parquet exports: every kind, from both stores, loaded by DuckDB and by pandas, equal to the CSV export.

The history is written through the store's own operations (casts, changes,
withdrawals, reasons, titles that need quoting or look like formulas). Each
kind is exported as CSV and as Parquet; the Parquet file is read by DuckDB and
by pandas, each value written out as the CSV contract writes it, and the rows
compared with the CSV export's, in order. The column types are checked as
each reader reports them. Then: the encoder writes row groups while rows
still arrive (bounded memory), the HTTP export and the CLI give the same
bytes, and a server without pyarrow refuses ``format=parquet`` in one
contract error.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import math
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from feedbackwidget import cli, export
from feedbackwidget.export import ExportQuery
from feedbackwidget.formulas import needs_prefix
from feedbackwidget.store.base import EXPORT_COLUMNS, Row
from feedbackwidget.types import EXPORT_KINDS, About, Cast

from .helpers import EXPORT_TOKEN, SECRET
from .pgtools import fresh_database
from .processes import ServeProcess
from .store.backends import Backend

duckdb = pytest.importorskip("duckdb", reason="the test extra installs duckdb")
pd = pytest.importorskip("pandas", reason="the test extra installs pandas")
pq = pytest.importorskip("pyarrow.parquet", reason="the parquet extra installs pyarrow")

T0 = dt.datetime(2026, 3, 28, 22, 30, 0, 123456, tzinfo=dt.UTC)  # a DST change in Europe on the way
TITLES = ["Plain", "=HYPERLINK(\"x\")", 'Comma, "quoted"', "naïve ✓ 記事", "two\nlines", None]
TEXTS = ["too long", "+1 for the photos", "", "tab\there", "-", None, " =cmd", "\u200b@x"]
#: Each query below, plus daily counted in a time zone (computed from events in Python).
QUERIES = [ExportQuery(kind=kind) for kind in EXPORT_KINDS] + [
    ExportQuery(kind="daily", tz=ZoneInfo("Europe/Paris")),
    ExportQuery(kind="events", after=40, since=T0 + dt.timedelta(hours=3)),
]


def csv_text(value: Any) -> str:
    """A value as the CSV contract writes it (docs/analytics.md), from what a reader loaded."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        assert value.tzinfo is not None, "a time without its zone"
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):  # authors, tags: the CSV cell is the NDJSON array as text
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, str):
        return "'" + value if needs_prefix(value) else value
    return str(value)


async def fill(store: Any) -> None:
    """A varied history: 120 readers over 8 articles; changes, withdrawals, reasons with texts."""
    for n in range(120):
        article, voter = f"art-{n % 8}", f"voter-{n:03d}"
        at = T0 + dt.timedelta(minutes=7 * n, microseconds=n)
        first = "down" if n % 3 else "up"
        await store.cast(Cast(article, voter, first, at, version="v2" if n % 4 == 0 else None,
                              title=TITLES[n % len(TITLES)], title_trusted=n < 8))
        if n % 5 == 0:
            await store.cast(Cast(article, voter, "up" if first == "down" else "down", at + dt.timedelta(hours=2)))
        if n % 7 == 0:
            await store.withdraw(article, voter, at + dt.timedelta(hours=3))
        elif n % 3 and n % 5:
            await store.set_reason(article, voter, "inaccurate" if n % 2 else "other",
                                   TEXTS[n % len(TEXTS)], at + dt.timedelta(minutes=1))
    for n in range(0, 8, 2):  # what half the articles are about: lists of names, a formula-like section
        await store.set_about(f"art-{n}", About(section="=SUM(A1)" if n == 0 else f"Section {n}",
                                                authors=("Ann", "Bo, Jr.")[: 1 + n % 2 + 1], tags=(TEXTS[0],),
                                                published_at=T0), "embed", T0)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def exports(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, Any]]:
    """Per query (by index): the CSV bytes and the path of the Parquet file, from one filled store."""
    with ExitStack() as stack:
        if request.param == "sqlite":
            backend = Backend("sqlite", f"sqlite:///{tmp_path_factory.mktemp('parquet') / 'fw.db'}")
        else:
            backend = Backend("postgres", stack.enter_context(fresh_database("fw_parquet_")))
        directory = tmp_path_factory.mktemp("parquet-files")
        yield asyncio.run(_export_all(backend, directory))


async def _export_all(backend: Backend, directory: Path) -> dict[int, Any]:
    store = backend.make()
    await store.open()
    try:
        await fill(store)
        out: dict[int, Any] = {}
        for n, query in enumerate(QUERIES):
            csv_bytes = b"".join([c async for c in export.encoded(store, _as(query, "csv"))])
            path = directory / f"{n}.parquet"
            path.write_bytes(b"".join([c async for c in export.encoded(store, _as(query, "parquet"))]))
            out[n] = (csv_bytes, path)
        return out
    finally:
        await store.close()


def _as(query: ExportQuery, fmt: str) -> ExportQuery:
    return ExportQuery(query.kind, fmt, query.since, query.until, query.after, query.tz)  # type: ignore[arg-type]


def from_csv(data: bytes, kind: str) -> list[list[str]]:
    table = list(csv.reader(io.StringIO(data.decode(), newline="")))
    assert tuple(table[0]) == EXPORT_COLUMNS[kind]
    return table[1:]


def from_duckdb(path: Path) -> tuple[list[list[str]], dict[str, str]]:
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        rows = con.execute("SELECT * FROM read_parquet(?)", [str(path)]).fetchall()
        types = {name: kind for name, kind, *_ in con.execute("DESCRIBE SELECT * FROM read_parquet(?)",
                                                                [str(path)]).fetchall()}
    finally:
        con.close()
    return [[csv_text(v) for v in row] for row in rows], types


def _plain(value: Any) -> Any:
    """A pandas cell as a plain Python value (NaN/NaT/None -> None)."""
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if hasattr(value, "tolist") and getattr(value, "ndim", 0) == 1:  # a list column's cell
        return [str(v) for v in value.tolist()]
    return value.item() if hasattr(value, "item") else value


def from_pandas(path: Path) -> tuple[list[list[str]], dict[str, str]]:
    frame = pd.read_parquet(path)
    rows = [[csv_text(_plain(v)) for v in row] for row in frame.itertuples(index=False, name=None)]
    return rows, {name: str(dtype) for name, dtype in frame.dtypes.items()}


TIMES = {"created_at", "updated_at", "at", "first_vote_at", "last_vote_at", "published_at"}
LISTS = {"authors", "tags"}
INTS = {"event_id", "up", "down", "total"}
WORDS = {"vote", "action", "reason"}


@pytest.mark.parametrize("n", range(len(QUERIES)), ids=[
    f"{q.kind}{'-' + q.tz.key if q.tz else ''}{'-after' if q.after else ''}" for q in QUERIES])
def test_each_kind_loads_into_duckdb_and_pandas_equal_to_the_csv(exports: dict[int, Any], n: int) -> None:
    query = QUERIES[n]
    csv_bytes, path = exports[n]
    expected = from_csv(csv_bytes, query.kind)
    assert len(expected) > 3, "the history is too thin to prove anything"
    rows, types = from_duckdb(path)
    assert rows == expected
    rows, dtypes = from_pandas(path)
    assert rows == expected
    for column in EXPORT_COLUMNS[query.kind]:
        if column in TIMES:
            assert types[column] == "TIMESTAMP WITH TIME ZONE"
            assert dtypes[column].startswith("datetime64[") and "UTC" in dtypes[column]
        elif column in INTS:
            assert (types[column], dtypes[column]) == ("BIGINT", "int64")
        elif column == "day":
            assert types[column] == "DATE"
        elif column in ("share_up", "wilson_lower"):
            assert (types[column], dtypes[column]) == ("DOUBLE", "float64")
        elif column in LISTS:
            assert types[column] == "VARCHAR[]" and dtypes[column] == "object"
        elif column in WORDS:
            assert types[column] == "VARCHAR" and dtypes[column] == "category"
            meta = pq.read_schema(path).field(column).type
            assert str(meta).startswith("dictionary<values=string")
        else:
            assert types[column] == "VARCHAR"


async def _counted(batches: Sequence[Sequence[Row]], pulled: list[int]) -> AsyncIterator[Sequence[Row]]:
    for batch in batches:
        pulled[0] += 1
        yield batch


def test_row_groups_leave_while_rows_still_arrive() -> None:
    """Bounded memory: a chunk (one row group) goes out before the store has sent everything."""
    from feedbackwidget import export_parquet

    rows = [{"event_id": i, "at": T0, "article_id": "a", "voter": "v", "action": "cast", "vote": "up"}
            for i in range(1000)]
    batches = [rows[i:i + 50] for i in range(0, 1000, 50)]
    pulled = [0]

    async def run() -> list[tuple[int, bytes]]:
        return [(pulled[0], chunk) async for chunk in
                export_parquet.encode("events", _counted(batches, pulled), row_group_rows=200)]

    chunks = asyncio.run(run())
    assert [seen for seen, _ in chunks[:2]] == [4, 8]  # a chunk per 200 rows, as soon as they are in
    data = b"".join(chunk for _, chunk in chunks)
    meta = pq.ParquetFile(io.BytesIO(data)).metadata
    assert (meta.num_row_groups, meta.num_rows) == (5, 1000)


def test_an_empty_export_is_a_parquet_file_with_its_columns(tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    assert cli.main(["export", "--format", "parquet", "--kind", "events", "--output", str(path),
                     "--database-url", f"sqlite:///{tmp_path / 'fw.db'}"]) == 0
    table = pq.read_table(path)
    assert table.num_rows == 0 and tuple(table.column_names) == EXPORT_COLUMNS["events"]


def _serve_env(url: str) -> dict[str, str]:
    import os

    base = {k: v for k, v in os.environ.items() if not k.startswith("FEEDBACKWIDGET_")}
    return {**base, "FEEDBACKWIDGET_DATABASE_URL": url, "FEEDBACKWIDGET_SECRET_KEY": SECRET,
            "FEEDBACKWIDGET_EXPORT_TOKEN": EXPORT_TOKEN}


def _get(url: str) -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {EXPORT_TOKEN}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.headers["Content-Type"], answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def test_http_and_cli_give_the_same_parquet_bytes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fw.db'}"
    store = Backend("sqlite", url).make()

    async def filled() -> None:
        await store.open()
        await fill(store)
        await store.close()

    asyncio.run(filled())
    with ServeProcess(_serve_env(url), tmp_path / "serve.log") as server:
        for kind in EXPORT_KINDS:
            status, media, body = _get(f"{server.url}/api/v1/export?format=parquet&kind={kind}")
            assert (status, media) == (200, "application/vnd.apache.parquet")
            out = tmp_path / f"{kind}.parquet"
            assert cli.main(["export", "--format", "parquet", "--kind", kind, "--output", str(out),
                             "--database-url", url]) == 0
            assert body == out.read_bytes()


#: Runs the real CLI with pyarrow made unimportable, as on an installation without the extra.
WITHOUT_PYARROW = ("import sys; sys.modules['pyarrow'] = None; from feedbackwidget.cli import main; "
                   "sys.exit(main(sys.argv[1:]))")


def test_without_pyarrow_parquet_is_one_contract_error(tmp_path: Path) -> None:
    import subprocess

    url = f"sqlite:///{tmp_path / 'fw.db'}"
    done = subprocess.run([sys.executable, "-c", WITHOUT_PYARROW, "export", "--format", "parquet",
                           "--output", str(tmp_path / "x.parquet"), "--database-url", url],
                          capture_output=True, text=True, timeout=60, env=_serve_env(url))
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "feedbackwidget[parquet]" in done.stderr and not (tmp_path / "x.parquet").exists()
    argv = [sys.executable, "-c", WITHOUT_PYARROW, "serve", "--host", "127.0.0.1", "--port", "{port}"]
    with ServeProcess(_serve_env(url), tmp_path / "serve.log", argv=argv) as server:
        status, media, body = _get(f"{server.url}/api/v1/export?format=parquet&kind=votes")
        assert (status, media) == (400, "application/json")
        answer = json.loads(body)
        assert answer["error"] == "invalid_request" and "feedbackwidget[parquet]" in answer["detail"]
        assert _get(f"{server.url}/api/v1/export?format=csv&kind=votes")[0] == 200
