"""The daily export in a time zone (``tz=``), read in one snapshot a few weeks per query from the
hour rollup (store/local_sql.py), equals a recount from the event history on every backend: over
ranges that cross daylight-saving changes in Europe/Paris (whole-hour offsets: 23 and 25 hour
days) and America/St_Johns (-3:30 / -2:30: every local midnight cuts an hour), with ends inside
hours, for every site and for all of them; and the lines the database writes are byte for byte
what the reference encoders write for those rows, for article ids that need quoting, escaping or
a formula prefix."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import replace
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedbackwidget import export
from feedbackwidget.export import ExportQuery
from feedbackwidget.formulas import needs_prefix
from feedbackwidget.store import local_sql, site_keys
from feedbackwidget.store.base import LocalDay, Row
from feedbackwidget.store.rollups import local_day_list, local_day_ranges
from feedbackwidget.store.scoped import SiteStore
from feedbackwidget.types import Cast

pytestmark = pytest.mark.anyio

#: Paris moves its clocks on 2026-03-29 and 2026-10-25, St John's on 2026-03-08 and 2026-11-01.
STARTS = [dt.datetime(2026, 3, 5, tzinfo=dt.UTC), dt.datetime(2026, 3, 26, tzinfo=dt.UTC),
          dt.datetime(2026, 10, 22, tzinfo=dt.UTC), dt.datetime(2026, 10, 30, tzinfo=dt.UTC)]
SITES = [site_keys.DEFAULT, "north"]
#: Ids a CSV cell must quote or neutralise, and a JSON string must escape (11: each in every site).
IDS = ["a", "=1+1", "b,c", 'q"uote', "é", " -x", "line\nbreak", "\u200b@y", "back\\slash", "tab\t", "+plus"]
ZONES = ["Europe/Paris", "America/St_Johns"]


async def history(store: Any) -> list[Row]:
    """Votes every 37 minutes for 6 days from each start (so at every minute of the hour in turn),
    changes of mind and withdrawals among them; returns the events as exported."""
    for n, start in enumerate(STARTS):
        for step in range(6 * 24 * 60 // 37):
            at = start + dt.timedelta(minutes=37 * step, microseconds=step % 3)
            key = site_keys.key(SITES[step % 2], IDS[step % len(IDS)])
            voter = f"v{step % 5}"
            if step % 11 == 7:
                await store.withdraw(key, voter, at)
            else:
                await store.cast(Cast(key, voter, "up" if (step + n) % 3 else "down", at))
    return [row async for batch in store.export("events") for row in batch]


def recount(events: list[Row], tz: dt.tzinfo, since: dt.datetime, until: dt.datetime, site: str | None) -> list[
    tuple[Any, ...]
]:
    counts: Counter[tuple[dt.date, str, str]] = Counter()
    for e in events:
        site_of, article = site_keys.split(e["article_id"])
        if e["action"] in ("cast", "change") and since <= e["at"] < until and site in (None, site_of):
            counts[(e["at"].astimezone(tz).date(), article if site else e["article_id"], e["vote"])] += 1
    keys = sorted({(day, article) for day, article, _ in counts})
    return [(day, article, counts[(day, article, "up")], counts[(day, article, "down")]) for day, article in keys]


def ranges(tz: dt.tzinfo) -> list[tuple[dt.datetime, dt.datetime]]:
    """Each start's six days, from a local 07:13 to a local 16:45: ends inside hours."""
    out = []
    for start in STARTS:
        local = start.astimezone(tz)
        since = dt.datetime.combine(local.date(), dt.time(7, 13), tz)
        until = dt.datetime.combine(local.date() + dt.timedelta(days=5), dt.time(16, 45), tz)
        out.append((since.astimezone(dt.UTC), until.astimezone(dt.UTC)))
    return out


