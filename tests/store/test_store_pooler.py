"""The PostgreSQL store through a connection pooler: a real PgBouncer (Debian's
1.18, which keeps no prepared statements in transaction mode and refuses
startup parameters it does not know) in transaction and session mode.

The whole contract suite also runs through transaction mode (the ``pgbouncer``
backend of conftest.py); these are the things only a pooler can get wrong:
detection, state left on a server connection, settings that must hold in every
transaction, timeouts, and migrations that must take turns.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import secrets
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from feedbackwidget.errors import ConfigError, StoreUnavailable
from feedbackwidget.store.base import EXPORT_COLUMNS, TEXT_KINDS
from feedbackwidget.store.pg_pooler import Connector, literal
from feedbackwidget.store.pg_schema import LOCK_MIGRATE, LOCK_NS, VERSION
from feedbackwidget.types import Cast

from ..pgtools import Outage, PgBouncer, execute, fresh_database, own_role

pytestmark = [pytest.mark.postgres]
asyncpg = pytest.importorskip("asyncpg")

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
#: What PgBouncer itself sets on a server connection for each client it links to it.
POOLER_KEPT = {"application_name", "client_encoding", "DateStyle", "TimeZone", "standard_conforming_strings"}


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def database_of(url: str) -> str:
    return urlsplit(url).path[1:]


def with_query(url: str, query: str) -> str:
    return urlunsplit(urlsplit(url)._replace(query=query))


async def until(condition: Callable[[], Awaitable[bool]], what: str, limit: float = 20.0) -> None:
    """Wait for a condition on the database (polling; never a fixed sleep)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not await condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.01)


async def add_events(url: str, article: str, count: int) -> None:
    """``count`` history events written straight into the tables (set-up only)."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "INSERT INTO fw_events (at, article_id, voter, action, vote) "
            "SELECT $1, $2, 'bulk-' || i, 'cast', 'up' FROM generate_series(1, $3) AS i",
            T0, article, count,
        )
    finally:
        await conn.close()


@pytest.fixture
def schema(pg_url: str) -> Iterator[str]:
    """A fresh schema in the session's database, named by ``search_path`` on the URL."""
    name = "p_" + secrets.token_hex(6)
    asyncio.run(execute(pg_url, f"CREATE SCHEMA {name}"))
    try:
        yield name
    finally:
        asyncio.run(execute(pg_url, f"DROP SCHEMA {name} CASCADE"))


# -- the URL option ------------------------------------------------------------


def test_the_pooler_option_and_the_settings_come_from_the_url() -> None:
    from feedbackwidget.store.postgres import PostgresStore

    c = Connector.from_url(
        "postgresql://u@db/v?sslmode=require&search_path=a,b&pooler=ON&application_name=x&search_path=c&lock_timeout=1s"
    )
    assert c.dsn == "postgresql://u@db/v?sslmode=require"
    assert c.settings == (("search_path", "c"), ("lock_timeout", "1s"))  # the last one wins, as in asyncpg
    assert c.pooler is True
    for written, meant in (
        ("auto", None), ("off", False), ("No", False), (" true ", True), ("1", True), ("Transaction", True),
        ("session", True),
    ):
        assert Connector.from_url(f"postgresql://u@db/v?pooler={written}").pooler is meant, written
    assert Connector.from_url("postgresql://u@db/v").pooler is None
    for bad in ("maybe", "", "statement"):
        with pytest.raises(ConfigError, match=r"FEEDBACKWIDGET_DATABASE_URL.*(pooler|pooling)"):
            PostgresStore(f"postgresql://u@db/v?pool_max=3&pooler={bad}")
    assert literal("it's") == "'it''s'"
    assert literal("a\\b'") == "E'a\\\\b'''"
    with pytest.raises(ConfigError):
        literal("a\x00b")


# -- detection -----------------------------------------------------------------


