"""What only PostgreSQL can get wrong: upgrades of a populated database,
transactions that commit out of order, connections that die mid-write, each
directly and through PgBouncer in transaction mode."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from feedbackwidget.errors import StoreUnavailable
from feedbackwidget.store.pg_schema import VERSION
from feedbackwidget.types import Cast

from ..pgtools import Outage

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]
on_postgres = pytest.mark.parametrize("backend", ["postgres", "pgbouncer"], indirect=True)

asyncpg = pytest.importorskip("asyncpg")

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


async def events(store: Any, after: int | None = None) -> list[dict[str, Any]]:
    return [row async for batch in store.export("events", after=after) for row in batch]


async def until(condition: Callable[[], Awaitable[bool]], what: str, limit: float = 20.0) -> None:
    """Wait for a condition on the database (polling; never a fixed sleep)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not await condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.01)


async def waiting_store_backends(admin: Any, wait_event: str) -> list[int]:
    rows = await admin.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND application_name = 'feedbackwidget' AND wait_event_type = 'Lock' AND wait_event = $1",
        wait_event,
    )
    return [r["pid"] for r in rows]


@on_postgres
async def test_upgrade_from_version_1_keeps_every_vote(backend: Any) -> None:
    old = backend.make()
    assert await old.migrate(target=1) == 0
    conn = await asyncpg.connect(backend.url)
    try:
        # A populated version-1 database: counters still on the article row.
        await conn.execute(
            """
            INSERT INTO fw_articles (article_id, title, up, down, first_vote_at, last_vote_at) VALUES
                ('a', 'Old title', 2, 1, '2026-01-01T10:00Z', '2026-01-02T10:00Z'),
                ('b', NULL, 0, 0, '2026-01-01T11:00Z', '2026-01-01T11:00Z');
            INSERT INTO fw_votes (article_id, voter, vote, created_at, updated_at, article_version) VALUES
                ('a', 'v1', 'up', '2026-01-01T10:00Z', '2026-01-01T10:00Z', 'r1'),
                ('a', 'v2', 'up', '2026-01-01T11:00Z', '2026-01-01T11:00Z', NULL),
                ('a', 'v3', 'down', '2026-01-02T10:00Z', '2026-01-02T10:00Z', NULL);
            INSERT INTO fw_events (at, article_id, voter, action, vote, article_version) VALUES
                ('2026-01-01T10:00Z', 'a', 'v1', 'cast', 'up', 'r1'),
                ('2026-01-01T11:00Z', 'a', 'v2', 'cast', 'up', NULL),
                ('2026-01-01T11:00Z', 'b', 'v2', 'cast', 'up', NULL),
                ('2026-01-01T11:30Z', 'b', 'v2', 'withdraw', 'up', NULL),
                ('2026-01-02T10:00Z', 'a', 'v3', 'cast', 'down', NULL);
            """
        )
        secret = await conn.fetchval("SELECT value FROM fw_meta WHERE key = 'secret'")
    finally:
        await conn.close()

    store = backend.make()
    await store.open()
    try:
        assert await store.migrate() == VERSION  # already done by open(): nothing left
        a = await store.tally("a")
        assert (a.up, a.down) == (2, 1)
        summaries = {s.article_id: s for s in await store.articles("total", 10, 0)}
        assert summaries["a"].title == "Old title"
        assert summaries["a"].last_vote_at == dt.datetime(2026, 1, 2, 10, tzinfo=dt.UTC)
        assert summaries["a"].first_vote_at == dt.datetime(2026, 1, 1, 10, tzinfo=dt.UTC)
        assert (summaries["b"].up, summaries["b"].down) == (0, 0)
        history = await events(store)
        assert [e["event_id"] for e in history] == [1, 2, 3, 4, 5]
        assert await store.secret() == secret
        assert await store.vote_of("a", "v1") == "up"
        # Life goes on: a migrated vote moves, ids keep growing.
        moved = await store.cast(Cast("a", "v1", "down", at(0)))
        assert (moved.changed, moved.previous) == (True, "up")
        assert (moved.tally.up, moved.tally.down) == (1, 2)
        assert [e["event_id"] for e in await events(store, after=5)] == [6]
    finally:
        await store.close()


