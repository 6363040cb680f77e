"""The PostgreSQL store's webhook outbox (see ``outbox.py``).

Claims use ``FOR UPDATE SKIP LOCKED``: servers claiming at the same moment take
different rows and never wait for each other. Times come from the database's
clock (``now()``), so leases mean the same to servers whose clocks disagree.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from .outbox import Delivery, DeliveryRecord, DeliveryState, OutboxMessage, OutboxStatus, short_error

_DUE = "delivered_at IS NULL AND failed_at IS NULL"

#: Advisory lock namespace ("FWDA") for one article's writers while webhooks are on.
LOCK_ARTICLE_NS = 0x46574441


def lock_article(article_id: str) -> str:
    """SQL taking one article's advisory lock until the transaction ends. A cast that may cause an
    event holds it, so the tally it sees before and after is exact (under READ COMMITTED two
    concurrent casts would each miss the other, and a milestone could fall between them). The key
    is a hash computed here, an integer, so the statement needs no parameter and rides with BEGIN."""
    key = int.from_bytes(hashlib.blake2b(article_id.encode(), digest_size=4).digest(), "big", signed=True)
    return f"SELECT pg_advisory_xact_lock({LOCK_ARTICLE_NS}, {key})"

#: Many messages in one statement (one round trip inside a vote's transaction).
INSERT_MESSAGES = (
    "INSERT INTO fw_outbox (message_id, endpoint, type, payload, dedupe) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) "
    "ON CONFLICT (dedupe, endpoint) WHERE dedupe IS NOT NULL DO NOTHING"
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
