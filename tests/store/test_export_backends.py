"""Exports from a real store, on every backend: CSV parsed back equals NDJSON (but for
the documented ``'`` prefix), and both equal what the database holds."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections import Counter
from typing import Any

import pytest

from feedbackwidget import export
from feedbackwidget.export import ExportQuery
from feedbackwidget.sentiment import rank
from feedbackwidget.store.base import EXPORT_COLUMNS
from feedbackwidget.types import Cast, ExportKind

pytestmark = pytest.mark.anyio

T0 = dt.datetime(2026, 3, 28, 21, 45, tzinfo=dt.UTC)  # Paris moves to summer time on the 29th
FORMULA = ("=", "+", "-", "@", "\t", "\r")
TITLES = {
    "=a1": '=HYPERLINK("http://evil.example")',
    "b/<i>2</i>": '<script>alert(1)</script>, "quoted"\r\nnew line',
    "c3": "-5 reasons @ home",
    "d4": None,
}


def at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


async def _populate(store: Any) -> None:
    hour = 0.0
    for n, article in enumerate(TITLES):
        for voter in range(4 + n):
            hour += 1.5
            vote = "up" if (voter + n) % 3 else "down"
            await store.cast(
                Cast(article, f"voter-{voter}", vote, at(hour), version=f"r{voter % 2}", title=TITLES[article])
            )
    await store.cast(Cast("=a1", "voter-0", "up", at(hour + 1), version="r9"))  # a change of mind
    await store.withdraw("c3", "voter-1", at(hour + 2))
    await store.erase("voter-2", at(hour + 3))


async def _encode(store: Any, query: ExportQuery) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    csv_bytes = b"".join([c async for c in export.stream(query.kind, "csv", export.rows(store, query))])
    nd_bytes = b"".join([c async for c in export.stream(query.kind, "ndjson", export.rows(store, query))])
    from_csv = list(csv.DictReader(io.StringIO(csv_bytes.decode(), newline="")))
    from_nd = [json.loads(line) for line in nd_bytes.decode().split("\n") if line]
    return from_csv, from_nd


def _as_csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return "'" + value if value.startswith(FORMULA) else value
    return str(value)


@pytest.mark.parametrize("kind", ["votes", "events", "articles", "daily"])
async def test_csv_equals_ndjson_equals_database(store: Any, kind: ExportKind) -> None:
    await _populate(store)
    from_csv, from_nd = await _encode(store, ExportQuery(kind, "csv"))
    assert from_nd, "nothing exported"
    assert len(from_csv) == len(from_nd)
    for csv_row, nd_row in zip(from_csv, from_nd, strict=True):
        assert list(nd_row) == list(EXPORT_COLUMNS[kind])
        assert csv_row == {k: _as_csv_text(v) for k, v in nd_row.items()}

    if kind == "articles":
        for row in from_nd:
            tally = await store.tally(row["article_id"])
            assert (row["up"], row["down"], row["total"]) == (tally.up, tally.down, tally.total)
            assert row["title"] == TITLES[row["article_id"]]
        assert {r["article_id"] for r in from_nd} == set(TITLES)
    elif kind == "votes":
        per_article = Counter((r["article_id"], r["vote"]) for r in from_nd)
        for article in TITLES:
            tally = await store.tally(article)
            assert (per_article[(article, "up")], per_article[(article, "down")]) == (tally.up, tally.down)
            versions = {v["article_version"]: (v["up"], v["down"]) for v in await store.versions(article)}
            mine = Counter((r["article_version"], r["vote"]) for r in from_nd if r["article_id"] == article)
            assert versions == {ver: (mine[(ver, "up")], mine[(ver, "down")]) for ver in versions}
    elif kind == "events":
        actions = Counter(r["action"] for r in from_nd)
        assert actions["change"] == 1 and actions["withdraw"] == 1 and actions["erase"] >= 1
        ids = [r["event_id"] for r in from_nd]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
    else:
        assert from_nd == [{**r, "day": r["day"].isoformat()} for r in await store.daily(None, None, None)]


async def test_daily_in_named_zone_matches_utc_totals(store: Any) -> None:
    await _populate(store)
    _, utc = await _encode(store, ExportQuery.from_params({"kind": "daily"}))
    _, paris = await _encode(store, ExportQuery.from_params({"kind": "daily", "tz": "Europe/Paris"}))
    _, tokyo = await _encode(store, ExportQuery.from_params({"kind": "daily", "tz": "Asia/Tokyo"}))
    for rows in (paris, tokyo):
        assert sum(r["up"] for r in rows) == sum(r["up"] for r in utc)
        assert sum(r["down"] for r in rows) == sum(r["down"] for r in utc)
    # the first vote, 23:15 UTC on the 28th, is 00:15 on the 29th in Paris
    assert utc[0]["day"] == "2026-03-28"
    assert paris[0]["day"] == "2026-03-29"
    # a zone's local dates filter by local midnight
    _, since = await _encode(
        store, ExportQuery.from_params({"kind": "daily", "tz": "Asia/Tokyo", "since": "2026-03-30"})
    )
    assert since and all(r["day"] >= "2026-03-30" for r in since)
    assert len(since) < len(tokyo)


async def test_since_until_filter(store: Any) -> None:
    await _populate(store)
    _, everything = await _encode(store, ExportQuery("events", "ndjson"))
    cut = everything[len(everything) // 2]["at"]
    query = ExportQuery.from_params({"kind": "events", "since": cut})
    _, later = await _encode(store, query)
    _, earlier = await _encode(store, ExportQuery.from_params({"kind": "events", "until": cut}))
    assert later[0]["at"] == cut  # inclusive
    assert all(r["at"] < cut for r in earlier)  # exclusive
    assert len(earlier) + len(later) == len(everything)


async def test_listing_orders_match_sentiment_rank(store: Any) -> None:
    """The store's ORDER BY and ``sentiment.rank`` agree (ids chosen so collation cannot matter)."""
    plan = {"aa": (9, 1), "bb": (2, 0), "cc": (40, 30), "dd": (0, 3), "ee": (2, 0), "ff": (5, 5)}
    minute = 0
    for article, (up, down) in plan.items():
        for i in range(up + down):
            minute += 1
            vote = "up" if i < up else "down"
            await store.cast(Cast(article, f"{article}-{i}", vote, at(minute / 60)))
    for order in ("wilson", "total", "recent"):
        listed = await store.articles(order, 100, 0)
        assert [a.article_id for a in listed] == [a.article_id for a in rank(listed[::-1], order)]
        page = await store.articles(order, 2, 2)
        assert [a.article_id for a in page] == [a.article_id for a in listed[2:4]]
