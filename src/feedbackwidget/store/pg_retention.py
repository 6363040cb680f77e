"""Retention steps of the PostgreSQL store (the sweep itself: store/retention.py).

The turn to sweep is claimed under a transaction-scoped advisory lock, tried
and never waited for (a server that finds it taken leaves the sweep to the
holder), and recorded in ``fw_meta`` (key ``pruned_at``, microseconds) in the
same transaction: of any number of servers, one sweeps per ``every`` seconds.
Each step is one statement, so one short transaction; deleting history needs
no event lock (it draws no event id), and the events export reads a snapshot.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from .pg_pooler import Connector
from .pg_schema import LOCK_NS
from .retention import Sweeping

#: The advisory lock key of a sweep's claim (with LOCK_NS; 1 and 2 are the migration and event locks).
LOCK_RETENTION = 14

_LAST = "SELECT convert_from(value, 'UTF8')::bigint FROM fw_meta WHERE key = 'pruned_at'"
_RECORD = (
    "INSERT INTO fw_meta (key, value) VALUES ('pruned_at', convert_to($1::text, 'UTF8')) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
_FIRST_KEPT = "SELECT event_id FROM fw_events WHERE at >= $1 ORDER BY at LIMIT 1"
_PAST_LAST = "SELECT coalesce(max(event_id), 0) + 1 FROM fw_events"
_DELETE_EVENTS = (
    "WITH gone AS (DELETE FROM fw_events WHERE event_id IN (SELECT event_id FROM fw_events "
    "WHERE event_id < $1 AND at < $2 ORDER BY event_id LIMIT $3) RETURNING 1) SELECT count(*) FROM gone"
)
_DELETE_REFUSALS = "WITH gone AS (DELETE FROM fw_refusals WHERE day < $1 RETURNING 1) SELECT count(*) FROM gone"
_CLEAR_TEXTS = (
    "WITH gone AS (UPDATE fw_votes SET reason_text = NULL WHERE reason IS NOT NULL AND reason_text IS NOT NULL "
    "AND updated_at < $1 RETURNING 1) SELECT count(*) FROM gone"
)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _us(at: dt.datetime) -> int:
    return (at - _EPOCH) // dt.timedelta(microseconds=1)


class RetentionQueries(Sweeping):
    """Mixed into :class:`~feedbackwidget.store.postgres.PostgresStore`."""

    _connector: Connector
    _connection: Callable[..., contextlib.AbstractAsyncContextManager[Any]]
    _statement: Callable[..., Awaitable[Any]]

    async def claim_sweep(self, now: dt.datetime, every: float, events_before: dt.datetime | None) -> int | None:
        async with self._connection(single=False) as conn:
            await conn.execute(self._connector.begin())
            async with _ending(conn):
                if not await conn.fetchval(f"SELECT pg_try_advisory_xact_lock({LOCK_NS}, {LOCK_RETENTION})"):
                    return None  # another server is claiming this very moment
                last = await conn.fetchval(_LAST)
                if last is not None and 0 <= _us(now) - int(last) < every * 1e6:
                    return None
                await conn.execute(_RECORD, str(_us(now)))
                if events_before is None:
                    return 0
                kept = await conn.fetchval(_FIRST_KEPT, events_before)
                return int(kept if kept is not None else await conn.fetchval(_PAST_LAST))

    async def delete_events(self, first_kept: int, before: dt.datetime, limit: int) -> int:
        return int((await self._statement(_DELETE_EVENTS, first_kept, before, limit))[0])

    async def delete_refusals(self, before: dt.date) -> int:
        return int((await self._statement(_DELETE_REFUSALS, before))[0])

    async def clear_reason_texts(self, before: dt.datetime) -> int:
        return int((await self._statement(_CLEAR_TEXTS, before))[0])


@contextlib.asynccontextmanager
async def _ending(conn: Any) -> AsyncIterator[None]:
    """Commit what the block did (also when it returns early); an error rolls back (the caller's pool does)."""
    yield
    await conn.execute("COMMIT")
