"""What each article is about, on every backend (see conftest.py): kept, replaced by the
right source only, grouped and filtered exactly as a recount from the votes says."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedbackwidget.sentiment import wilson_lower
from feedbackwidget.types import About, AboutFilter, Cast

from .backends import side_by_side

pytestmark = pytest.mark.anyio

T0 = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


async def rows_of(store: Any, **kw: Any) -> list[dict[str, Any]]:
    return [row async for batch in store.export_articles(kw.get("since"), kw.get("until"), kw.get("where"))
            for row in batch]


async def test_about_kept_and_signed_wins(store: Any) -> None:
    await store.cast(Cast("a", "v1", "up", at(0)))
    assert await store.about("a") is None and await store.about_checked("a") is None
    page = About(section="World", authors=("Ann", "Bo"), tags=("x",), published_at=at(-60),
                 headline="<b>Big</b> news")
    assert await store.set_about("a", page, "page", at(1), url="https://news.example/a")
    assert await store.about("a") == page
    assert await store.about_checked("a") == at(1)
    summary = await store.article("a")
    assert summary.title == "<b>Big</b> news"  # a headline fills an empty title, kept as text
    signed = About(section="Politics", authors=("Cy",))
    assert await store.set_about("a", signed, "embed", at(2))
    assert await store.about("a") == signed
    # A later page read never replaces signed values, but says when the page was read.
    assert not await store.set_about("a", page, "page", at(3))
    assert await store.about("a") == signed
    assert await store.about_checked("a") == at(3)
    # A page that said nothing only records the read.
    await store.cast(Cast("b", "v1", "up", at(0)))
    assert not await store.set_about("b", None, "page", at(4))
    assert await store.about("b") is None and await store.about_checked("b") == at(4)


async def test_groups_filters_attention_and_export(store: Any) -> None:
    for i, vote in enumerate(["down"] * 9 + ["up"]):
        await store.cast(Cast("bad", f"v{i}", vote, at(i)))
    for i in range(6):
        await store.cast(Cast("good", f"v{i}", "up", at(i)))
    await store.cast(Cast("other", "v1", "down", at(3)))
    await store.set_about("bad", About(section="World", authors=("Ann",), tags=("eu", "vote")), "embed", at(20))
    await store.set_about("good", About(section="World", authors=("Ann", "Bo")), "embed", at(20))
    await store.set_about("other", About(section="Sport", tags=("eu",)), "embed", at(20))

    sections = await store.groups("section")
    assert [(g["name"], g["articles"], g["up"], g["down"]) for g in sections] == [
        ("World", 2, 7, 9), ("Sport", 1, 0, 1)]
    authors = await store.groups("author", AboutFilter(section="World"))
    assert [(g["name"], g["up"], g["down"]) for g in authors] == [("Ann", 7, 9), ("Bo", 6, 0)]
    tags = await store.groups("tag", AboutFilter(author="Ann"))
    assert [(g["name"], g["up"], g["down"]) for g in tags] == [("eu", 1, 9), ("vote", 1, 9)]

    days = await store.group_daily("section", "World", T0.date(), T0.date() + dt.timedelta(days=1))
    assert days == [{"day": T0.date(), "up": 7, "down": 9}]

    need = await store.attention(5, at(-60), below=0.5)
    assert [r["article_id"] for r in need] == ["bad"]
    assert need[0]["section"] == "World"
    assert await store.attention(5, at(60)) == []  # nothing recent
    assert await store.attention(50, at(-60)) == []  # not enough votes

    rows = await rows_of(store, where=AboutFilter(tag="eu"))
    assert [(r["article_id"], r["section"], r["authors"], r["tags"]) for r in rows] == [
        ("bad", "World", ("Ann",), ("eu", "vote")), ("other", "Sport", (), ("eu",))]
    everything = await rows_of(store)
    assert [r["article_id"] for r in everything] == ["bad", "good", "other"]


names = st.sampled_from(["Ann", "Bo", "Cy", "Dé", "<b>x</b>"])
article_ids = st.sampled_from(["a1", "a2", "a3", "a4", "a5"])
histories = st.lists(
    st.tuples(article_ids, st.sampled_from(["v1", "v2", "v3", "v4"]), st.sampled_from(["up", "down", "withdraw"]),
              st.integers(0, 3 * 24 * 60)),
    max_size=25,
)
abouts = st.dictionaries(
    article_ids,
    st.builds(About, section=st.sampled_from([None, "World", "Sport"]),
              authors=st.lists(names, max_size=3, unique=True).map(tuple),
              tags=st.lists(names, max_size=3, unique=True).map(tuple)),
)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories, about=abouts)
async def test_groups_equal_a_recount_from_the_votes(pg_url: str, tmp_path_factory: Any, history: Any,
                                                     about: Any) -> None:
    """Both stores' groups, per-group days and export filters equal a recount of the same votes."""
    current: dict[tuple[str, str], str] = {}
    daily: dict[tuple[str, dt.date], list[int]] = defaultdict(lambda: [0, 0])
    async with side_by_side(pg_url, tmp_path_factory.mktemp("about"), "about") as stores:
        for article, voter, action, minute in sorted(history, key=lambda h: h[3]):
            when = at(minute)
            for store in stores:
                if action == "withdraw":
                    await store.withdraw(article, voter, when)
                else:
                    await store.cast(Cast(article, voter, action, when))
            if action == "withdraw":
                current.pop((article, voter), None)
            elif current.get((article, voter)) != action:
                current[(article, voter)] = action
                daily[(article, when.date())][action == "down"] += 1
        for store in stores:
            for article, what in about.items():
                await store.set_about(article, what, "embed", at(0))
        tallies: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for (article, _), vote in current.items():
            tallies[article][vote == "down"] += 1
        voted = {a for a, _, action, _ in history if action != "withdraw"}  # a cast makes the article's row
        for by, members in (
            ("section", lambda w: [w.section] if w.section else []),
            ("author", lambda w: list(w.authors)),
            ("tag", lambda w: list(w.tags)),
        ):
            expected: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
            for article, what in about.items():
                if article not in voted:
                    continue
                for name in members(what):
                    expected[name][0] += 1
                    expected[name][1] += tallies[article][0]
                    expected[name][2] += tallies[article][1]
            for store in stores:
                got = {g["name"]: [g["articles"], g["up"], g["down"]] for g in await store.groups(by)}
                assert got == dict(expected), (store, by)
            for store in stores:  # every group's days in one pass equal each group's own
                window = (T0.date(), T0.date() + dt.timedelta(days=4))
                together = await store.groups_daily(by, sorted(expected), *window)
                one_by_one = [{"name": n, **r} for n in sorted(expected) for r in await store.group_daily(by, n, *window)]
                assert together == one_by_one, (store, by)
            for name in expected:
                want: dict[dt.date, list[int]] = defaultdict(lambda: [0, 0])
                for (article, day), (up, down) in daily.items():
                    if name in members(about.get(article, About())):
                        want[day][0] += up
                        want[day][1] += down
                for store in stores:
                    got_days = await store.group_daily(by, name, T0.date(), T0.date() + dt.timedelta(days=4))
                    assert {r["day"]: [r["up"], r["down"]] for r in got_days} == {
                        d: v for d, v in want.items() if v != [0, 0]}
        for store in stores:
            rows = await rows_of(store, where=AboutFilter(author="Ann"))
            assert [r["article_id"] for r in rows] == sorted(
                a for a in voted if "Ann" in about.get(a, About()).authors)
            need = await store.attention(2, at(-1), below=0.5)
            assert [r["article_id"] for r in need] == [
                r for r in _attention(tallies, 2)]


def _attention(tallies: dict[str, list[int]], min_votes: int) -> list[str]:
    """The recount of "needs attention": enough votes, Wilson upper bound under one half."""
    found = []
    for article, (up, down) in tallies.items():
        total = up + down
        if total >= min_votes and 1 - wilson_lower(down, total) < 0.5:
            found.append((-wilson_lower(down, total), -total, article))
    return [a for _, _, a in sorted(found)]
