"""Retention on every backend (see conftest.py): what a sweep removes, what it never touches,
what the events cursor shows afterwards, and that of two processes only one sweeps per interval."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from feedbackwidget.retention import Policy, prune
from feedbackwidget.types import Cast, Pruned

from .backends import Backend

pytestmark = pytest.mark.anyio

T0 = dt.datetime(2026, 1, 1, 8, 0, 0, 250000, tzinfo=dt.UTC)
NOW = T0 + dt.timedelta(days=60)
ARTICLES = ("a", "b", "c")


def day(n: float) -> dt.datetime:
    return T0 + dt.timedelta(days=n)


async def collect(store: Any, kind: Any, **filters: Any) -> list[dict[str, Any]]:
    return [row async for batch in store.export(kind, **filters) for row in batch]


async def history(store: Any) -> None:
    """60 days: a reader a day votes (every third says no, with a reason and a text), some change
    their minds a day later, some withdraw; refusals are counted every day."""
    for n in range(60):
        article, voter = ARTICLES[n % 3], f"voter-{n:02d}"
        vote = "down" if n % 3 == 0 else "up"
        await store.cast(Cast(article, voter, vote, day(n)))
        if n % 5 == 1:
            vote = "down"
            await store.cast(Cast(article, voter, vote, day(n + 0.5)))
        if vote == "down":
            await store.set_reason(article, voter, "unclear", f"text {n}", day(n + 0.6))
        if n % 7 == 2:
            await store.withdraw(article, voter, day(n + 0.7))
        await store.add_refusals([{"day": day(n).date(), "article_id": article, "kind": "rate_limited", "count": n}])


async def test_a_sweep_removes_old_history_refusals_and_texts_and_keeps_votes_and_tallies(store: Any) -> None:
    await history(store)
    events, votes, articles, reasons = [await collect(store, k) for k in ("events", "votes", "articles", "reasons")]
    tallies = [await store.tally(a) for a in ARTICLES]
    refusals = await store.refusals(None, None, None)

    policy = Policy(events_days=30, refusals_days=20, reasons_days=45)
    result = await prune(store, policy, NOW)

    kept = [e for e in events if e["at"] >= NOW - dt.timedelta(days=30)]
    assert 0 < len(kept) < len(events)
    assert await collect(store, "events") == kept
    assert [e["event_id"] for e in events[: len(events) - len(kept)]] == [
        e["event_id"] for e in events if e not in kept]  # what went is the oldest run of ids
    day_cut = (NOW - dt.timedelta(days=20)).date()
    assert await store.refusals(None, None, None) == [r for r in refusals if r["day"] >= day_cut]
    text_cut = NOW - dt.timedelta(days=45)
    cleared = [r for r in reasons if r["reason_text"] is not None and r["updated_at"] < text_cut]
    assert result == Pruned(len(events) - len(kept), len(refusals) - len([r for r in refusals if r["day"] >= day_cut]),
                            len(cleared))
    assert cleared and result.refusals > 0

    # Current votes and counters: untouched, apart from the old free texts (their reason codes stay).
    assert await collect(store, "articles") == articles
    assert [await store.tally(a) for a in ARTICLES] == tallies
    assert await collect(store, "votes") == votes
    assert await collect(store, "reasons") == [{**r, "reason_text": None} if r in cleared else r for r in reasons]
    assert any(r["reason_text"] for r in reasons if r["updated_at"] >= text_cut)  # young texts stay


async def test_the_events_cursor_after_a_sweep(store: Any) -> None:
    """A consumer behind the pruned range gets everything still kept; one ahead of it sees no
    change; ids are never handed out again, even once every event has gone."""
    await history(store)
    events = await collect(store, "events")
    last = events[-1]["event_id"]
    middle = events[len(events) // 2]["event_id"]
    before_middle = await collect(store, "events", after=middle)
    await prune(store, Policy(events_days=30), NOW)
    kept = await collect(store, "events")
    assert await collect(store, "events", after=0) == kept
    assert await collect(store, "events", after=events[3]["event_id"]) == kept
    assert kept[0]["event_id"] <= middle  # the middle of the history is still there...
    assert await collect(store, "events", after=middle) == before_middle  # ...and reads the same

    result = await prune(store, Policy(events_days=1), NOW + dt.timedelta(days=400))
    assert result is not None and result.events == len(kept)
    assert await collect(store, "events") == []
    await store.cast(Cast("a", "late-reader", "up", NOW + dt.timedelta(days=400)))
    [fresh] = await collect(store, "events", after=last)
    assert fresh["event_id"] > last and fresh["voter"] == "late-reader"


async def test_never_an_event_at_or_after_the_cut_off_even_out_of_order(store: Any, backend: Backend) -> None:
    """Servers' clocks differ: an older time can follow a newer one in id order. The sweep takes
    the first run of ids before the oldest kept event and never one younger than the cut-off."""
    times = [day(1), day(40), day(2), day(41), day(3)]
    for n, at in enumerate(times):
        await store.cast(Cast("a", f"v{n}", "up", at))
    result = await prune(store, Policy(events_days=30), NOW)
    assert result is not None and result.events == 1
    assert [e["at"] for e in await collect(store, "events")] == times[1:]


async def test_a_sweep_runs_in_steps_over_a_long_history(store: Any, backend: Backend) -> None:
    many = 12_345  # more than two steps of store.retention.STEP_ROWS
    if backend.name == "sqlite":
        await backend.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 12345) "
            "INSERT INTO events (at, article_id, voter, action, vote) "
            "SELECT 1767225600000000 + i, 'bulk', 'v' || i, 'cast', 'up' FROM n")
    else:
        await backend.execute(
            "INSERT INTO fw_events (at, article_id, voter, action, vote) "
            "SELECT timestamptz '2026-01-01 00:00:00+00' + i * interval '1 microsecond', 'bulk', 'v' || i, "
            f"'cast', 'up' FROM generate_series(1, {many}) AS i")
    await store.cast(Cast("a", "recent", "up", NOW))
    result = await prune(store, Policy(events_days=7), NOW)
    assert result == Pruned(events=many)
    assert [e["voter"] for e in await collect(store, "events")] == ["recent"]


async def test_of_two_processes_one_sweeps_per_interval(store: Any, backend: Backend) -> None:
    await history(store)
    other = backend.make()
    await other.open()
    try:
        policy = Policy(events_days=30, refusals_days=30, reasons_days=30)
        tries = [prune(store if n % 2 else other, policy, NOW, every=3600) for n in range(12)]
        results = await asyncio.gather(*tries)
        swept = [r for r in results if r is not None]
        assert len(swept) == 1 and swept[0].events > 0
        assert await prune(other, policy, NOW + dt.timedelta(seconds=3599), every=3600) is None
        again = await prune(other, policy, NOW + dt.timedelta(seconds=3601), every=3600)
        assert again is not None  # its turn again
        assert await prune(store, policy, NOW + dt.timedelta(seconds=3602)) == Pruned()  # every=0: now; all done
    finally:
        await other.close()


async def test_without_a_policy_nothing_is_removed(store: Any) -> None:
    await history(store)
    events = await collect(store, "events")
    assert await prune(store, Policy(), NOW + dt.timedelta(days=9999)) == Pruned()
    assert await collect(store, "events") == events
