"""The site-wide rollups, kept per site, equal a recount of each site's history on both stores:
for random casts, changes, withdrawals and erasures across three sites (one whose id is a
prefix of another's) at random times, read over random ranges; with ``site=None`` they are
the sum over sites. A store migrated from before sites builds them from what it holds.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedbackwidget.store import site_keys
from feedbackwidget.store.base import Row
from feedbackwidget.types import Cast

from .backends import Fresh
from .rewind import TO_BEFORE_SITES

T0 = dt.datetime(2026, 3, 27, 0, 0, tzinfo=dt.UTC)
SITES = [site_keys.DEFAULT, "north", "nor"]
ARTICLES = [site_keys.key(site, article) for site in SITES for article in ("a", "é")]
VOTERS = ["v1", "v2", "v3"]
moments = st.builds(
    lambda day, hour, minute, micro: T0 + dt.timedelta(days=day, hours=hour, minutes=minute, microseconds=micro),
    st.integers(0, 3), st.integers(0, 23), st.sampled_from([0, 29, 30, 59]), st.sampled_from([0, 1, 999999]),
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("cast"), st.sampled_from(ARTICLES), st.sampled_from(VOTERS),
                  st.sampled_from(["up", "down"]), moments),
        st.tuples(st.just("withdraw"), st.sampled_from(ARTICLES), st.sampled_from(VOTERS), moments),
        st.tuples(st.just("erase"), st.sampled_from(VOTERS), moments),
        st.tuples(st.just("read"), st.sampled_from([None, *SITES])),  # PostgreSQL folds before a read
    ),
    max_size=40,
)


async def apply(store: Any, ops: list[tuple[Any, ...]]) -> None:
    for op in ops:
        if op[0] == "cast":
            await store.cast(Cast(op[1], op[2], op[3], op[4]))
        elif op[0] == "read":
            await store.site_totals(site=op[1])
        elif op[0] == "withdraw":
            await store.withdraw(op[1], op[2], op[3])
        else:
            await store.erase(op[1], op[2])


async def everything(store: Any, kind: str) -> list[Row]:
    return [row async for batch in store.export(kind) for row in batch]


def in_site(site: str | None, key: str) -> bool:
    return site is None or site_keys.split(key)[0] == site


def recount(events: list[Row], site: str | None, since: Any = None, until: Any = None) -> Counter[Any]:
    """Votes cast or changed to each value per (UTC day, article, vote), of ``site``'s keys in ``[since, until)``."""
    counts: Counter[Any] = Counter()
    for e in events:
        if (e["action"] in ("cast", "change") and in_site(site, e["article_id"])
                and (since is None or e["at"] >= since) and (until is None or e["at"] < until)):
            counts[(e["at"].astimezone(dt.UTC).date(), e["article_id"], e["vote"])] += 1
    return counts


async def check_site(store: Any, site: str | None, events: list[Row], votes: list[Row],
                     since: Any, until: Any, start: dt.date, end: dt.date) -> None:
    totals = await store.site_totals(site=site)
    mine = [v for v in votes if in_site(site, v["article_id"])]
    assert (totals.up, totals.down) == (sum(v["vote"] == "up" for v in mine), sum(v["vote"] == "down" for v in mine))
    days: Counter[Any] = Counter()
    for (day, _, vote), n in recount(events, site).items():
        if start <= day < end:
            days[(day, vote)] += n
    got = await store.site_daily(start, end, site=site)
    assert [(r["day"], r["up"], r["down"]) for r in got] == [
        (d, days[(d, "up")], days[(d, "down")]) for d in sorted({d for d, _ in days})
    ]
    counts = recount(events, site, since, until)
    rows = sorted({(d, a) for d, a, _ in counts})
    got = await store.daily(None, since, until, site=site)
    assert [(r["day"], r["article_id"], r["up"], r["down"]) for r in got] == [
        (d, a, counts[(d, a, "up")], counts[(d, a, "down")]) for d, a in rows
    ]
    if since is not None and until is not None:
        by_article: Counter[Any] = Counter()
        for (_, a, vote), n in counts.items():
            by_article[(a, vote)] += n
        got = await store.counts_between(since, until, site=site)
        assert [(r["article_id"], r["up"], r["down"]) for r in got] == [
            (a, by_article[(a, "up")], by_article[(a, "down")]) for a in sorted({a for a, _ in by_article})
        ]


def test_site_rollups_equal_a_recount_of_each_sites_history(fresh: Fresh) -> None:
    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(ops=operations, since=st.none() | moments, until=st.none() | moments,
           start=st.integers(-1, 4), length=st.integers(0, 5))
    def check(ops: list[tuple[Any, ...]], since: Any, until: Any, start: int, length: int) -> None:
        with fresh as store:
            async def run() -> None:
                await apply(store, ops)
                events, votes = await everything(store, "events"), await everything(store, "votes")
                first = T0.date() + dt.timedelta(days=start)
                for site in [None, *SITES]:
                    await check_site(store, site, events, votes, since, until, first,
                                     first + dt.timedelta(days=length))

            fresh.runner.run(run())

    check()


def test_migration_builds_each_sites_rollups_from_what_is_stored(fresh: Fresh) -> None:
    ops: list[tuple[Any, ...]] = []
    for n in range(60):
        at = T0 + dt.timedelta(hours=n * 1.3)
        article, voter = ARTICLES[n % len(ARTICLES)], VOTERS[n % 3]
        ops.append(("cast", article, voter, "up" if n % 5 else "down", at))
        if n % 7 == 3:
            ops.append(("withdraw", article, voter, at))
        if n % 11 == 5:
            ops.append(("erase", voter, at))
        if n == 40:
            ops.append(("read", None))  # PostgreSQL: what follows is folded only after the migration
    start, end = T0.date() - dt.timedelta(days=1), T0.date() + dt.timedelta(days=5)
    with fresh as store:
        fresh.runner.run(apply(store, ops))
        fresh.runner.run(store.close())
        assert fresh.backend is not None
        fresh.runner.run(fresh.backend.execute(TO_BEFORE_SITES[fresh.name]))
        store = fresh.store = fresh.backend.make()
        fresh.runner.run(store.open())

        async def run() -> None:
            events, votes = await everything(store, "events"), await everything(store, "votes")
            assert {site_keys.split(v["article_id"])[0] for v in votes} == set(SITES)
            for site in [None, *SITES]:
                await check_site(store, site, events, votes, None, None, start, end)
            # And they are kept from then on.
            await store.cast(Cast(site_keys.key("nor", "new"), "v9", "down", T0 + dt.timedelta(days=2)))
            events, votes = await everything(store, "events"), await everything(store, "votes")
            for site in [None, *SITES]:
                await check_site(store, site, events, votes, None, None, start, end)

        fresh.runner.run(run())