@pytest.mark.anyio
async def test_a_pooler_is_detected_and_a_relay_is_not(
    pg_url: str, schema: str, pgbouncer: PgBouncer, pgbouncer_session_mode: PgBouncer
) -> None:
    from feedbackwidget.store.postgres import PostgresStore

    parts = urlsplit(pg_url)
    relay = Outage(parts.hostname or "127.0.0.1", parts.port or 5432)
    await relay.up()
    via_relay = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{relay.port}"))
    path = f"search_path={schema}"
    cases = [
        (with_query(pg_url, path), False),
        (with_query(via_relay, path), False),  # one client connection is one server connection: direct
        (pgbouncer.url(database_of(pg_url), query=path), True),
        (pgbouncer_session_mode.url(database_of(pg_url), query=path), True),
        (with_query(pg_url, path + "&pooler=on"), True),  # the URL decides
        (with_query(via_relay, path + "&pooler=off"), False),
    ]
    try:
        for url, pooled in cases:
            store = PostgresStore(url, pool_min=1)
            assert store.pooler is (pooled if "pooler=" in url else None)  # known before connecting?
            await store.open()
            try:
                assert store.pooler is pooled, url
                assert (await store.cast(Cast("a", secrets.token_hex(4), "up", at(0)))).changed
            finally:
                await store.close()
    finally:
        await relay.down()


# -- nothing left behind on a server connection ----------------------------------


async def workload(url: str) -> None:
    """Every kind of call the store makes."""
    from feedbackwidget.store.postgres import PostgresStore

    store = PostgresStore(url, pool_min=1, pool_max=3)
    await store.open()
    try:
        await store.cast(Cast("a", "v1", "up", at(0), title="T", version="r1"))
        await store.cast(Cast("a", "v1", "down", at(1)))
        await store.cast(Cast("a", "v2", "down", at(1)))
        await store.cast(Cast("b", "v2", "up", at(2)))
        assert await store.set_reason("a", "v2", "unclear", "why", at(3))
        assert await store.withdraw("a", "v1", at(4)) is not None
        assert await store.erase("v2", at(5)) == ["a", "b"]
        await store.cast(Cast("a", "v3", "up", at(6)))
        await store.add_refusals([{"day": T0.date(), "article_id": "a", "kind": "captcha_failed", "count": 2}])
        assert await store.take("k", 1.0, 5, 60.0) == 0.0
        await store.tally("a")
        await store.vote_of("a", "v3")
        await store.articles("wilson", 10, 0)
        await store.article("a")
        await store.versions("a")
        await store.daily(None, None, None)
        await store.reasons(None, None, None)
        await store.reason_texts("a", -1)
        await store.refusals(None, None, None)
        await store.secret()
        await store.ping()
        for kind in EXPORT_COLUMNS:
            [row async for batch in store.export(kind) for row in batch]
            if kind in TEXT_KINDS:
                [chunk async for chunk in store.export_text(kind, "ndjson")]  # type: ignore[union-attr]
        assert [row async for batch in store.export("events", after=2) for row in batch]
    finally:
        await store.close()


