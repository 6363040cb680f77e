"""The Store protocol, run against every backend (see conftest.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from typing import Any

import pytest

from feedbackwidget.errors import SchemaTooNew
from feedbackwidget.store.base import EXPORT_COLUMNS, Row
from feedbackwidget.types import Cast, Vote

pytestmark = pytest.mark.anyio

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


async def collect(store: Any, kind: Any, **filters: Any) -> list[Row]:
    rows: list[Row] = []
    async for batch in store.export(kind, **filters):
        rows.extend(batch)
    return rows


async def events(store: Any, after: int | None = None) -> list[Row]:
    return await collect(store, "events", after=after)


# -- casting, changing, withdrawing, erasing ---------------------------------


async def test_first_vote_counts(store: Any) -> None:
    result = await store.cast(Cast("a1", "v1", "up", at(0)))
    assert result.changed is True
    assert result.previous is None
    assert (result.tally.up, result.tally.down) == (1, 0)
    assert await store.vote_of("a1", "v1") == "up"
    assert await store.vote_of("a1", "v2") is None
    tally = await store.tally("a1")
    assert (tally.article_id, tally.up, tally.down, tally.total) == ("a1", 1, 0, 1)
    assert [(e["action"], e["vote"]) for e in await events(store)] == [("cast", "up")]


async def test_unknown_article_has_empty_tally(store: Any) -> None:
    tally = await store.tally("never-voted")
    assert (tally.up, tally.down) == (0, 0)


async def test_repeating_a_vote_is_a_no_op(store: Any) -> None:
    await store.cast(Cast("a1", "v1", "up", at(0), version="r1"))
    again = await store.cast(Cast("a1", "v1", "up", at(5), version="r2"))
    assert again.changed is False
    assert again.previous == "up"
    assert (again.tally.up, again.tally.down) == (1, 0)
    assert len(await events(store)) == 1
    [vote] = await collect(store, "votes")
    assert vote["updated_at"] == at(0)
    assert vote["article_version"] == "r1"


async def test_switching_moves_the_vote(store: Any) -> None:
    await store.cast(Cast("a1", "v1", "up", at(0)))
    await store.cast(Cast("a1", "v2", "up", at(1)))
    moved = await store.cast(Cast("a1", "v1", "down", at(2), version="r2"))
    assert moved.changed is True
    assert moved.previous == "up"
    assert (moved.tally.up, moved.tally.down) == (1, 1)
    assert await store.vote_of("a1", "v1") == "down"
    history = await events(store)
    assert [(e["voter"], e["action"], e["vote"]) for e in history] == [
        ("v1", "cast", "up"),
        ("v2", "cast", "up"),
        ("v1", "change", "down"),
    ]
    assert history[-1]["article_version"] == "r2"
    votes = {v["voter"]: v for v in await collect(store, "votes")}
    assert votes["v1"]["created_at"] == at(0)
    assert votes["v1"]["updated_at"] == at(2)


async def test_withdraw_removes_the_vote_and_records_its_value(store: Any) -> None:
    await store.cast(Cast("a1", "v1", "down", at(0), version="r1"))
    await store.cast(Cast("a1", "v2", "up", at(0)))
    tally = await store.withdraw("a1", "v1", at(1))
    assert tally is not None
    assert (tally.up, tally.down) == (1, 0)
    assert await store.vote_of("a1", "v1") is None
    last = (await events(store))[-1]
    assert (last["action"], last["vote"], last["voter"], last["article_version"]) == (
        "withdraw",
        "down",
        "v1",
        "r1",
    )
    assert last["at"] == at(1)


async def test_withdraw_without_a_vote_changes_nothing(store: Any) -> None:
    await store.cast(Cast("a1", "v2", "up", at(0)))
    before = await events(store)
    assert await store.withdraw("a1", "v1", at(1)) is None
    assert await store.withdraw("elsewhere", "v1", at(1)) is None
    assert await events(store) == before
    assert (await store.tally("a1")).up == 1


async def test_erase_removes_every_vote_of_one_voter(store: Any) -> None:
    await store.cast(Cast("a1", "v1", "up", at(0)))
    await store.cast(Cast("a2", "v1", "down", at(0)))
    await store.cast(Cast("a3", "v1", "up", at(0)))
    await store.cast(Cast("a1", "v2", "up", at(0)))
    touched = await store.erase("v1", at(3))
    assert sorted(touched) == ["a1", "a2", "a3"]
    assert [(t.up, t.down) for t in [await store.tally(a) for a in ("a1", "a2", "a3")]] == [
        (1, 0),
        (0, 0),
        (0, 0),
    ]
    erased = [e for e in await events(store) if e["action"] == "erase"]
    assert sorted((e["article_id"], e["vote"]) for e in erased) == [("a1", "up"), ("a2", "down"), ("a3", "up")]
    assert all(e["voter"] == "v1" and e["at"] == at(3) for e in erased)
    assert await store.erase("v1", at(4)) == []
    assert await store.vote_of("a1", "v2") == "up"


# -- titles ------------------------------------------------------------------


async def title_of(store: Any, article_id: str) -> str | None:
    [row] = [r for r in await collect(store, "articles") if r["article_id"] == article_id]
    title: str | None = row["title"]
    return title


async def test_untrusted_title_only_fills_an_empty_one(store: Any) -> None:
    await store.cast(Cast("a1", "v1", "up", at(0)))
    assert await title_of(store, "a1") is None
    await store.cast(Cast("a1", "v2", "up", at(1), title="First"))
    assert await title_of(store, "a1") == "First"
    await store.cast(Cast("a1", "v3", "up", at(2), title="Second"))
    assert await title_of(store, "a1") == "First"


async def test_trusted_title_replaces(store: Any) -> None:
    await store.cast(Cast("a1", "v1", "up", at(0), title="<b>browser</b>"))
    await store.cast(Cast("a1", "v1", "up", at(1), title="Signed", title_trusted=True))
    assert await title_of(store, "a1") == "Signed"
    await store.cast(Cast("a1", "v2", "down", at(2), title="Later browser"))
    assert await title_of(store, "a1") == "Signed"


# -- questions ---------------------------------------------------------------


async def test_article_listing_orders(store: Any) -> None:
    # a: 8 up 2 down, b: 3 up, c: 1 up 4 down (voted last)
    for i in range(10):
        await store.cast(Cast("a", f"v{i}", "up" if i < 8 else "down", at(i)))
    for i in range(3):
        await store.cast(Cast("b", f"v{i}", "up", at(20 + i)))
    for i in range(5):
        await store.cast(Cast("c", f"v{i}", "up" if i == 0 else "down", at(40 + i)))
    wilson = [s.article_id for s in await store.articles("wilson", 10, 0)]
    total = [s.article_id for s in await store.articles("total", 10, 0)]
    recent = [s.article_id for s in await store.articles("recent", 10, 0)]
    assert wilson == ["a", "b", "c"]
    assert total == ["a", "c", "b"]
    assert recent == ["c", "b", "a"]
    assert [s.article_id for s in await store.articles("total", 1, 1)] == ["c"]
    [c] = await store.articles("recent", 1, 0)
    assert (c.up, c.down, c.total, c.first_vote_at, c.last_vote_at) == (1, 4, 5, at(40), at(44))


async def test_versions_split_current_votes_by_revision(store: Any) -> None:
    await store.cast(Cast("a", "v1", "up", at(0), version="r1"))
    await store.cast(Cast("a", "v2", "down", at(1), version="r1"))
    await store.cast(Cast("a", "v3", "up", at(2), version="r2"))
    await store.cast(Cast("a", "v4", "up", at(3)))
    rows = await store.versions("a")
    assert {r["article_version"]: (r["up"], r["down"]) for r in rows} == {
        "r1": (1, 1),
        "r2": (1, 0),
        None: (1, 0),
    }


async def test_daily_counts_casts_and_changes_on_their_day(store: Any) -> None:
    day1 = dt.datetime(2026, 3, 1, 23, 59, tzinfo=dt.UTC)
    day2 = dt.datetime(2026, 3, 2, 0, 1, tzinfo=dt.UTC)
    await store.cast(Cast("a", "v1", "up", day1))
    await store.cast(Cast("a", "v2", "up", day1))
    await store.cast(Cast("a", "v1", "down", day2))
    await store.withdraw("a", "v2", day2)
    await store.cast(Cast("b", "v1", "down", day2))
    rows = await store.daily(None, None, None)
    assert [(r["day"], r["article_id"], r["up"], r["down"]) for r in rows] == [
        (dt.date(2026, 3, 1), "a", 2, 0),
        (dt.date(2026, 3, 2), "a", 0, 1),
        (dt.date(2026, 3, 2), "b", 0, 1),
    ]
    only_a = await store.daily("a", day2, None)
    assert [(r["day"], r["up"], r["down"]) for r in only_a] == [(dt.date(2026, 3, 2), 0, 1)]
    assert await collect(store, "daily", until=day2) == [rows[0]]


async def test_export_rows_have_the_documented_columns(store: Any) -> None:
    await store.cast(Cast("a", "v1", "up", at(0), version="r1", title="T"))
    await store.cast(Cast("a", "v1", "down", at(1), version="r2"))
    await store.cast(Cast("b", "v2", "up", at(2)))
    for kind in ("votes", "events", "daily"):
        for row in await collect(store, kind):
            assert tuple(row) == EXPORT_COLUMNS[kind], kind
    for row in await collect(store, "articles"):
        assert set(row) == {"article_id", "title", "up", "down", "first_vote_at", "last_vote_at"}
    votes = await collect(store, "votes")
    assert [(v["article_id"], v["vote"], v["voter"], v["article_version"]) for v in votes] == [
        ("a", "down", "v1", "r2"),
        ("b", "up", "v2", None),
    ]
    arts = await collect(store, "articles")
    assert [(a["article_id"], a["title"], a["up"], a["down"]) for a in arts] == [("a", "T", 0, 1), ("b", None, 1, 0)]
    assert (arts[0]["first_vote_at"], arts[0]["last_vote_at"]) == (at(0), at(1))


async def test_export_time_filters(store: Any) -> None:
    for i in range(6):
        await store.cast(Cast("a", f"v{i}", "up", at(i * 10)))
    votes = await collect(store, "votes", since=at(10), until=at(40))
    assert sorted(v["voter"] for v in votes) == ["v1", "v2", "v3"]
    history = await collect(store, "events", since=at(20))
    assert [e["voter"] for e in history] == ["v2", "v3", "v4", "v5"]
    assert [a["article_id"] for a in await collect(store, "articles", since=at(50))] == ["a"]
    assert await collect(store, "articles", until=at(50)) == []


async def test_export_streams_in_bounded_batches(store: Any) -> None:
    for i in range(2500):
        await store.cast(Cast(f"a{i % 7}", f"v{i}", "up", at(0)))
    sizes = [len(batch) async for batch in store.export("votes")]
    assert sum(sizes) == 2500
    assert len(sizes) >= 3
    assert max(sizes) <= 1000


# -- the event cursor ----------------------------------------------------------


async def test_event_cursor_returns_exactly_the_unseen_events(store: Any) -> None:
    await store.cast(Cast("a", "v1", "up", at(0)))
    await store.cast(Cast("a", "v2", "down", at(1)))
    first = await events(store)
    ids = [e["event_id"] for e in first]
    assert ids == sorted(ids) and len(set(ids)) == 2
    cursor = ids[-1]
    assert await events(store, after=cursor) == []
    await store.cast(Cast("a", "v1", "down", at(2)))
    await store.withdraw("a", "v2", at(3))
    await store.erase("v1", at(4))
    later = await events(store, after=cursor)
    assert [e["action"] for e in later] == ["change", "withdraw", "erase"]
    assert all(e["event_id"] > cursor for e in later)
    assert await events(store) == first + later
    assert await events(store, after=later[0]["event_id"]) == later[1:]


# -- many writers at once ------------------------------------------------------


async def test_counters_never_drift_under_concurrent_writers(store: Any) -> None:
    rng = random.Random(7)
    voters = [f"v{i}" for i in range(150)]
    choices: list[Vote] = ["up", "down"]

    async def reader(voter: str) -> None:
        for step in range(4):
            roll = rng.random()
            if roll < 0.15:
                await store.withdraw("hot", voter, at(step))
            else:
                await store.cast(Cast("hot", voter, rng.choice(choices), at(step)))

    async def same_voter_race(voter: str) -> None:
        # Two servers receiving opposite votes of one reader at the same time.
        await asyncio.gather(
            store.cast(Cast("hot", voter, "up", at(9))),
            store.cast(Cast("hot", voter, "down", at(9))),
        )

    await asyncio.gather(*(reader(v) for v in voters), *(same_voter_race(f"r{i}") for i in range(50)))

    votes = await collect(store, "votes")
    tally = await store.tally("hot")
    assert tally.up == sum(v["vote"] == "up" for v in votes)
    assert tally.down == sum(v["vote"] == "down" for v in votes)
    assert len([v for v in votes if v["voter"].startswith("r")]) == 50
    # Replaying the history gives exactly the current state.
    state: dict[str, str] = {}
    for e in await events(store):
        if e["action"] in ("cast", "change"):
            assert (e["action"] == "cast") == (e["voter"] not in state)
            state[e["voter"]] = e["vote"]
        else:
            assert state.pop(e["voter"]) == e["vote"]
    assert state == {v["voter"]: v["vote"] for v in votes}
    [summary] = await store.articles("total", 5, 0)
    assert (summary.up, summary.down) == (tally.up, tally.down)


# -- rate limiting -------------------------------------------------------------


async def test_rate_limit_allows_count_per_period_then_says_how_long(store: Any) -> None:
    now = 1_000_000.0
    assert [await store.take("k", now, 3, 60.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = await store.take("k", now, 3, 60.0)
    assert 19.0 < wait <= 20.0 + 1e-6
    assert await store.take("other", now, 3, 60.0) == 0.0
    assert await store.take("k", now + 20.0, 3, 60.0) == 0.0
    assert await store.take("k", now + 20.0, 3, 60.0) > 0.0
    assert await store.take("k", now + 1000.0, 3, 60.0) == 0.0


async def test_rate_limit_state_from_a_server_whose_clock_runs_ahead(store: Any) -> None:
    """State dated further ahead than this server could have written came from a server whose
    clock runs ahead: it is read as absent, so nobody is locked out for as long as the skew."""
    fast, slow = 1_000_300.0, 1_000_000.0  # clocks five minutes apart
    assert await store.take("k", fast, 30, 60.0) == 0.0
    assert await store.take("k", slow, 30, 60.0) == 0.0  # was refused for ~4 minutes
    assert await store.take("k", fast, 30, 60.0) == 0.0
    # Within one period of this clock the state counts as usual: a burst is still a burst.
    assert [await store.take("b", slow, 2, 60.0) for _ in range(2)] == [0.0, 0.0]
    wait = await store.take("b", slow, 2, 60.0)
    assert 29.0 < wait <= 30.0 + 1e-6


async def test_rate_limit_uses_the_stores_own_clock_when_not_told(store: Any) -> None:
    assert [await store.take("own", None, 2, 3600.0) for _ in range(2)] == [0.0, 0.0]
    wait = await store.take("own", None, 2, 3600.0)
    assert 1790.0 < wait <= 1800.0 + 1e-6


async def test_rate_limit_is_shared_by_two_store_instances(store: Any, backend: Any) -> None:
    other = backend.make()
    await other.open()
    try:
        now = 2_000_000.0
        results = [await (store if i % 2 else other).take("shared", now, 4, 60.0) for i in range(6)]
        assert results[:4] == [0.0] * 4
        assert all(r > 0 for r in results[4:])
    finally:
        await other.close()


async def test_rate_limit_state_stays_bounded(store: Any, backend: Any) -> None:
    now = 3_000_000.0
    for i in range(50):
        await store.take(f"burst{i}", now, 5, 10.0)
    # Much later every old key has expired; a sweep removes them.
    for i in range(3):
        await store.take(f"late{i}", now + 3600.0 + i, 5, 10.0)
    assert await count_rate_rows(backend) <= 3


async def count_rate_rows(backend: Any) -> int:
    if backend.name == "sqlite":
        import sqlite3

        conn = sqlite3.connect(backend.url.removeprefix("sqlite:///"))
        try:
            return int(conn.execute("SELECT count(*) FROM rate_limits").fetchone()[0])
        finally:
            conn.close()
    import asyncpg

    conn = await asyncpg.connect(backend.url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM fw_rate"))
    finally:
        await conn.close()


# -- life cycle ----------------------------------------------------------------


async def test_secret_is_random_stable_and_shared(store: Any, backend: Any) -> None:
    secret = await store.secret()
    assert isinstance(secret, bytes) and len(secret) >= 32
    assert secret != bytes(len(secret))
    other = backend.make()
    await other.open()
    try:
        assert await other.secret() == secret
    finally:
        await other.close()


async def test_everything_survives_a_restart(store: Any, backend: Any) -> None:
    await store.cast(Cast("a", "v1", "up", at(0), title="T"))
    await store.cast(Cast("a", "v2", "down", at(1)))
    await store.cast(Cast("a", "v2", "up", at(2)))
    before = {kind: await collect(store, kind) for kind in EXPORT_COLUMNS}
    secret = await store.secret()
    await store.close()
    again = backend.make()
    await again.open()
    try:
        assert {kind: await collect(again, kind) for kind in EXPORT_COLUMNS} == before
        assert await again.secret() == secret
        assert (await again.tally("a")).up == 2
        assert (await again.cast(Cast("a", "v2", "up", at(3)))).changed is False
    finally:
        await again.close()
        await store.open()  # the fixture closes it


async def test_opening_twice_at_once_migrates_once(backend: Any) -> None:
    stores = [backend.make(), backend.make()]
    try:
        await asyncio.gather(*(s.open() for s in stores))
        assert await stores[0].secret() == await stores[1].secret()
        await stores[0].cast(Cast("a", "v1", "up", at(0)))
        assert (await stores[1].tally("a")).up == 1
    finally:
        for s in stores:
            await s.close()


async def test_a_newer_schema_is_refused(store: Any, backend: Any) -> None:
    await store.close()
    await backend.set_schema_version(99)
    newer = backend.make()
    with pytest.raises(SchemaTooNew) as info:
        await newer.open()
    assert info.value.found == 99
    assert "99" in str(info.value)
    await newer.close()
    await backend.set_schema_version(info.value.supported)
    await store.open()
    await store.ping()