async def test_local_days_equal_a_recount_across_daylight_saving(store: Any) -> None:
    events = await history(store)
    for zone in ZONES:
        tz = ZoneInfo(zone)
        for since, until in [*ranges(tz), (STARTS[0], STARTS[-1] + dt.timedelta(days=7))]:
            days = local_day_ranges(tz, since, until)
            assert days[0].day == since.astimezone(tz).date() and len({d.last - d.first for d in days}) > 1
            for site in [None, *SITES]:
                got = [r async for b in store.local_daily(days, 7, site=site) for r in b]
                assert [(r["day"], r["article_id"], r["up"], r["down"]) for r in got] == [
                    (d, a if site is None else site_keys.key(site, a), up, down)
                    for d, a, up, down in recount(events, tz, since, until, site)
                ], (zone, since, site)


async def test_a_long_range_is_read_in_chunks_of_one_snapshot(store: Any) -> None:
    """More local days than one query takes (CHUNK_DAYS), in batches smaller than a day."""
    events = await history(store)
    tz = ZoneInfo("America/St_Johns")
    since, until = STARTS[0] - dt.timedelta(days=40), STARTS[-1] + dt.timedelta(days=9)
    days = local_day_ranges(tz, since, until)
    assert len(days) > 3 * local_sql.CHUNK_DAYS
    batches = [b async for b in store.local_daily(days, 5)]
    assert max(len(b) for b in batches) <= 5
    got = [(r["day"], r["article_id"], r["up"], r["down"]) for b in batches for r in b]
    assert got == recount(events, tz, since, until, None)


async def test_queries_are_sized_by_the_days_votes(store: Any) -> None:
    """Each local day carries the votes of the UTC days it touches (an upper bound of its rows), and
    days heavy enough to fill a query each are still counted exactly, one query each."""
    events = await history(store)
    tz = ZoneInfo("America/St_Johns")
    since, until = STARTS[0] - dt.timedelta(days=2), STARTS[0] + dt.timedelta(days=9)
    days = await local_day_list(store, tz, since, until)
    expected = recount(events, tz, since, until, None)
    for day in days:
        rows = [r for r in expected if r[0] == day.day]
        assert day.votes >= sum(up + down for _, _, up, down in rows)
    assert sum(d.votes > 0 for d in days) >= 6
    heavy = [replace(d, votes=local_sql.CHUNK_VOTES) for d in days]
    assert len(list(local_sql.chunks(heavy))) == len(days)
    got = [(r["day"], r["article_id"], r["up"], r["down"]) async for b in store.local_daily(heavy, 50) for r in b]
    assert got == expected


U = dt.UTC
#: Ranges at the calendar's ends, in zones far from UTC either way (a 500 once: a date past the end).
EDGES = [
    ("Etc/GMT+12", dt.datetime(1, 1, 1, tzinfo=U), dt.datetime(1, 1, 3, tzinfo=U)),
    ("Pacific/Kiritimati", dt.datetime(1, 1, 1, tzinfo=U), None),
    ("Europe/Paris", None, dt.datetime(9999, 12, 31, tzinfo=U)),
    ("Europe/Paris", dt.datetime(9999, 12, 29, tzinfo=U), dt.datetime(9999, 12, 31, tzinfo=U)),
    ("Asia/Kolkata", dt.datetime(1, 1, 1, tzinfo=U), dt.datetime(9999, 12, 31, 23, tzinfo=U)),
    ("America/St_Johns", None, None),
]


async def test_any_range_costs_the_history_not_its_length(store: Any) -> None:
    """A range reaching the calendar's ends is cut to the site's first and last day with a vote: its
    days are those of the history (so its length costs nothing), and the counts equal a recount."""
    events = await history(store)
    span = (events[-1]["at"] - events[0]["at"]).days + 3
    for zone, since, until in EDGES:
        tz = ZoneInfo(zone)
        days = await local_day_list(store, tz, since, until)
        assert len(days) <= span, zone
        got = [(r["day"], r["article_id"], r["up"], r["down"]) async for b in store.local_daily(days, 50) for r in b]
        assert got == recount(events, tz, since or dt.datetime.min.replace(tzinfo=U),
                              until or dt.datetime.max.replace(tzinfo=U), None), (zone, since, until)


