"""The PostgreSQL store: many app servers, one exact tally (asyncpg, pooled).

Writes. Each change is one transaction: the reader's current vote, one event
and the article's counters move together. Counters live in a few *slots* per
article (a writer adds to a random slot, readers sum them), so one viral
article does not make every writer queue on a single row lock.

The event cursor. Identity values are handed out when a row is inserted, not
when its transaction commits, so event 11 can become visible before event 10.
A reader that remembered "11" would then skip 10 for ever. Every writing
transaction therefore first takes a *shared* advisory lock (before it can
draw an event id) and keeps it until it ends. An events export first takes
the same lock *exclusively* for an instant: that waits for the writers in
flight, and then ``max(event_id)`` is a high-water mark below which no id can
still appear. The export hands out events up to that mark only; later ones
come with the next request. Writers wait only while an export takes its
mark, which lasts as long as the slowest transaction then in flight.

Failures. Connection errors, timeouts and server shutdowns become
:class:`~feedbackwidget.errors.StoreUnavailable`; the transaction is rolled
back (or dies with its connection), and the pool replaces its connections so
the store recovers by itself once the database answers again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import asyncpg

from ..errors import ConfigError, StoreUnavailable
from ..types import (
    ArticleId,
    ArticleSummary,
    Cast,
    CastResult,
    Tally,
    Vote,
    VoterKey,
)
from . import pg_queries as q
from .base import Row, gcra_start
from .outbox import Alerts, AlertState
from .pg_about import PgAboutQueries
from .pg_connection import (
    CONNECTION_LOST,
    RETRYABLE,
    UNAVAILABLE,
    URL_VAR,
    end_transaction,
    migrate,
    pop_options,
    roll_back,
    unavailable,
)
from .pg_export import PgExports
from .pg_outbox import CAST_AND_STATE, PgOutbox
from .pg_pooler import Connector
from .pg_retention import RetentionQueries
from .pg_rollups import RollupQueries
from .pg_schema import LOCK_EVENTS, LOCK_NS, VERSION

_PRUNE_EVERY = 30.0  # seconds between sweeps of expired rate-limit rows
_RETRIES = 5  # deadlocks and serialisation failures are retried this often


def _day(value: Any) -> dt.date:
    """A refusal row's day: a date, a datetime (its UTC day) or an ISO date string."""
    if isinstance(value, dt.datetime):
        return q.utc_day(value)
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


