"""Rollups equal a recount from the event history, on both stores: for random histories of
casts, changes, withdrawals and erasures at random times (out of order, on day, hour and
daylight-saving edges), read over random ranges, in UTC and in time zones whose offsets are
not whole hours; the listing's every order, by offset and by keyset, equals a sort of the
current tallies; and a store migrated from before the rollups builds them from what it holds.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedbackwidget import export
from feedbackwidget.export import ExportQuery
from feedbackwidget.sentiment import wilson_lower
from feedbackwidget.store import pg_rollups
from feedbackwidget.store.base import Row
from feedbackwidget.types import ORDERS, Cast

from .backends import Fresh

T0 = dt.datetime(2026, 3, 27, 0, 0, tzinfo=dt.UTC)  # Paris and London move to summer time on the 29th
ARTICLES = ["a", "b", "é", "=x"]
VOTERS = ["v1", "v2", "v3"]
#: Whole-hour zones with daylight saving, and zones whose offsets are not whole hours.
ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Eucla", "Pacific/Chatham",
         "America/St_Johns", "Asia/Kathmandu"]
moments = st.builds(
    lambda day, hour, minute, second, micro: T0 + dt.timedelta(
        days=day, hours=hour, minutes=minute, seconds=second, microseconds=micro
    ),
    st.integers(0, 4), st.integers(0, 23), st.sampled_from([0, 14, 15, 29, 30, 44, 45, 59]),
    st.sampled_from([0, 59]), st.sampled_from([0, 1, 999999]),
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("cast"), st.sampled_from(ARTICLES), st.sampled_from(VOTERS),
                  st.sampled_from(["up", "down"]), moments),
        st.tuples(st.just("withdraw"), st.sampled_from(ARTICLES), st.sampled_from(VOTERS), moments),
        st.tuples(st.just("erase"), st.sampled_from(VOTERS), moments),
        st.tuples(st.just("read")),  # PostgreSQL folds new events before a read: folds at random points
    ),
    max_size=40,
)
bounds = st.none() | moments


async def apply(store: Any, ops: list[tuple[Any, ...]]) -> None:
    for op in ops:
        if op[0] == "cast":
            await store.cast(Cast(op[1], op[2], op[3], op[4]))
        elif op[0] == "read":
            await store.site_totals()
        elif op[0] == "withdraw":
            await store.withdraw(op[1], op[2], op[3])
        else:
            await store.erase(op[1], op[2])


async def everything(store: Any, kind: str) -> list[Row]:
    return [row async for batch in store.export(kind) for row in batch]


def recount(events: list[Row], key: Any, since: dt.datetime | None = None, until: dt.datetime | None = None) -> Counter[
    tuple[Any, str]
]:
    """Votes cast or changed to each value, per ``key(at)`` and article, for events in ``[since, until)``."""
    counts: Counter[tuple[Any, str]] = Counter()
    for e in events:
        if e["action"] in ("cast", "change") and (since is None or e["at"] >= since) and (
            until is None or e["at"] < until
        ):
            counts[(key(e["at"]), e["article_id"], e["vote"])] += 1
    return counts


def as_rows(counts: Counter[tuple[Any, str]]) -> list[tuple[Any, ...]]:
    keys = sorted({(k[0], k[1]) for k in counts})
    return [(k, a, counts[(k, a, "up")], counts[(k, a, "down")]) for k, a in keys]


def utc_day(at: dt.datetime) -> dt.date:
    return at.astimezone(dt.UTC).date()


async def check_daily(store: Any, events: list[Row], since: Any, until: Any, article: str) -> None:
    expected = as_rows(recount(events, utc_day, since, until))
    got = await store.daily(None, since, until)
    assert [(r["day"], r["article_id"], r["up"], r["down"]) for r in got] == expected
    exported = [r async for b in store.export("daily", since=since, until=until) for r in b]
    assert exported == got
    one = await store.daily(article, since, until)
    assert [(r["day"], r["article_id"], r["up"], r["down"]) for r in one] == [e for e in expected if e[1] == article]


async def check_days(store: Any, events: list[Row], start: dt.date, end: dt.date, shown: list[str]) -> None:
    """What the dashboard reads: some articles' days, the site's days, over whole days [start, end)."""
    in_range = [r for r in as_rows(recount(events, utc_day)) if start <= r[0] < end]
    got = await store.daily_of(shown, start, end)
    assert [(r["day"], r["article_id"], r["up"], r["down"]) for r in got] == [r for r in in_range if r[1] in shown]
    site: dict[dt.date, list[int]] = {}
    for day, _, up, down in in_range:
        site.setdefault(day, [0, 0])
        site[day][0] += up
        site[day][1] += down
    got_site = await store.site_daily(start, end)
    assert [(r["day"], r["up"], r["down"]) for r in got_site] == [(d, *site[d]) for d in sorted(site)]
    for size in (2, 3):  # several days a row (the dashboard's sparkline points)
        sums: Counter[tuple[dt.date, str, str]] = Counter()
        for day, article, up, down in in_range:
            if article in shown:
                first = start + dt.timedelta(days=(day - start).days // size * size)
                sums[(first, article, "up")] += up
                sums[(first, article, "down")] += down
        got = await store.daily_of(shown, start, end, size)
        assert [(r["day"], r["article_id"], r["up"], r["down"]) for r in got] == as_rows(sums)


async def check_zone(store: Any, events: list[Row], zone: str, since: Any, until: Any) -> None:
    params = {"kind": "daily", "tz": zone}
    tz = ZoneInfo(zone)
    local_since = since.astimezone(tz).replace(tzinfo=None).isoformat() if since else None
    local_until = until.astimezone(tz).replace(tzinfo=None).isoformat() if until else None
    params.update({k: v for k, v in (("since", local_since), ("until", local_until)) if v})
    query = ExportQuery.from_params(params)
    got = [r async for b in export.rows(store, query) for r in b]
    expected = as_rows(recount(events, lambda at: at.astimezone(tz).date(), query.since, query.until))
    assert [(r["day"], r["article_id"], r["up"], r["down"]) for r in got] == expected


async def check_listing(store: Any, events: list[Row], votes: list[Row]) -> None:
    tallies: dict[str, list[int]] = {}
    last: dict[str, dt.datetime] = {}
    for e in events:
        tallies.setdefault(e["article_id"], [0, 0])
        if e["action"] in ("cast", "change"):
            last[e["article_id"]] = max(last.get(e["article_id"], e["at"]), e["at"])
    for v in votes:
        tallies[v["article_id"]][0 if v["vote"] == "up" else 1] += 1
    totals = await store.site_totals()
    assert (totals.up, totals.down) == (sum(t[0] for t in tallies.values()), sum(t[1] for t in tallies.values()))
    keys = {
        "wilson": lambda a: (-wilson_lower(tallies[a][0], sum(tallies[a])), -sum(tallies[a]), a),
        "total": lambda a: (-sum(tallies[a]), a),
        "recent": lambda a: (-last[a].timestamp() if a in last else float("inf"), a),
    }
    for order in ORDERS:
        expected = sorted(tallies, key=keys[order])
        listed = await store.articles(order, 100, 0)
        assert [s.article_id for s in listed] == expected, order
        assert [(s.up, s.down) for s in listed] == [tuple(tallies[a]) for a in expected]
        paged: list[str] = []
        after = None
        while page := await store.articles(order, 2, 0, after):
            paged.extend(s.article_id for s in page)
            after = page[-1].article_id
        assert paged == expected, order
        assert [s.article_id for s in await store.articles(order, 2, 1)] == expected[1:3]


def test_rollups_equal_a_recount_of_the_history(fresh: Fresh, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg_rollups, "KEYSET_BATCH", 3)  # PostgreSQL reads long rollups in batches: cross their edges
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(ops=operations, since=bounds, until=bounds,
           article=st.sampled_from(ARTICLES), shown=st.lists(st.sampled_from(ARTICLES), unique=True),
           start=st.integers(-1, 6), length=st.integers(0, 7))
    def check(ops: list[tuple[Any, ...]], since: Any, until: Any, article: str, shown: list[str],
              start: int, length: int) -> None:
        with fresh as store:
            async def run() -> None:
                await apply(store, ops)
                events = await everything(store, "events")
                votes = await everything(store, "votes")
                await check_daily(store, events, since, until, article)
                first = T0.date() + dt.timedelta(days=start)
                await check_days(store, events, first, first + dt.timedelta(days=length), shown)
                for zone in ZONES:
                    await check_zone(store, events, zone, since, until)
                await check_listing(store, events, votes)

            fresh.runner.run(run())

    check()


#: Back to the schema before the rollups (SQLite 2, PostgreSQL 4), votes kept (the later, empty
#: outbox goes too, so that migrating runs every version from there).
REWIND = {
    "sqlite": """
        DROP TABLE rollup_state;
        DROP TABLE daily_rollup; DROP TABLE hourly_rollup; DROP TABLE site_daily; DROP TABLE site_totals;
        DROP INDEX articles_by_wilson; DROP INDEX articles_by_total; DROP INDEX articles_by_recent;
        DROP INDEX articles_site_by_wilson; DROP INDEX articles_site_by_total; DROP INDEX articles_site_by_recent;
        ALTER TABLE articles DROP COLUMN rank_wilson; ALTER TABLE articles DROP COLUMN rank_total;
        ALTER TABLE articles DROP COLUMN rank_recent;
        DROP TABLE outbox; DROP TABLE alert_state; DROP TABLE article_about; DROP TABLE article_labels;
        PRAGMA user_version = 2;
    """,
    "postgres": """
        DROP TABLE fw_rollup_state, fw_daily, fw_hourly, fw_site_daily, fw_site_totals, fw_ranks, fw_outbox,
            fw_alert_state, fw_article_about, fw_article_labels;
        DROP FUNCTION fw_recent_key; UPDATE fw_schema SET version = 4;
    """,
}


async def answers(store: Any) -> list[Any]:
    start, end = T0.date(), T0.date() + dt.timedelta(days=5)
    return [
        await store.daily(None, None, None),
        await store.daily(None, T0 + dt.timedelta(hours=30), T0 + dt.timedelta(hours=80)),
        await store.daily_of(ARTICLES, start, end),
        await store.site_daily(start, end),
        await store.site_totals(),
        await store.counts_between(T0 + dt.timedelta(minutes=30), T0 + dt.timedelta(days=3, minutes=10)),
        *[await store.articles(order, 100, 0) for order in ORDERS],
    ]


def test_migration_builds_the_rollups_from_what_is_stored(fresh: Fresh) -> None:
    ops: list[tuple[Any, ...]] = []
    for n in range(60):
        at = T0 + dt.timedelta(hours=n * 1.7)
        article, voter = ARTICLES[n % 4], VOTERS[n % 3]
        ops.append(("cast", article, voter, "up" if n % 5 else "down", at))
        if n % 7 == 3:
            ops.append(("withdraw", article, voter, at))
        if n % 11 == 5:
            ops.append(("erase", voter, at))
    with fresh as store:
        fresh.runner.run(apply(store, ops))
        before = fresh.runner.run(answers(store))
        fresh.runner.run(store.close())
        assert fresh.backend is not None
        fresh.runner.run(fresh.backend.execute(REWIND[fresh.name]))
        store = fresh.store = fresh.backend.make()
        fresh.runner.run(store.open())
        after = fresh.runner.run(answers(store))
        if fresh.name != "sqlite":  # the migration vacuumed what it built: index-only scans need no heap
            assert fresh.runner.run(_all_visible(fresh.backend.url, "fw_hourly"))
    assert before[0] and before[4].total and after == before


async def _all_visible(url: str, table: str) -> bool:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        pages, visible = await conn.fetchrow(
            "SELECT relpages, relallvisible FROM pg_class WHERE oid = $1::regclass", table)
        return bool(pages) and visible == pages
    finally:
        await conn.close()


def test_one_fold_may_take_an_article_down_and_up(fresh: Fresh) -> None:
    """A fold whose events leave an article's "yes" count lower and its total higher (a withdrawn
    "yes", two new "no"s): PostgreSQL computes the row to insert before it finds the article's
    row, from the changes alone; that must not fail (a failing fold would stop every fold)."""
    ops: list[tuple[Any, ...]] = [
        ("cast", "a", "v1", "up", T0), ("read",),
        ("withdraw", "a", "v1", T0 + dt.timedelta(hours=1)),
        ("cast", "a", "v2", "down", T0 + dt.timedelta(hours=2)),
        ("cast", "a", "v3", "down", T0 + dt.timedelta(hours=3)),
    ]
    with fresh as store:
        fresh.runner.run(apply(store, ops))
        [listed] = fresh.runner.run(store.articles("wilson", 10, 0))
        assert (listed.up, listed.down) == (0, 2)

