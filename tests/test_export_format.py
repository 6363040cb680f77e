"""Export encoding: time parsing, CSV per RFC 4180 with formula neutralising, NDJSON,
round-trips between the two, and ``daily`` counted in a named time zone."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
from collections.abc import AsyncIterator, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedbackwidget.errors import InvalidRequest
from feedbackwidget.export import (
    MEDIA_TYPES,
    ExportQuery,
    csv_cell,
    daily_from_events,
    parse_time,
    parse_tz,
    stream,
)
from feedbackwidget.export_query import EARLIEST, LATEST
from feedbackwidget.formulas import needs_prefix
from feedbackwidget.store.base import EXPORT_COLUMNS, Row
from feedbackwidget.types import ExportFormat, ExportKind

UTC = dt.UTC

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` in a worker thread, so a loop another test left running here is no obstacle."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()



async def _batches(batches: Sequence[Sequence[Row]]) -> AsyncIterator[Sequence[Row]]:
    for batch in batches:
        yield batch


async def _collect(
    kind: ExportKind, fmt: ExportFormat, batches: Sequence[Sequence[Row]]
) -> list[bytes]:
    return [chunk async for chunk in stream(kind, fmt, _batches(batches))]


def encode(kind: ExportKind, fmt: ExportFormat, batches: Sequence[Sequence[Row]]) -> bytes:
    return b"".join(run(_collect(kind, fmt, batches)))


def parse_csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def parse_ndjson(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.decode("utf-8").split("\n") if line]


def as_csv_text(value: Any) -> str:
    """What the contract says a CSV cell holds for an NDJSON value."""
    if value is None:
        return ""
    if isinstance(value, str):
        return "'" + value if needs_prefix(value) else value  # the rule's own table: test_formulas.py
    return str(value)


# -- parse_time ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-31", dt.datetime(2026, 1, 31, tzinfo=UTC)),
        ("2026-01-31T12:30", dt.datetime(2026, 1, 31, 12, 30, tzinfo=UTC)),
        ("2026-01-31T12:30:05Z", dt.datetime(2026, 1, 31, 12, 30, 5, tzinfo=UTC)),
        ("2026-01-31 12:30:05.250", dt.datetime(2026, 1, 31, 12, 30, 5, 250000, tzinfo=UTC)),
        ("2026-01-31T12:30:00+02:00", dt.datetime(2026, 1, 31, 10, 30, tzinfo=UTC)),
        ("2026-01-01T00:30:00-01:00", dt.datetime(2026, 1, 1, 1, 30, tzinfo=UTC)),
        ("  2026-01-31  ", dt.datetime(2026, 1, 31, tzinfo=UTC)),
    ],
)
def test_parse_time_accepts_iso(text: str, expected: dt.datetime) -> None:
    got = parse_time(text, "since")
    assert got == expected
    assert got.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(("text", "tz", "expected"), [
    ("9999-12-31T23:59:59-01:00", dt.UTC, LATEST),  # past the calendar in UTC
    ("9999-12-31T23:59:59", ZoneInfo("Etc/GMT+12"), LATEST),
    ("0001-01-01", ZoneInfo("Etc/GMT-14"), EARLIEST),
    ("0001-01-01", dt.UTC, EARLIEST),
    ("1899-12-31T23:59:59Z", dt.UTC, EARLIEST),
    ("3000-01-01T00:00:01Z", dt.UTC, LATEST),
    ("2999-12-31T23:59:59Z", dt.UTC, dt.datetime(2999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)),
])
def test_parse_time_keeps_times_within_the_years_of_any_vote(text: str, tz: dt.tzinfo, expected: dt.datetime) -> None:
    assert parse_time(text, "until", tz) == expected


@pytest.mark.parametrize(
    "text",
    ["", "yesterday", "2026-13-01", "2026-02-30", "2026-01-31T25:00", "31/01/2026",
     "2026-01-31T12:00:00+25:00", "\uff12\uff10\uff12\uff16-01-01", "2026-01-01" + "0" * 100, "1e9"],
)
def test_parse_time_refuses_malformed(text: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_time(text, "until")
    assert info.value.code == "invalid_request"
    assert info.value.code == "invalid_request"
    assert "until" in info.value.detail


@given(st.text(max_size=40))
def test_parse_time_never_raises_anything_else(text: str) -> None:
    try:
        got = parse_time(text, "since")
    except InvalidRequest:
        return
    assert got.tzinfo is not None


def test_parse_time_in_zone() -> None:
    paris = parse_tz("Europe/Paris")
    # winter: UTC+1
    assert parse_time("2026-01-31", "since", paris) == dt.datetime(2026, 1, 30, 23, tzinfo=UTC)
    # an explicit offset wins over the zone
    assert parse_time("2026-01-31T00:00Z", "since", paris) == dt.datetime(2026, 1, 31, tzinfo=UTC)


@pytest.mark.parametrize("name", ["", "Mars/Olympus", "../../etc/passwd", "/etc/localtime",
                                  "Europe/Paris\nX", "a" * 200, "Europe//Paris"])
def test_parse_tz_refuses(name: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_tz(name)


def test_export_query_from_params() -> None:
    q = ExportQuery.from_params({"format": "ndjson", "kind": "events", "after": "42",
                                 "since": "2026-01-01", "until": "2026-02-01T00:00Z"})
    assert (q.kind, q.format, q.after) == ("events", "ndjson", 42)
    assert q.since == dt.datetime(2026, 1, 1, tzinfo=UTC)
    assert q.until == dt.datetime(2026, 2, 1, tzinfo=UTC)
    assert q.media_type == MEDIA_TYPES["ndjson"]
    assert ExportQuery.from_params({}) == ExportQuery("votes", "csv")
    d = ExportQuery.from_params({"kind": "daily", "tz": "Europe/Paris", "since": "2026-06-01"})
    assert d.tz is not None and d.tz.key == "Europe/Paris"
    assert d.since == dt.datetime(2026, 5, 31, 22, tzinfo=UTC)  # summer: UTC+2
    for bad in ({"format": "xlsx"}, {"kind": "people"}, {"kind": "votes", "tz": "Europe/Paris"},
                {"kind": "votes", "after": "3"}, {"kind": "events", "after": "-1"},
                {"kind": "events", "after": "1e3"}, {"since": "soon"},
                {"kind": "daily", "tz": "Nowhere"}):
        with pytest.raises(InvalidRequest):
            ExportQuery.from_params(bad)


# -- CSV and NDJSON -------------------------------------------------------------------------

def _article(article_id: str, title: str | None, up: int = 1, down: int = 0) -> Row:
    at = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    return {"article_id": article_id, "title": title, "up": up, "down": down,
            "first_vote_at": at, "last_vote_at": at}


def test_csv_header_and_line_ends() -> None:
    title = "Plain, with \"quotes\"\nand a newline"
    data = encode("articles", "csv", [[_article("a", title, 3, 1)]])
    header, rest = data.split(b"\r\n", 1)
    assert header.decode() == ",".join(EXPORT_COLUMNS["articles"])
    assert rest.endswith(b"\r\n")
    (row,) = parse_csv(data)
    assert row["title"] == title
    assert (row["up"], row["down"], row["total"], row["share_up"]) == ("3", "1", "4", "0.75")
    assert row["first_vote_at"] == "2026-01-02T03:04:05Z"


def test_empty_export_is_header_only() -> None:
    assert encode("votes", "csv", []) == (",".join(EXPORT_COLUMNS["votes"]) + "\r\n").encode()
    assert encode("votes", "ndjson", [[], []]) == b""


@pytest.mark.parametrize("title", ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1+1", "-2+3",
                                   "@SUM(A1:A2)", "\t=1", "\r=1", " =1", "\u200b=1", "\uff1d1"])
def test_formula_injection_is_neutralised(title: str) -> None:
    batches = [[_article("=cmd|' /C calc'!A0", title)]]
    (csv_row,) = parse_csv(encode("articles", "csv", batches))
    (nd_row,) = parse_ndjson(encode("articles", "ndjson", batches))
    assert csv_row["title"] == "'" + title
    assert csv_row["article_id"] == "'=cmd|' /C calc'!A0"
    assert nd_row["title"] == title  # NDJSON carries the value untouched


def test_harmless_cells_are_not_prefixed() -> None:
    for value in ["a=b", "1+1", "'=already quoted", "x =space later", "Ünïcode", ""]:
        assert csv_cell(value) == value
    assert csv_cell(None) == ""
    assert csv_cell(-1) == -1  # numbers are numbers, not formulas


def test_markup_in_titles_is_data_not_html() -> None:
    title = "<script>alert(1)</script> & <b>bold</b>"
    batches = [[_article("x", title)]]
    (csv_row,) = parse_csv(encode("articles", "csv", batches))
    (nd_row,) = parse_ndjson(encode("articles", "ndjson", batches))
    assert csv_row["title"] == title == nd_row["title"]
    assert "text/csv" in MEDIA_TYPES["csv"]  # served as CSV, never as HTML


def test_one_chunk_per_batch() -> None:
    batches = [[_article("a", None)], [], [_article("b", None), _article("c", None)]]
    csv_chunks = run(_collect("articles", "csv", batches))
    nd_chunks = run(_collect("articles", "ndjson", batches))
    assert len(csv_chunks) == 3  # header + two non-empty batches
    assert len(nd_chunks) == 2
    assert nd_chunks[1].count(b"\n") == 2


# -- round-trips -------------------------------------------------------------------------------

text = st.text(max_size=30)
times = st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1),
                     timezones=st.just(UTC))
counts = st.integers(0, 10**6)

ROWS: dict[str, st.SearchStrategy[Row]] = {
    "votes": st.fixed_dictionaries({
        "article_id": text, "vote": st.sampled_from(["up", "down"]), "voter": text,
        "created_at": times, "updated_at": times, "article_version": st.none() | text}),
    "events": st.fixed_dictionaries({
        "event_id": st.integers(1, 2**62), "at": times, "article_id": text, "voter": text,
        "action": st.sampled_from(["cast", "change", "withdraw", "erase"]),
        "vote": st.none() | st.sampled_from(["up", "down"]), "article_version": st.none() | text}),
    "articles": st.fixed_dictionaries({
        "article_id": text, "title": st.none() | text, "up": counts, "down": counts,
        "first_vote_at": st.none() | times, "last_vote_at": st.none() | times}),
    "daily": st.fixed_dictionaries({
        "day": st.dates(dt.date(2000, 1, 1), dt.date(2100, 1, 1)), "article_id": text,
        "up": counts, "down": counts}),
}


@pytest.mark.parametrize("kind", list(ROWS))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_csv_round_trips_to_ndjson(kind: ExportKind, data: st.DataObject) -> None:
    batches = data.draw(st.lists(st.lists(ROWS[kind], max_size=5), max_size=4))
    from_csv = parse_csv(encode(kind, "csv", batches))
    from_nd = parse_ndjson(encode(kind, "ndjson", batches))
    assert len(from_csv) == len(from_nd) == sum(len(b) for b in batches)
    for csv_row, nd_row in zip(from_csv, from_nd, strict=True):
        assert list(csv_row) == list(nd_row) == list(EXPORT_COLUMNS[kind])
        assert csv_row == {k: as_csv_text(v) for k, v in nd_row.items()}


# -- daily in a time zone ----------------------------------------------------------------------

def _event(n: int, at: dt.datetime, article: str, action: str, vote: str | None) -> Row:
    return {"event_id": n, "at": at, "article_id": article, "voter": f"v{n}",
            "action": action, "vote": vote, "article_version": None}


async def _daily(events: list[Row], tz: dt.tzinfo, batch_rows: int = 1000) -> list[Row]:
    out: list[Row] = []
    async for batch in daily_from_events(_batches([events[:2], events[2:]]), tz, batch_rows):
        assert 0 < len(batch) <= batch_rows
        out.extend(batch)
    return out


def test_daily_in_named_zone() -> None:
    paris = parse_tz("Europe/Paris")
    events = [
        # 23:30 UTC on 31 Jan is 00:30 on 1 Feb in Paris
        _event(1, dt.datetime(2026, 1, 31, 23, 30, tzinfo=UTC), "a", "cast", "up"),
        _event(2, dt.datetime(2026, 1, 31, 22, 30, tzinfo=UTC), "a", "cast", "down"),
        # a change of mind counts on its own day, the withdrawal and erasure not at all
        _event(3, dt.datetime(2026, 2, 1, 8, 0, tzinfo=UTC), "a", "change", "up"),
        _event(4, dt.datetime(2026, 2, 1, 9, 0, tzinfo=UTC), "a", "withdraw", "up"),
        _event(5, dt.datetime(2026, 2, 1, 9, 0, tzinfo=UTC), "b", "erase", None),
        # a string timestamp from a store that keeps text
        _event(6, "2026-02-01T10:00:00+00:00", "b", "cast", "down"),  # type: ignore[arg-type]
    ]
    assert run(_daily(events, paris)) == [
        {"day": dt.date(2026, 1, 31), "article_id": "a", "up": 0, "down": 1},
        {"day": dt.date(2026, 2, 1), "article_id": "a", "up": 2, "down": 0},
        {"day": dt.date(2026, 2, 1), "article_id": "b", "up": 0, "down": 1},
    ]
    in_utc = run(_daily(events, UTC, batch_rows=1))
    assert [(r["day"].day, r["article_id"], r["up"], r["down"]) for r in in_utc] == [
        (31, "a", 1, 1), (1, "a", 1, 0), (1, "b", 0, 1)]