@on_postgres
async def test_a_locked_rollup_does_not_hold_up_the_migration(backend: Any) -> None:
    """After building or rebuilding the rollups, ``migrate`` vacuums them; a table that another
    session holds a lock on is skipped (SKIP_LOCKED), not waited for, and the migration reports
    its version — the others are vacuumed (all-visible) all the same."""
    store = backend.make()
    assert await store.migrate() == 0
    conn = await asyncpg.connect(backend.url)
    holder = await asyncpg.connect(backend.url)
    try:
        await conn.execute(  # back to version 9: the hour rollup's key without its counts
            "INSERT INTO fw_hourly VALUES ('2026-01-01T10:00Z', 'a', 1, 0); "
            "ALTER TABLE fw_hourly DROP CONSTRAINT fw_hourly_pkey, ADD PRIMARY KEY (hour, article_id); "
            "UPDATE fw_schema SET version = 9")
        await holder.execute("BEGIN; LOCK fw_ranks IN SHARE UPDATE EXCLUSIVE MODE")  # conflicts with VACUUM
        assert await asyncio.wait_for(backend.make().migrate(), 30) == 9
        pages, visible = await conn.fetchrow(
            "SELECT relpages, relallvisible FROM pg_class WHERE oid = 'fw_hourly'::regclass")
        assert pages and visible == pages
        assert "INCLUDE (up, down)" in await conn.fetchval(
            "SELECT pg_get_indexdef('fw_hourly_pkey'::regclass)")
    finally:
        await holder.close()
        await conn.close()


@on_postgres
async def test_event_cursor_never_skips_a_transaction_that_commits_late(store: Any, backend: Any) -> None:
    await store.cast(Cast("slow", "v0", "up", at(0), title="Old"))
    await store.cast(Cast("fast", "v0", "up", at(0)))
    cursor = (await events(store))[-1]["event_id"]

    blocker = await asyncpg.connect(backend.url)
    observer = await asyncpg.connect(backend.url)
    try:
        hold = blocker.transaction()
        await hold.start()
        await blocker.execute("SELECT 1 FROM fw_articles WHERE article_id = 'slow' FOR UPDATE")
        # This cast draws its event id, then waits for the article row (title change).
        slow = asyncio.create_task(store.cast(Cast("slow", "v1", "up", at(1), title="New", title_trusted=True)))
        await until(
            lambda: _nonempty(waiting_store_backends(observer, "transactionid")),
            "the slow cast waits on the article row",
        )
        # A later cast commits first, with a higher id.
        fast = await store.cast(Cast("fast", "v1", "down", at(2)))
        assert fast.changed
        seen = await observer.fetch(
            "SELECT event_id, article_id FROM fw_events WHERE event_id > $1 ORDER BY event_id", cursor
        )
        # The trap is real: a plain query now sees the later event and not the earlier one.
        assert [(r["event_id"], r["article_id"]) for r in seen] == [(cursor + 2, "fast")]

        export = asyncio.create_task(events(store, after=cursor))

        async def export_settled() -> bool:
            return export.done() or bool(await waiting_store_backends(observer, "advisory"))

        await until(export_settled, "the export waits for the transaction in flight, or answers")
        assert not export.done(), f"the export answered early: {export.result()}"
        await hold.commit()
        assert (await slow).changed
        got = await export
        assert [(e["event_id"], e["article_id"]) for e in got] == [(cursor + 1, "slow"), (cursor + 2, "fast")]
        assert await events(store, after=cursor + 2) == []
    finally:
        await blocker.close()
        await observer.close()


async def _nonempty(rows: Awaitable[list[int]]) -> bool:
    return bool(await rows)


@on_postgres
async def test_a_connection_dying_mid_write_leaves_nothing_and_the_store_recovers(store: Any, backend: Any) -> None:
    await store.cast(Cast("a", "v0", "up", at(0), title="Old"))
    blocker = await asyncpg.connect(backend.url)
    observer = await asyncpg.connect(backend.url)  # outside the blocker's transaction and its stats snapshot
    try:
        hold = blocker.transaction()
        await hold.start()
        await blocker.execute("SELECT 1 FROM fw_articles WHERE article_id = 'a' FOR UPDATE")
        write = asyncio.create_task(store.cast(Cast("a", "v1", "down", at(1), title="New", title_trusted=True)))
        pids: list[int] = []

        async def stuck() -> bool:
            pids[:] = await waiting_store_backends(observer, "transactionid")
            return bool(pids)

        await until(stuck, "the write is mid-transaction")
        await observer.fetchval("SELECT pg_terminate_backend($1)", pids[0])
        with pytest.raises(StoreUnavailable) as info:
            await write
        assert backend.url not in str(info.value)
        await hold.rollback()
    finally:
        await blocker.close()
        await observer.close()
    # Nothing half-written: no vote, no event, no count, no title.
    assert await store.vote_of("a", "v1") is None
    assert [(e["voter"], e["action"]) for e in await events(store)] == [("v0", "cast")]
    tally = await store.tally("a")
    assert (tally.up, tally.down) == (1, 0)
    [summary] = await store.articles("total", 1, 0)
    assert summary.title == "Old"
    # And it works again without being reopened.
    again = await store.cast(Cast("a", "v1", "down", at(2)))
    assert (again.changed, again.tally.up, again.tally.down) == (True, 1, 1)


