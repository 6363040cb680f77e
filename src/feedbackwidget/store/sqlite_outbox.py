"""The SQLite store's webhook outbox (see ``outbox.py``): the single writer serialises claims,
so a row is held by one server's lease at a time even when several processes share the file."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ..types import Tally
from .outbox import (
    Alerts,
    AlertState,
    Delivery,
    DeliveryRecord,
    DeliveryState,
    OutboxMessage,
    OutboxStatus,
    short_error,
)
from .sqlite_sql import from_us

T = TypeVar("T")

_DUE = "delivered_at IS NULL AND failed_at IS NULL"
_INSERT = (
    "INSERT INTO outbox (message_id, endpoint, type, payload, dedupe, created_at, next_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe, endpoint) WHERE dedupe IS NOT NULL DO NOTHING"
)


def _now_us() -> int:
    return time.time_ns() // 1000


def write_messages(conn: sqlite3.Connection, messages: Sequence[OutboxMessage], at: int | None = None) -> int:
    """Insert ``messages`` (due at ``at``, default now) in the caller's transaction; the number new."""
    at = _now_us() if at is None else at
    before = conn.total_changes
    conn.executemany(
        _INSERT, [(m.message_id, m.endpoint, m.type, m.payload, m.dedupe, at, at) for m in messages]
    )
    return conn.total_changes - before


_STATE = "SELECT milestone_reached, band, band_entries FROM alert_state WHERE article_id = ?"
_SAVE_STATE = (
    "INSERT INTO alert_state (article_id, milestone_reached, band, band_entries) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (article_id) DO UPDATE SET milestone_reached = excluded.milestone_reached, "
    "band = excluded.band, band_entries = excluded.band_entries"
)


def advance_alerts(conn: sqlite3.Connection, tally: Tally, alerts: Alerts, at: int) -> None:
    """Run ``alerts`` on the article's state and write the new state and its messages (due at
    ``at``, microseconds) in the caller's transaction, when the state moved."""
    row = conn.execute(_STATE, (tally.article_id,)).fetchone()
    state = AlertState() if row is None else AlertState(*row)
    after, messages = alerts(tally, state)
    if after != state:
        conn.execute(_SAVE_STATE, (tally.article_id, after.milestone, after.band, after.band_entries))
        write_messages(conn, messages, at)


def _state(delivered_at: int | None, failed_at: int | None) -> DeliveryState:
    if delivered_at is not None:
        return "delivered"
    return "failed" if failed_at is not None else "pending"


class SQLiteOutbox:
    """Mixed into :class:`~feedbackwidget.store.sqlite.SQLiteStore`, which provides the plumbing."""

    async def _write(self, op: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    def _point(self, sql: str, params: Sequence[Any]) -> Any:
        raise NotImplementedError

    async def enqueue(self, messages: Sequence[OutboxMessage]) -> int:
        if not messages:
            return 0
        return await self._write(lambda conn: write_messages(conn, messages))

    async def outbox_due(self) -> bool:
        return self._point(f"SELECT 1 FROM outbox WHERE {_DUE} AND next_at <= ? LIMIT 1", (_now_us(),)) is not None

    async def claim(self, owner: str, limit: int, lease: float) -> list[Delivery]:
        def op(conn: sqlite3.Connection) -> list[Delivery]:
            now = _now_us()
            rows = conn.execute(
                "UPDATE outbox SET lease_owner = ?1, next_at = ?2 + ?3, attempts = attempts + 1 "
                f"WHERE id IN (SELECT id FROM outbox WHERE {_DUE} AND next_at <= ?2 ORDER BY next_at, id LIMIT ?4) "
                "RETURNING id, message_id, endpoint, type, payload, attempts, created_at",
                (owner, now, int(lease * 1e6), limit),
            ).fetchall()
            return sorted(
                (Delivery(r[0], r[1], r[2], r[3], r[4], r[5], from_us(r[6])) for r in rows),  # type: ignore[arg-type]
                key=lambda d: d.id,
            )

        return await self._write(op)

    async def settle(
        self, delivery_id: int, owner: str, *, delivered: bool, status: int | None, error: str | None,
        retry_in: float | None,
    ) -> None:
        def op(conn: sqlite3.Connection) -> None:
            now = _now_us()
            if delivered:
                conn.execute(
                    "UPDATE outbox SET delivered_at = ?, last_status = ?, last_error = NULL, lease_owner = NULL "
                    "WHERE id = ? AND delivered_at IS NULL",
                    (now, status, delivery_id),
                )
            elif retry_in is not None:
                conn.execute(
                    "UPDATE outbox SET next_at = ?, last_status = ?, last_error = ?, lease_owner = NULL "
                    f"WHERE id = ? AND lease_owner = ? AND {_DUE}",
                    (now + int(retry_in * 1e6), status, short_error(error), delivery_id, owner),
                )
            else:
                conn.execute(
                    "UPDATE outbox SET failed_at = ?, last_status = ?, last_error = ?, lease_owner = NULL "
                    f"WHERE id = ? AND lease_owner = ? AND {_DUE}",
                    (now, status, short_error(error), delivery_id, owner),
                )

        await self._write(op)

    async def outbox_status(self, limit: int) -> OutboxStatus:
        def run(conn: sqlite3.Connection) -> OutboxStatus:
            pending, delivered, failed = conn.execute(
                "SELECT COALESCE(SUM(delivered_at IS NULL AND failed_at IS NULL), 0), "
                "COALESCE(SUM(delivered_at IS NOT NULL), 0), COALESCE(SUM(failed_at IS NOT NULL), 0) FROM outbox"
            ).fetchone()
            recent = [
                DeliveryRecord(
                    r[0], r[1], r[2], r[3], _state(r[7], r[8]), r[4], from_us(r[5]),  # type: ignore[arg-type]
                    from_us(r[6]) if r[7] is None and r[8] is None else None,
                    from_us(r[7]), r[9], r[10],
                )
                for r in conn.execute(
                    "SELECT id, message_id, endpoint, type, attempts, created_at, next_at, delivered_at, failed_at, "
                    "last_status, last_error FROM outbox ORDER BY id DESC LIMIT ?",
                    (limit,),
                )
            ]
            return OutboxStatus(pending, delivered, failed, recent)

        return await self._read(run)