async def server_state(url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(url, statement_cache_size=0)
    try:
        row = await conn.fetchrow(
            """
            SELECT pg_backend_pid() AS pid,
                   (SELECT count(*) FROM pg_prepared_statements) AS statements,
                   (SELECT count(*) FROM pg_cursors WHERE name <> '') AS cursors,  -- '': this query's own
                   (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) AS locks,
                   (SELECT count(*) FROM pg_listening_channels()) AS channels,
                   pg_my_temp_schema() <> 0 AS temporary,
                   array(SELECT name FROM pg_settings WHERE source = 'session' ORDER BY name) AS settings
            """
        )
        return dict(row)
    finally:
        await conn.close()


@pytest.mark.parametrize("settings", ["none", "in the url"])
def test_nothing_outlives_a_transaction_on_the_server_connection(pg_url: str, settings: str) -> None:
    """Through one PgBouncer server connection that every client shares, after every kind of
    call: no prepared statement, cursor, advisory lock, LISTEN, temporary table or session
    setting of the store is left on it for the next client."""
    role = "a_" + secrets.token_hex(6)
    with own_role(pg_url, role), PgBouncer("transaction", default_pool_size=1) as bouncer:
        query = f"search_path={role}&lock_timeout=5s" if settings == "in the url" else ""
        url = bouncer.url(database_of(pg_url), role, query)

        async def scenario() -> dict[str, Any]:
            await workload(url)
            return await server_state(bouncer.url(database_of(pg_url), role))

        state = asyncio.run(scenario())

        async def server_connections() -> list[int]:
            conn = await asyncpg.connect(pg_url)
            try:
                return [r[0] for r in await conn.fetch("SELECT pid FROM pg_stat_activity WHERE usename = $1", role)]
            finally:
                await conn.close()

        # One server connection served the whole workload, and the check ran on it.
        assert asyncio.run(server_connections()) == [state.pop("pid")]
    assert set(state.pop("settings")) <= POOLER_KEPT
    assert state == {"statements": 0, "cursors": 0, "locks": 0, "channels": 0, "temporary": False}


# -- settings and timeouts that must hold in each transaction --------------------


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["session", "transaction"])
async def test_url_settings_apply_in_every_transaction_through_either_pool_mode(
    mode: str, request: pytest.FixtureRequest, pg_url: str, schema: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A smoke set (migrate, cast, tally, export cursor) with ``search_path`` and
    ``lock_timeout`` on the URL, which PgBouncer would refuse as startup parameters.
    Transactions cut short go back to the pool rolled back (asyncpg logs others as errors)."""
    from feedbackwidget.store.postgres import PostgresStore

    bouncer: PgBouncer = request.getfixturevalue("pgbouncer_session_mode" if mode == "session" else "pgbouncer")
    direct = with_query(pg_url, f"search_path={schema}")
    store = PostgresStore(bouncer.url(database_of(pg_url), query=f"search_path={schema}&lock_timeout=300ms"),
                          command_timeout=60)
    assert await store.migrate() == 0
    await store.open()
    try:
        assert store.pooler is True
        assert await store.migrate() == VERSION  # nothing left to do
        assert (await store.cast(Cast("a", "v1", "up", at(0), title="Old"))).changed
        moved = await store.cast(Cast("a", "v1", "down", at(1)))
        assert (moved.previous, moved.tally.up, moved.tally.down) == ("up", 0, 1)
        await add_events(direct, "a", 2500)
        events = [row async for batch in store.export("events") for row in batch]
        assert len(events) == 2502 and [e["event_id"] for e in events] == list(range(1, 2503))
        csv = b"".join([chunk async for chunk in store.export_text("events", "csv")])  # type: ignore[union-attr]
        assert csv.count(b"\n") == 2502  # rows only: the header is the encoder's
        assert [e["event_id"] for e in [r async for b in store.export("events", after=2500) for r in b]] == [2501, 2502]
        partial = store.export("votes")
        await partial.__anext__()
        await partial.aclose()  # a reader that stops after the first batch

        # lock_timeout holds inside the store's own transaction: a cast that waits on a row gives up.
        blocker = await asyncpg.connect(direct)
        try:
            hold = blocker.transaction()
            await hold.start()
            await blocker.execute("SELECT 1 FROM fw_articles WHERE article_id = 'a' FOR UPDATE")
            with pytest.raises(StoreUnavailable, match="LockNotAvailableError"):
                await store.cast(Cast("a", "v2", "up", at(2), title="New", title_trusted=True))
            await hold.rollback()
        finally:
            await blocker.close()
        assert await store.vote_of("a", "v2") is None
    finally:
        await store.close()
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def store_backends(observer: Any, state: str) -> list[int]:
    rows = await observer.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND application_name = 'feedbackwidget' AND state = $1",
        state,
    )
    return [r[0] for r in rows]


@pytest.mark.anyio
@pytest.mark.parametrize("backend", ["postgres", "pgbouncer"], indirect=True)
async def test_a_transaction_left_idle_is_ended_by_the_server(backend: Any) -> None:
    """The idle-in-transaction bound, a session setting directly, holds through the pooler too."""
    store = backend.make(idle_timeout=0.5)
    await store.open()
    observer = await asyncpg.connect(backend.url)
    export = store.export("events")
    try:
        await store.cast(Cast("a", "v0", "up", at(0)))
        await add_events(backend.url, "a", 2500)
        others = set(await store_backends(observer, "idle in transaction"))
        assert len(await export.__anext__()) == 1000  # the export's transaction now waits for us
        idle: set[int] = set()

        async def left_idle() -> bool:
            idle.update(set(await store_backends(observer, "idle in transaction")) - others)
            return bool(idle)

        await until(left_idle, "the export's transaction is idle")

        async def ended() -> bool:  # the backend is gone, not merely busy with the next batch
            alive = await observer.fetch("SELECT pid FROM pg_stat_activity WHERE pid = any($1::int[])", list(idle))
            return not alive

        await until(ended, "the server ends the idle transaction and its session")
        with pytest.raises(StoreUnavailable):
            async for _ in export:
                pass
        assert (await store.cast(Cast("a", "v1", "up", at(1)))).changed  # and the store goes on
    finally:
        await export.aclose()
        await observer.close()
        await store.close()


@pytest.mark.anyio
@pytest.mark.parametrize("backend", ["postgres", "pgbouncer"], indirect=True)
async def test_a_statement_past_the_command_timeout_is_cancelled_on_the_server(backend: Any) -> None:
    """The client-side statement timeout cancels the server's work, through the pooler too:
    otherwise the refused vote would still be written once the lock is free."""
    store = backend.make(command_timeout=0.5)
    await store.open()
    blocker = await asyncpg.connect(backend.url)
    observer = await asyncpg.connect(backend.url)  # outside the blocker's transaction and its stats snapshot
    try:
        await store.cast(Cast("a", "v0", "up", at(0), title="Old"))
        hold = blocker.transaction()
        await hold.start()
        await blocker.execute("SELECT 1 FROM fw_articles WHERE article_id = 'a' FOR UPDATE")
        with pytest.raises(StoreUnavailable, match="TimeoutError"):
            await store.cast(Cast("a", "v1", "down", at(1), title="New", title_trusted=True))

        async def nobody_waits() -> bool:
            rows = await observer.fetch(
                "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
                "AND application_name = 'feedbackwidget' AND wait_event_type = 'Lock'"
            )
            return not rows

        await until(nobody_waits, "the cancelled cast stops waiting on the server")
        await hold.rollback()
        assert await store.vote_of("a", "v1") is None
        assert (await store.tally("a")).down == 0
    finally:
        await blocker.close()
        await observer.close()
        await store.close()


# -- migrations take turns -----------------------------------------------------


@pytest.fixture
def empty_database() -> Iterator[str]:
    with fresh_database("fw_migrate_") as url:
        yield url


def test_two_migrate_processes_take_turns_through_transaction_pooling(empty_database: str, pgbouncer: PgBouncer) -> None:
    """Two ``feedbackwidget migrate`` processes at once, through PgBouncer in transaction mode
    (where a session advisory lock would stay behind on a server connection): both wait for
    the migration lock, then apply each version once between them, and leave no lock."""
    via_pooler = pgbouncer.url(database_of(empty_database))
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FEEDBACKWIDGET_")}

    async def scenario() -> list[tuple[int, str, str]]:
        holder = await asyncpg.connect(empty_database)
        observer = await asyncpg.connect(empty_database)  # outside the holder's transaction and its stats snapshot
        try:
            await holder.execute(f"BEGIN; SELECT pg_advisory_xact_lock({LOCK_NS}, {LOCK_MIGRATE})")
            processes = [
                subprocess.Popen(
                    [sys.executable, "-m", "feedbackwidget.cli", "migrate", "--database-url", via_pooler],
                    env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                )
                for _ in range(2)
            ]
            try:

                async def both_wait() -> bool:
                    for process in processes:
                        if process.poll() is not None:
                            raise AssertionError(f"migrate ended early: {process.communicate()}")
                    waiting = await observer.fetchval(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
                    )
                    return bool(waiting == 2)

                await until(both_wait, "both migrations wait for the lock", limit=60)
                await holder.execute("COMMIT")
                ends = [await asyncio.to_thread(p.communicate, timeout=60) for p in processes]
                return [(p.returncode, out, err) for p, (out, err) in zip(processes, ends, strict=True)]
            finally:
                for process in processes:
                    if process.poll() is None:
                        process.kill()
                        process.wait()
        finally:
            await holder.close()
            await observer.close()

    async def outcome() -> tuple[int, int, int]:
        conn = await asyncpg.connect(empty_database)
        try:
            return (
                await conn.fetchval("SELECT version FROM fw_schema"),
                await conn.fetchval("SELECT count(*) FROM fw_meta WHERE key = 'secret'"),
                await conn.fetchval(
                    "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                    "WHERE l.locktype = 'advisory' AND d.datname = current_database()"
                ),
            )
        finally:
            await conn.close()

    results = asyncio.run(scenario())
    for status, out, err in results:
        assert status == 0 and "up to date" in out and err == "", (out, err)
    assert asyncio.run(outcome()) == (VERSION, 1, 0)