async def test_the_queries_share_one_snapshot(store: Any, backend: Any) -> None:
    """One query per local day here (each as heavy as a query may be). Votes that another store
    writes and folds while the export is being read are not in it, though most of its queries
    run after them: every query reads the snapshot of the first."""
    events = await history(store)
    tz = ZoneInfo("Europe/Paris")
    since, until = ranges(tz)[1]
    heavy = [replace(d, votes=local_sql.CHUNK_VOTES) for d in await local_day_list(store, tz, since, until)]
    expected = recount(events, tz, since, until, None)
    reading = store.local_daily(heavy, 3)
    got = [(r["day"], r["article_id"], r["up"], r["down"]) for r in await anext(reading)]
    other = backend.make()
    await other.open()
    try:
        for n in range(5):  # on the range's last day, then folded into the rollups it reads
            await other.cast(Cast(IDS[0], f"late-{n}", "up", until - dt.timedelta(hours=2)))
        assert (await other.site_totals()).total >= 5
        got += [(r["day"], r["article_id"], r["up"], r["down"]) async for b in reading for r in b]
        assert got == expected
        again = [(r["day"], r["article_id"], r["up"], r["down"]) async for b in other.local_daily(heavy, 3) for r in b]
        assert again == recount(await history_of(other), tz, since, until, None) != expected
    finally:
        await other.close()


async def history_of(store: Any) -> list[Row]:
    return [row async for batch in store.export("events") for row in batch]


@given(votes=st.lists(st.integers(0, 300), max_size=60), size=st.integers(1, 9), budget=st.integers(1, 400))
def test_chunks_keep_the_days_in_order_within_both_bounds(votes: list[int], size: int, budget: int) -> None:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    days = [LocalDay(dt.date(2026, 1, 1) + dt.timedelta(days=n), start, start, (), v) for n, v in enumerate(votes)]
    out = [list(c) for c in local_sql.chunks(days, size, budget)]
    assert [d for c in out for d in c] == days and all(out)
    for chunk in out:
        assert len(chunk) <= size and (len(chunk) == 1 or sum(d.votes for d in chunk) <= budget)
    for before, after in pairwise(out):  # greedy: each chunk as long as the bounds allow
        assert len(before) == size or sum(d.votes for d in before) + after[0].votes > budget


async def test_export_lines_written_by_the_store_equal_the_reference_encoders(store: Any) -> None:
    events = await history(store)
    for zone in ZONES:
        tz = ZoneInfo(zone)
        since, until = ranges(tz)[1]
        expected = [dict(zip(("day", "article_id", "up", "down"), r, strict=True))
                    for r in recount(events, tz, since, until, None)]
        assert any(needs_prefix(r["article_id"]) for r in expected)
        for fmt in ("csv", "ndjson"):
            query = ExportQuery.from_params({
                "kind": "daily", "format": fmt, "tz": zone,
                "since": since.astimezone(tz).replace(tzinfo=None).isoformat(),
                "until": until.astimezone(tz).replace(tzinfo=None).isoformat(),
            })
            body = b"".join([chunk async for chunk in export.encoded(store, query)])
            reference = b"".join([chunk async for chunk in export.stream("daily", fmt, _one(expected))])
            assert body == reference, (zone, fmt)
            site_view = SiteStore(store, "north")
            rows = [r async for b in export.rows(site_view, query) for r in b]
            assert rows == [{**r, "article_id": site_keys.split(r["article_id"])[1]} for r in expected
                            if site_keys.split(r["article_id"])[0] == "north"]


async def _one(rows: list[Row]) -> Any:
    yield rows