@on_postgres
async def test_the_store_recovers_after_every_connection_is_cut(store: Any, backend: Any) -> None:
    await store.cast(Cast("a", "v0", "up", at(0)))
    admin = await asyncpg.connect(backend.url)
    try:
        cut = await admin.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = 'feedbackwidget'"
        )
        assert cut
    finally:
        await admin.close()
    outcomes: list[str] = []
    for voter in ("v1", "v2", "v3"):
        try:
            await store.cast(Cast("a", voter, "up", at(1)))
            outcomes.append("ok")
        except StoreUnavailable:
            outcomes.append("unavailable")
    assert outcomes[-1] == "ok"
    assert (await store.tally("a")).up == 1 + outcomes.count("ok")


async def test_an_unreachable_server_is_store_unavailable_without_the_password() -> None:
    from feedbackwidget.store.postgres import PostgresStore

    store = PostgresStore("postgresql://fw:hunter2@127.0.0.1:1/nowhere", connect_timeout=2)
    with pytest.raises(StoreUnavailable) as info:
        await store.open()
    assert "hunter2" not in str(info.value)
    assert "hunter2" not in repr(store)
    with pytest.raises(StoreUnavailable):
        await store.tally("a")


@on_postgres
async def test_a_hot_article_spreads_over_counter_slots(backend: Any) -> None:
    store = backend.make(counter_slots=4, pool_max=8)
    await store.open()
    try:
        await asyncio.gather(*(store.cast(Cast("hot", f"v{i}", "up", at(0))) for i in range(200)))
        conn = await asyncpg.connect(backend.url)
        try:
            slots = await conn.fetch("SELECT slot, up FROM fw_counters WHERE article_id = 'hot'")
        finally:
            await conn.close()
        assert 1 < len(slots) <= 4
        assert sum(r["up"] for r in slots) == 200
        assert (await store.tally("hot")).up == 200
    finally:
        await store.close()


def test_pool_options_come_from_arguments_or_the_url() -> None:
    from feedbackwidget.errors import ConfigError
    from feedbackwidget.store.postgres import PostgresStore

    plain = PostgresStore("postgresql://u@db/votes")
    assert (plain.pool_min, plain.pool_max, plain.counter_slots) == (2, 10, 8)
    tuned = PostgresStore("postgresql://u@db/votes?pool_max=30&sslmode=prefer&counter_slots=4&pool_min=1")
    assert (tuned.pool_min, tuned.pool_max, tuned.counter_slots) == (1, 30, 4)
    assert tuned.url == "postgresql://u@db/votes?sslmode=prefer"
    assert PostgresStore("postgresql://u@db/votes?pool_max=30", pool_max=5).pool_max == 5
    with pytest.raises(ConfigError, match="FEEDBACKWIDGET_DATABASE_URL"):
        PostgresStore("postgresql://u@db/votes?pool_max=lots")


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_the_database_going_away_and_coming_back(backend: Any) -> None:
    from urllib.parse import urlsplit, urlunsplit

    from feedbackwidget.store.postgres import PostgresStore

    parts = urlsplit(backend.url)
    outage = Outage(parts.hostname or "127.0.0.1", parts.port or 5432)
    await outage.up()
    url = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{outage.port}"))
    store = PostgresStore(url, pool_min=2, pool_max=4, connect_timeout=2)
    await store.open()
    try:
        assert (await store.cast(Cast("a", "v1", "up", at(0)))).changed
        await outage.down()
        for attempt in (
            store.cast(Cast("a", "v2", "up", at(1))),
            store.tally("a"),
            store.ping(),
            store.take("k", 1.0, 5, 60.0),
        ):
            with pytest.raises(StoreUnavailable):
                await attempt
        await outage.up()  # same port: the database is back
        assert (await store.cast(Cast("a", "v3", "up", at(2)))).changed
        await store.ping()
        assert (await store.tally("a")).up == 2  # v1 and v3; v2 was refused and left nothing
        assert await store.vote_of("a", "v2") is None
    finally:
        await store.close()
        if outage.server is not None:
            await outage.down()
