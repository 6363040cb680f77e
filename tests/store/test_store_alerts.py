"""Alerts on one hot article, on every backend: each milestone and each band entry is written
once however many casts race on the article, and casts on one article do not wait for each
other (no per-article lock; only a cast that moves the article's alert state locks its row)."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Sequence
from typing import Any

import asyncpg
import pytest

from feedbackwidget.store.outbox import AlertState, OutboxMessage
from feedbackwidget.store.pg_schema import LOCK_EVENTS, LOCK_NS
from feedbackwidget.types import Cast, Tally
from feedbackwidget.webhooks.events import MILESTONE, SENTIMENT, Rules, message_id

from .backends import Backend
from .rewind import BEFORE_SITES, TO_BEFORE_SITES

pytestmark = pytest.mark.anyio

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
MILESTONES = (1, 5, 10, 25, 50, 100, 150)
RULES = Rules(
    endpoints=("https://hooks.example/in",), slack=False, milestones=MILESTONES, below=0.4, above=None,
    min_votes=5, refusal_burst=0,
)


class Recorder:
    """The rules as a store callback, keeping the messages of its last call (the ones written)."""

    def __init__(self) -> None:
        self.last: Sequence[OutboxMessage] = []

    def __call__(self, tally: Tally, state: AlertState) -> tuple[AlertState, Sequence[OutboxMessage]]:
        after, self.last = RULES.advance(tally, state, T0)
        return after, self.last


async def test_racing_casts_on_one_article_send_each_milestone_and_band_entry_once(backend: Backend) -> None:
    stores = [backend.make(pool_max=10) for _ in range(2)]
    for s in stores:
        await s.open()
    try:
        recorders = [Recorder() for _ in range(160)]
        # Every reader says "No": the band is entered once and never left, so one entry in all.
        await asyncio.gather(*(
            stores[n % 2].cast(Cast("hot", f"v{n}", "down", T0), recorders[n]) for n in range(160)
        ))
        # A milestone two racing casts both missed is sent by the next cast on the article (here a repeat).
        catch_up = Recorder()
        await stores[0].cast(Cast("hot", "v0", "down", T0), catch_up)
        status = await stores[1].outbox_status(1000)
        written = sorted((r.type, r.message_id) for r in status.recent)
        assert written == sorted(
            [(MILESTONE, message_id(f"milestone:{m}:hot")) for m in MILESTONES]
            + [(SENTIMENT, message_id("sentiment:1:below:hot"))]
        )
        # Each was produced by one transaction: the outbox's dedupe index had nothing to drop.
        produced = [m.message_id for r in [*recorders, catch_up] for m in r.last]
        assert sorted(produced) == sorted(mid for _, mid in written)
        assert (await stores[0].tally("hot")).total == 160
    finally:
        for s in stores:
            await s.close()


@pytest.mark.parametrize("backend", ["postgres", "pgbouncer"], indirect=True)
async def test_a_cast_on_an_article_commits_while_another_cast_on_it_is_open(backend: Backend) -> None:
    entered, release = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def held_cast() -> None:
        """A repeat of v0 (it writes no counter) whose transaction stays open in its alert callback."""

        def alerts(tally: Tally, state: AlertState) -> tuple[AlertState, Sequence[OutboxMessage]]:
            entered.set()
            if not release.wait(30):
                raise TimeoutError("never released")
            return RULES.advance(tally, state, T0)

        async def run() -> None:
            store = backend.make(pool_max=1)
            await store.open()
            try:
                await store.cast(Cast("hot", "v0", "down", T0), alerts)
            finally:
                await store.close()

        try:
            asyncio.run(run())
        except BaseException as exc:  # reported by the test below, not lost in the thread
            failures.append(exc)

    store = backend.make()
    await store.open()
    holder = threading.Thread(target=held_cast)
    try:
        await store.cast(Cast("hot", "v0", "down", T0), Recorder())  # milestone 1 sent: state is 1
        holder.start()
        assert await asyncio.to_thread(entered.wait, 30), failures
        # v1's cast takes the article's tally to 2 (no milestone): it must not wait for v0's.
        other = await asyncio.wait_for(store.cast(Cast("hot", "v1", "down", T0), Recorder()), 10)
        assert other.tally == Tally("hot", 0, 2)
        conn = await asyncpg.connect(backend.url)
        try:
            advisory = await conn.fetch(
                "SELECT classid::bigint, objid::bigint, mode FROM pg_locks WHERE locktype = 'advisory' "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )  # this test's database only: the server is shared with other tests
        finally:
            await conn.close()
        # The open transaction holds the shared event lock, and no advisory lock of its article.
        assert advisory and {(r[0], r[1], r[2]) for r in advisory} == {(LOCK_NS, LOCK_EVENTS, "ShareLock")}
    finally:
        release.set()
        await asyncio.to_thread(holder.join, 30)
        await store.close()
    assert failures == []
    assert (await _outbox_ids(backend)) == [message_id("milestone:1:hot")]


async def _outbox_ids(backend: Backend) -> list[Any]:
    store = backend.make()
    await store.open()
    try:
        return [r.message_id for r in (await store.outbox_status(10)).recent]
    finally:
        await store.close()


async def test_an_upgrade_settles_the_milestones_articles_had_passed(backend: Backend) -> None:
    store = backend.make()
    await store.open()
    try:
        for n in range(12):
            await store.cast(Cast("old", f"v{n}", "up", T0))  # votes from before the alert state
    finally:
        await store.close()
    # Back to the version before the alert state (the one before the sites migration, less one).
    await backend.execute(TO_BEFORE_SITES[backend.name])
    await backend.execute("DROP TABLE alert_state" if backend.name == "sqlite" else "DROP TABLE fw_alert_state")
    await backend.set_schema_version(BEFORE_SITES[backend.name] - 1)
    store = backend.make()
    await store.open()  # migrates: "old" is settled up to its 12 votes
    try:
        quiet = Recorder()
        await store.cast(Cast("old", "v12", "up", T0), quiet)
        assert quiet.last == []  # 1, 5 and 10 were passed before: not sent now
        sent: list[str | None] = []
        for n in range(13, 26):
            recorder = Recorder()
            await store.cast(Cast("old", f"v{n}", "up", T0), recorder)
            sent += [m.dedupe for m in recorder.last]
        assert sent == ["milestone:25:old"]
    finally:
        await store.close()
