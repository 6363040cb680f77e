"""Retention steps of the SQLite store (the sweep itself: store/retention.py).

Every step is one operation of the store's single writer, so a sweep never
holds the write lock for long: votes queue behind at most one step. The turn
is claimed in the ``meta`` table (key ``pruned_at``, microseconds) inside the
writer's ``BEGIN IMMEDIATE`` transaction, which two processes on the file
never hold at once: of several servers (or ``--workers``) only the first
within ``every`` seconds sweeps. Event ids are never reused (AUTOINCREMENT).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

from .retention import Sweeping
from .sqlite_fold import fold
from .sqlite_sql import to_us


def _claim(now_us: int, every_us: int, cutoff_us: int | None) -> Callable[[sqlite3.Connection], int | None]:
    def op(conn: sqlite3.Connection) -> int | None:
        row = conn.execute("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'pruned_at'").fetchone()
        if row is not None and 0 <= now_us - int(row[0]) < every_us:
            return None
        conn.execute("INSERT INTO meta (key, value) VALUES ('pruned_at', ?) "
                     "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (str(now_us).encode(),))
        if cutoff_us is None:
            return 0
        kept = conn.execute("SELECT event_id FROM events WHERE at >= ? ORDER BY at LIMIT 1", (cutoff_us,)).fetchone()
        if kept is not None:
            return int(kept[0])
        top = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        return int(top[0]) + 1 if top else 0

    return op


class RetentionQueries(Sweeping):
    """Mixed into :class:`~feedbackwidget.store.sqlite.SQLiteStore` (which provides ``_write``)."""

    _write: Callable[[Callable[[sqlite3.Connection], Any]], Awaitable[Any]]

    async def claim_sweep(self, now: dt.datetime, every: float, events_before: dt.datetime | None) -> int | None:
        cutoff = to_us(events_before) if events_before is not None else None
        result: int | None = await self._write(_claim(to_us(now), int(every * 1e6), cutoff))
        return result

    async def delete_events(self, first_kept: int, before: dt.datetime, limit: int) -> int:
        sql = ("DELETE FROM events WHERE event_id IN (SELECT event_id FROM events "
               "WHERE event_id < ? AND at < ? ORDER BY event_id LIMIT ?)")
        params = (first_kept, to_us(before), limit)

        def op(conn: sqlite3.Connection) -> int:
            fold(conn)  # an event goes only once it is in the rollups
            return int(conn.execute(sql, params).rowcount)

        count: int = await self._write(op)
        return count

    async def delete_refusals(self, before: dt.date) -> int:
        day = before.isoformat()
        count: int = await self._write(lambda conn: conn.execute("DELETE FROM refusals WHERE day < ?", (day,)).rowcount)
        return count

    async def clear_reason_texts(self, before: dt.datetime) -> int:
        sql = ("UPDATE votes SET reason_text = NULL "
               "WHERE reason IS NOT NULL AND reason_text IS NOT NULL AND updated_at < ?")
        cutoff = to_us(before)
        count: int = await self._write(lambda conn: conn.execute(sql, (cutoff,)).rowcount)
        return count
