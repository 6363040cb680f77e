"""The PostgreSQL store's webhook outbox (see ``outbox.py``).

Claims use ``FOR UPDATE SKIP LOCKED``: servers claiming at the same moment take
different rows and never wait for each other. Times come from the database's
clock (``now()``), so leases mean the same to servers whose clocks disagree.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from ..types import ArticleId, Tally
from . import pg_queries as q
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

_DUE = "delivered_at IS NULL AND failed_at IS NULL"

#: Many messages in one statement (one round trip inside a vote's transaction).
INSERT_MESSAGES = (
    "INSERT INTO fw_outbox (message_id, endpoint, type, payload, dedupe) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) "
    "ON CONFLICT (dedupe, endpoint) WHERE dedupe IS NOT NULL DO NOTHING"
)
#: The cast (see fw_cast) and the article's alert state as this statement sees it, unlocked.
CAST_AND_STATE = (
    "WITH c AS (SELECT * FROM fw_cast($1, $2, $3, $4, $5, $6, $7, $8)) "
    "SELECT c.r_changed, c.r_previous, c.r_up, c.r_down, s.milestone_reached, s.band, s.band_entries "
    "FROM c LEFT JOIN fw_alert_state s ON s.article_id = $1"
)
#: The article's state row, created if need be and locked until the transaction ends; READ
#: COMMITTED gives the newest committed version after waiting for a holder.
LOCK_STATE = (
    "INSERT INTO fw_alert_state (article_id) VALUES ($1) ON CONFLICT (article_id) "
    "DO UPDATE SET article_id = excluded.article_id RETURNING milestone_reached, band, band_entries"
)
#: The new state and its messages in one round trip ($1-$5 as in INSERT_MESSAGES).
SAVE_STATE_AND_SEND = (
    "WITH saved AS (UPDATE fw_alert_state SET milestone_reached = $7, band = $8, band_entries = $9 "
    "WHERE article_id = $6) " + INSERT_MESSAGES
)
_CLAIM = f"""
UPDATE fw_outbox o SET lease_owner = $1, next_at = now() + make_interval(secs => $2),
    attempts = o.attempts + 1
FROM (SELECT id FROM fw_outbox WHERE {_DUE} AND next_at <= now()
      ORDER BY next_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) due
WHERE o.id = due.id
RETURNING o.id, o.message_id, o.endpoint, o.type, o.payload, o.attempts, o.created_at
"""
_DELIVERED = (
    "UPDATE fw_outbox SET delivered_at = now(), last_status = $2, last_error = NULL, lease_owner = NULL "
    "WHERE id = $1 AND delivered_at IS NULL"
)
_RETRY = (
    "UPDATE fw_outbox SET next_at = now() + make_interval(secs => $5), last_status = $3, last_error = $4, "
    f"lease_owner = NULL WHERE id = $1 AND lease_owner = $2 AND {_DUE}"
)
_FAILED = (
    "UPDATE fw_outbox SET failed_at = now(), last_status = $3, last_error = $4, lease_owner = NULL "
    f"WHERE id = $1 AND lease_owner = $2 AND {_DUE}"
)
_COUNTS = (
    f"SELECT count(*) FILTER (WHERE {_DUE}), count(*) FILTER (WHERE delivered_at IS NOT NULL), "
    "count(*) FILTER (WHERE failed_at IS NOT NULL) FROM fw_outbox"
)
_RECENT = (
    "SELECT id, message_id, endpoint, type, attempts, created_at, next_at, delivered_at, failed_at, "
    "last_status, last_error FROM fw_outbox ORDER BY id DESC LIMIT $1"
)


def message_columns(messages: Sequence[OutboxMessage]) -> tuple[list[Any], ...]:
    """The arguments of :data:`INSERT_MESSAGES`: one array per column."""
    return (
        [m.message_id for m in messages],
        [m.endpoint for m in messages],
        [m.type for m in messages],
        [m.payload for m in messages],
        [m.dedupe for m in messages],
    )


def _state(delivered_at: Any, failed_at: Any) -> DeliveryState:
    if delivered_at is not None:
        return "delivered"
    return "failed" if failed_at is not None else "pending"


class PgOutbox:
    """Mixed into :class:`~feedbackwidget.store.postgres.PostgresStore`, which provides the plumbing."""

    @contextlib.asynccontextmanager
    async def _connection(self, single: bool = True) -> AsyncIterator[Any]:
        raise NotImplementedError
        yield

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        raise NotImplementedError

    async def _fetchrow(self, sql: str, *args: Any) -> Any:
        raise NotImplementedError

    async def _alert(self, conn: Any, article_id: ArticleId, alerts: Alerts) -> None:
        """Move the article's alert state and write its messages, under the state row's lock.

        Only a cast that would move the state gets here, so writers of one article queue only
        at a milestone or a band change. Under the lock the tally is read again in a new
        statement (a new READ COMMITTED snapshot): it includes every vote of whoever moved the
        state before, so successive moves judge ever newer tallies and each milestone and band
        entry is written by exactly one transaction.
        """
        locked = AlertState(*await conn.fetchrow(LOCK_STATE, article_id))
        up, down = await conn.fetchrow(q.TALLY, article_id)
        after, messages = alerts(Tally(article_id, up, down), locked)
        if after != locked:
            await conn.execute(
                SAVE_STATE_AND_SEND, *message_columns(messages), article_id, after.milestone, after.band,
                after.band_entries,
            )

    async def enqueue(self, messages: Sequence[OutboxMessage]) -> int:
        if not messages:
            return 0
        async with self._connection() as conn:
            status: str = await conn.execute(INSERT_MESSAGES, *message_columns(messages))
        return int(status.rsplit(" ", 1)[-1])

    async def outbox_due(self) -> bool:
        row = await self._fetchrow(f"SELECT 1 FROM fw_outbox WHERE {_DUE} AND next_at <= now() LIMIT 1")
        return row is not None

    async def claim(self, owner: str, limit: int, lease: float) -> list[Delivery]:
        rows = await self._fetch(_CLAIM, owner, float(lease), limit)
        return sorted((Delivery(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows), key=lambda d: d.id)

    async def settle(
        self, delivery_id: int, owner: str, *, delivered: bool, status: int | None, error: str | None,
        retry_in: float | None,
    ) -> None:
        if delivered:
            await self._fetch(_DELIVERED, delivery_id, status)
        elif retry_in is not None:
            await self._fetch(_RETRY, delivery_id, owner, status, short_error(error), float(retry_in))
        else:
            await self._fetch(_FAILED, delivery_id, owner, status, short_error(error))

    async def outbox_status(self, limit: int) -> OutboxStatus:
        pending, delivered, failed = await self._fetchrow(_COUNTS)
        recent = [
            DeliveryRecord(
                r[0], r[1], r[2], r[3], _state(r[7], r[8]), r[4], r[5],
                r[6] if r[7] is None and r[8] is None else None, r[7], r[9], r[10],
            )
            for r in await self._fetch(_RECENT, limit)
        ]
        return OutboxStatus(pending, delivered, failed, recent)