class PostgresStore(RollupQueries, PgExports, PgOutbox, RetentionQueries, PgAboutQueries):
    """The store for several app servers sharing one PostgreSQL database.

    ``url`` is a ``postgresql://`` DSN (query parameters that asyncpg does not
    know, such as ``search_path``, become server settings). ``pool_min`` and
    ``pool_max`` size the connection pool of this process; ``counter_slots`` is
    how many rows each article's counters are spread over; ``pooler`` (auto, on,
    off) whether a connection pooler sits in between (see pg_pooler.py). The
    timeouts are seconds: connecting, one statement, a transaction left idle.
    ``rollup_interval`` is how often (seconds) this server folds new events into
    the rollups (pg_rollups.py); 0 folds only before reads.
    """

    def __init__(
        self,
        url: str,
        *,
        pool_min: int | None = None,
        pool_max: int | None = None,
        counter_slots: int | None = None,
        connect_timeout: float = 5.0,
        command_timeout: float = 15.0,
        idle_timeout: float = 60.0,
        rollup_interval: float = 1.0,
    ) -> None:
        if url.startswith("postgres://"):
            url = "postgresql://" + url.removeprefix("postgres://")
        url, options = pop_options(url)
        pool_min = options.get("pool_min", 2) if pool_min is None else pool_min
        pool_max = options.get("pool_max", 10) if pool_max is None else pool_max
        counter_slots = options.get("counter_slots", 8) if counter_slots is None else counter_slots
        if not 1 <= counter_slots <= 1000:
            raise ConfigError(URL_VAR, "counter_slots must be between 1 and 1000")
        self.url = url
        self.pool_min = max(0, pool_min)
        self.pool_max = max(1, pool_max, self.pool_min)
        self.counter_slots = counter_slots
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self._connector = Connector.from_url(url, idle_timeout=idle_timeout)
        self._pool: Any = None
        self._secret: bytes | None = None
        self._last_prune = 0.0
        self._begin_write = f"BEGIN; SELECT pg_advisory_xact_lock_shared({LOCK_NS}, {LOCK_EVENTS})"
        self.rollup_interval = rollup_interval
        self._rollup_dirty = True
        self._rollup_at = 0.0
        self._rollup_task = None

    def __repr__(self) -> str:  # never the DSN: it may hold a password
        return f"PostgresStore(pool_max={self.pool_max}, counter_slots={self.counter_slots})"

    # -- life cycle -------------------------------------------------------

    async def open(self) -> None:
        if self._pool is not None:
            return
        await self.migrate()
        self._begin_write = f"{self._connector.begin()}; SELECT pg_advisory_xact_lock_shared({LOCK_NS}, {LOCK_EVENTS})"
        try:
            pool = await asyncpg.create_pool(
                self._connector.dsn,
                min_size=min(self.pool_min, self.pool_max),
                max_size=self.pool_max,
                timeout=self.connect_timeout,
                command_timeout=self.command_timeout,
                reset=end_transaction,
                **self._connector.pool_options(),
            )
        except UNAVAILABLE as exc:
            raise unavailable(exc) from None
        self._pool = pool
        self._start_folding()

    async def close(self) -> None:
        await self._stop_folding()
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await pool.close()
            except UNAVAILABLE:
                pool.terminate()

    async def migrate(self, target: int = VERSION) -> int:
        """Bring the database to ``target`` (default: newest); returns the version found.

        Uses a connection of its own, so it works before :meth:`open` (the
        ``migrate`` command) and never holds a pooled connection for long.
        """
        found, self._connector = await migrate(self._connector, target, self.connect_timeout)
        return found

    @property
    def pooler(self) -> bool | None:
        """True behind a connection pooler, False directly, None before the first connection."""
        return self._connector.pooler

    # -- plumbing ---------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _connection(self, single: bool = True) -> AsyncIterator[Any]:
        pool = self._pool
        if pool is None:
            raise StoreUnavailable("The vote store is closed.")
        try:
            async with pool.acquire(timeout=self.connect_timeout) as conn:
                begin = self._connector.single if single else None  # a transaction only for the URL's settings
                try:
                    if begin:
                        await conn.execute(begin)
                    yield conn
                    if begin:
                        await conn.execute("COMMIT")
                except BaseException:
                    await roll_back(conn)
                    raise
        except UNAVAILABLE as exc:
            if isinstance(exc, CONNECTION_LOST):
                # Connections opened before the database went away are dead: replace them all.
                with contextlib.suppress(Exception):
                    await pool.expire_connections()
            raise unavailable(exc) from None

    async def _write(self, work: Callable[[Any], Any]) -> Any:
        """Run ``work(conn)`` in a writing transaction (which holds the shared event lock)."""
        for attempt in range(_RETRIES):
            async with self._connection(single=False) as conn:
                try:
                    await conn.execute(self._begin_write)
                    result = await work(conn)
                    await conn.execute("COMMIT")
                    return result
                except RETRYABLE:
                    await conn.execute("ROLLBACK")
                    if attempt == _RETRIES - 1:
                        raise StoreUnavailable("The vote store is overloaded; nothing was changed.") from None
        raise AssertionError("unreachable")

    async def _statement(self, sql: str, *args: Any) -> Any:
        """One writing statement (its own transaction), retried on deadlock."""
        for attempt in range(_RETRIES):
            try:
                async with self._connection() as conn:
                    return await conn.fetchrow(sql, *args)
            except RETRYABLE:
                if attempt == _RETRIES - 1:
                    raise StoreUnavailable("The vote store is overloaded; nothing was changed.") from None
        raise AssertionError("unreachable")

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        async with self._connection() as conn:
            return list(await conn.fetch(sql, *args))

    async def _fetchrow(self, sql: str, *args: Any) -> Any:
        async with self._connection() as conn:
            return await conn.fetchrow(sql, *args)

    def _begin(self) -> str:
        return self._connector.begin()

    def _slot(self) -> int:
        return random.randrange(self.counter_slots)  # noqa: S311 - spreading load, not a secret

    # -- questions --------------------------------------------------------

    async def ping(self) -> None:
        await self._fetchrow("SELECT 1")

    async def secret(self) -> bytes:
        if self._secret is None:
            row = await self._fetchrow("SELECT value FROM fw_meta WHERE key = 'secret'")
            if row is None:
                raise StoreUnavailable("The store has no installation secret; run migrate.")
            self._secret = bytes(row[0])
        return self._secret

    async def tally(self, article_id: ArticleId) -> Tally:
        row = await self._fetchrow(q.TALLY, article_id)
        return Tally(article_id, row[0], row[1])

    async def vote_of(self, article_id: ArticleId, voter: VoterKey) -> Vote | None:
        row = await self._fetchrow(q.VOTE_OF, article_id, voter)
        return row[0] if row else None

    async def versions(self, article_id: ArticleId) -> list[Row]:
        rows = await self._fetch(q.VERSIONS, article_id)
        return [{"article_version": r[0], "up": r[1], "down": r[2]} for r in rows]

    async def article(self, article_id: ArticleId) -> ArticleSummary | None:
        r = await self._fetchrow(q.ARTICLE, article_id)
        return ArticleSummary(r[0], r[1], r[2], r[3], r[4], r[5]) if r else None

    async def reasons(
        self, article_id: ArticleId | None, since: dt.datetime | None, until: dt.datetime | None, *,
        site: str | None = None,
    ) -> list[Row]:
        sql, params = q.reasons_sql(article_id, since, until, site)
        return [{"article_id": r[0], "reason": r[1], "count": r[2]} for r in await self._fetch(sql, *params)]

    async def reason_texts(self, article_id: ArticleId, limit: int) -> list[Row]:
        # A negative limit means "all", as in SQLite (LIMIT NULL in PostgreSQL).
        rows = await self._fetch(q.REASON_TEXTS, article_id, limit if limit >= 0 else None)
        return [{"updated_at": r[0], "reason": r[1], "reason_text": r[2]} for r in rows]

    async def refusals(
        self, article_id: ArticleId | None, since: dt.datetime | None, until: dt.datetime | None, *,
        site: str | None = None,
    ) -> list[Row]:
        sql, params = q.refusals_sql(article_id, since, until, site)
        return [
            {"day": r[0], "article_id": r[1], "kind": r[2], "count": r[3]} for r in await self._fetch(sql, *params)
        ]

    async def _event_high_water(self, conn: Any) -> int:
        """The highest event id below which no transaction can still add an event."""
        await conn.execute(
            f"{self._connector.begin()}; SET LOCAL lock_timeout = '10s'; "
            f"SELECT pg_advisory_xact_lock({LOCK_NS}, {LOCK_EVENTS})"
        )
        high = await conn.fetchval("SELECT max(event_id) FROM fw_events")
        await conn.execute("COMMIT")
        return int(high or 0)

    # -- changes ----------------------------------------------------------

    async def cast(self, cast: Cast, alerts: Alerts | None = None) -> CastResult:
        args = (
            cast.article_id, cast.voter, cast.vote, cast.at, cast.version, cast.title, cast.title_trusted,
            self._slot(),
        )
        if alerts is None:
            # One statement, so one transaction and one round trip (see fw_cast in pg_schema.py).
            changed, previous, up, down = await self._statement(q.CAST, *args)
            self._rollup_dirty |= changed
            return CastResult(Tally(cast.article_id, up, down), changed=changed, previous=previous)

        async def work(conn: Any) -> CastResult:
            # The vote, the alert state and the messages it causes commit together (or not at all).
            changed, previous, up, down, *state = await conn.fetchrow(CAST_AND_STATE, *args)
            result = CastResult(Tally(cast.article_id, up, down), changed=changed, previous=previous)
            seen = AlertState() if state[0] is None else AlertState(*state)
            if alerts(result.tally, seen)[0] != seen:
                await self._alert(conn, cast.article_id, alerts)
            return result

        result: CastResult = await self._write(work)
        self._rollup_dirty |= result.changed
        return result

    async def withdraw(self, article_id: ArticleId, voter: VoterKey, at: dt.datetime) -> Tally | None:
        async def work(conn: Any) -> Tally | None:
            row = await conn.fetchrow(q.VOTE_DELETE, article_id, voter)
            if row is None:
                return None
            vote, version = row
            await self._record_removal(conn, at, article_id, voter, "withdraw", vote, version)
            counts = await conn.fetchrow(q.TALLY, article_id)
            return Tally(article_id, counts[0], counts[1])

        result: Tally | None = await self._write(work)
        self._rollup_dirty |= result is not None
        return result

    async def _record_removal(
        self, conn: Any, at: dt.datetime, article_id: ArticleId, voter: VoterKey, action: str, vote: Vote,
        version: str | None,
    ) -> None:
        """The event of a removed vote, and its counter taken back, in the caller's transaction."""
        await conn.execute(
            q.EVENT_AND_COUNT, at, article_id, voter, action, vote, version, self._slot(),
            -(vote == "up"), -(vote == "down"), None,
        )

    async def erase(self, voter: VoterKey, at: dt.datetime) -> list[ArticleId]:
        async def work(conn: Any) -> list[ArticleId]:
            rows = await conn.fetch(q.VOTER_DELETE, voter)
            for article_id, vote, version in rows:  # article order: locks always taken in one order
                await self._record_removal(conn, at, article_id, voter, "erase", vote, version)
            return [r[0] for r in rows]

        result: list[ArticleId] = await self._write(work)
        self._rollup_dirty |= bool(result)
        return result

    async def set_reason(
        self, article_id: ArticleId, voter: VoterKey, reason: str, text: str | None, at: dt.datetime
    ) -> bool:
        # One statement; no event, so no event lock. Only a current "down" vote takes a reason.
        return await self._statement(q.SET_REASON, article_id, voter, reason, text, at) is not None

    async def add_refusals(self, rows: Sequence[Row]) -> None:
        totals: dict[tuple[dt.date, str, str], int] = {}
        for row in rows:
            key = (_day(row["day"]), row["article_id"], row["kind"])
            totals[key] = totals.get(key, 0) + int(row["count"])
        if not totals:
            return
        keys = sorted(totals)
        await self._statement(
            q.ADD_REFUSALS,
            [k[0].isoformat() for k in keys],
            [k[1] for k in keys],
            [k[2] for k in keys],
            [str(totals[k]) for k in keys],
        )

    async def take(self, key: str, now: float | None, count: int, period: float) -> float:
        interval = period / count
        async with self._connection() as conn:
            clock = time.time() if now is None else now
            if clock - self._last_prune > _PRUNE_EVERY:
                self._last_prune = clock
                await conn.execute(q.RATE_PRUNE, now)
            if await conn.fetchrow(q.RATE_TAKE, key, now, interval, period) is not None:
                return 0.0
            row = await conn.fetchrow(q.RATE_TAT, key, now)
        if row is None:
            return 1e-3
        tat, at = float(row[0]), float(row[1])
        return max(gcra_start(tat, at, period) + interval - at - period, 1e-3)
