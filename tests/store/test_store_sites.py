"""Several sites in one store, on every backend: each read given ``site=`` answers for that
site's keys only (the same article ids in other sites never leak in), ``site=None`` answers
for all of them, and each site's listing pages alike by offset and by keyset."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from functools import partial
from typing import Any

import pytest

from feedbackwidget.store import site_keys
from feedbackwidget.store.base import Row
from feedbackwidget.types import ORDERS, About, AboutFilter, Cast

pytestmark = pytest.mark.anyio

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
#: The default site (bare keys), a site, and one whose id is a prefix of the other's.
SITES = [site_keys.DEFAULT, "north", "nor"]
SINCE, UNTIL = T0 - dt.timedelta(days=1), T0 + dt.timedelta(days=4)


def at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


def site_of(key: str) -> str:
    return site_keys.split(key)[0]


async def history(store: Any) -> None:
    """The same article ids in every site, with different votes, reasons, metadata and refusals."""
    for s, site in enumerate(SITES):
        for n, article in enumerate(["a", "b", "c"]):
            key = site_keys.key(site, article)
            for v in range(1 + (n + s) % 3 + s):
                vote = "up" if (v + n + s) % 3 else "down"
                await store.cast(Cast(key, f"v{v}", vote, at(v * 7 + n + s * 3.5), title=f"{site} {article}"))
                if vote == "down":
                    await store.set_reason(key, f"v{v}", "wrong", f"text {site}", at(v * 7 + n + 30))
            await store.set_about(
                key, About(section=f"s{n % 2}", authors=("ann",), tags=("t1", f"x{n}")), "embed", at(0)
            )
        await store.cast(Cast(site_keys.key(site, "a"), "v1", "down", at(50 + s)))  # a change
        await store.withdraw(site_keys.key(site, "c"), "v0", at(60 + s))
        await store.add_refusals([
            {"day": T0.date(), "article_id": site_keys.key(site, "a"), "kind": "captcha", "count": 2 + s},
            {"day": T0.date(), "article_id": site_keys.key(site, "never-voted"), "kind": "rate", "count": 1 + s},
        ])


async def rows_of(stream: Any) -> list[Row]:
    return [row async for batch in stream for row in batch]


def keys(rows: list[Row]) -> set[str]:
    return {r["article_id"] for r in rows}


async def test_each_article_read_keeps_to_its_site(store: Any) -> None:
    """Reads with a row per article (or per article and something): a site's rows are exactly
    every site's rows of that site's keys, in the same order."""
    await history(store)
    reads = {
        "daily": lambda **k: store.daily(None, None, None, **k),
        "daily partial": lambda **k: store.daily(None, at(-3), at(40), **k),
        "daily one": lambda **k: store.daily(site_keys.key("north", "a"), at(-3), at(40), **k),
        "counts_between": lambda **k: store.counts_between(at(-3.5), at(41.25), **k),
        "reasons": lambda **k: store.reasons(None, None, None, **k),
        "refusals": lambda **k: store.refusals(None, None, None, **k),
        "attention": lambda **k: store.attention(1, at(-100), below=0.99, limit=100, **k),
    }
    streams = {
        **{f"export {kind}": partial(store.export, kind) for kind in ("votes", "events", "articles", "daily", "reasons")},
        "export daily partial": lambda **k: store.export("daily", since=at(-3), until=at(40), **k),
        "export events after": lambda **k: store.export("events", after=3, **k),
        "export_articles": lambda **k: store.export_articles(None, None, None, **k),
        "export_articles filtered": lambda **k: store.export_articles(None, None, AboutFilter(tag="t1"), **k),
    }
    for name in [*reads, *streams]:
        async def read(**k: Any) -> list[Row]:
            return await reads[name](**k) if name in reads else await rows_of(streams[name](**k))  # noqa: B023

        everything = await read()
        assert {site_of(k) for k in keys(everything)} == ({"north"} if name == "daily one" else set(SITES)), name
        for site in SITES:
            assert await read(site=site) == [r for r in everything if site_of(r["article_id"]) == site], (name, site)


async def test_text_exports_keep_to_their_site(store: Any) -> None:
    await history(store)
    for kind in ("votes", "events", "reasons"):
        for site in SITES:
            lines = store.export_text(kind, "ndjson", site=site)
            if lines is None:  # a store that leaves encoding to the caller
                continue
            text = b"".join([chunk async for chunk in lines]).decode()
            rows = await rows_of(store.export(kind, site=site))
            assert text.count("\n") == len(rows) > 0, (kind, site)


async def test_refusals_of_unknown_articles_stay_in_their_site(store: Any) -> None:
    await history(store)
    for s, site in enumerate(SITES):
        got = await store.refusals(None, None, None, site=site)
        assert {(r["article_id"], r["kind"], r["count"]) for r in got} == {
            (site_keys.key(site, "a"), "captcha", 2 + s),
            (site_keys.key(site, ""), "rate", 1 + s),  # the site's own key: "" for the default site
        }


async def test_group_reads_count_their_sites_articles_only(store: Any) -> None:
    await history(store)
    articles = await rows_of(store.export_articles(None, None, None))
    days = await store.daily(None, None, None)
    start, end = T0.date() - dt.timedelta(days=1), T0.date() + dt.timedelta(days=5)
    for site in [None, *SITES]:
        mine = [a for a in articles if site is None or site_of(a["article_id"]) == site]
        for by, field in (("section", "section"), ("tag", "tags"), ("author", "authors")):
            expected: dict[str, Counter[str]] = {}
            for a in mine:
                names = [a[field]] if by == "section" else list(a[field])
                for name in names:
                    expected.setdefault(name, Counter()).update(articles=1, up=a["up"], down=a["down"])
            got = await store.groups(by, site=site)
            assert {g["name"]: (g["articles"], g["up"], g["down"]) for g in got} == {
                n: (c["articles"], c["up"], c["down"]) for n, c in expected.items()
            }, (by, site)
            names = sorted(expected)
            members = {n: {a["article_id"] for a in mine if n in ([a[field]] if by == "section" else a[field])}
                       for n in names}
            sums: dict[tuple[str, dt.date], list[int]] = {}
            for d in days:
                for n in names:
                    if d["article_id"] in members[n]:
                        sums.setdefault((n, d["day"]), [0, 0])
                        sums[(n, d["day"])][0] += d["up"]
                        sums[(n, d["day"])][1] += d["down"]
            together = await store.groups_daily(by, names, start, end, site=site)
            assert [(r["name"], r["day"], r["up"], r["down"]) for r in together] == [
                (n, day, *sums[(n, day)]) for n, day in sorted(sums)
            ], (by, site)
            for n in names:
                one = await store.group_daily(by, n, start, end, site=site)
                assert [(r["day"], r["up"], r["down"]) for r in one] == [
                    (day, *sums[(m, day)]) for m, day in sorted(sums) if m == n
                ], (by, n, site)


async def test_site_rollups_are_per_site_and_sum_to_everything(store: Any) -> None:
    await history(store)
    votes = await rows_of(store.export("votes"))
    days = await store.daily(None, None, None)
    start, end = T0.date() - dt.timedelta(days=1), T0.date() + dt.timedelta(days=5)
    for site in [None, *SITES]:
        mine = [v for v in votes if site is None or site_of(v["article_id"]) == site]
        totals = await store.site_totals(site=site)
        assert (totals.up, totals.down) == (sum(v["vote"] == "up" for v in mine),
                                           sum(v["vote"] == "down" for v in mine)), site
        per_day: dict[dt.date, list[int]] = {}
        for d in days:
            if site is None or site_of(d["article_id"]) == site:
                per_day.setdefault(d["day"], [0, 0])
                per_day[d["day"]][0] += d["up"]
                per_day[d["day"]][1] += d["down"]
        got = await store.site_daily(start, end, site=site)
        assert [(r["day"], r["up"], r["down"]) for r in got] == [(d, *per_day[d]) for d in sorted(per_day)], site
    unknown = await store.site_totals(site="south")
    assert (unknown.up, unknown.down) == (0, 0)
    assert await store.site_daily(start, end, site="south") == []


async def test_each_sites_listing_pages_by_offset_and_keyset(store: Any) -> None:
    await history(store)
    for order in ORDERS:
        everything = [s.article_id for s in await store.articles(order, 100, 0)]
        assert {site_of(k) for k in everything} == set(SITES)
        for site in SITES:
            expected = [k for k in everything if site_of(k) == site]
            assert [s.article_id for s in await store.articles(order, 100, 0, site=site)] == expected
            assert [s.article_id for s in await store.articles(order, 2, 1, site=site)] == expected[1:3]
            paged: list[str] = []
            after = None
            while page := await store.articles(order, 2, 0, after, site=site):
                paged.extend(s.article_id for s in page)
                after = page[-1].article_id
            assert paged == expected, (order, site)
            # A keyset cursor from another site's article: its place in the order, this site's rows after it.
            other = next(k for k in everything if site_of(k) != site)
            rest = [k for k in everything[everything.index(other) + 1:] if site_of(k) == site]
            assert [s.article_id for s in await store.articles(order, 100, 0, other, site=site)] == rest
