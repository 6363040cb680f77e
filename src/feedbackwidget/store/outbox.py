"""The webhook outbox as the store sees it: messages in, deliveries claimed and settled.

A message is written in the same transaction as the change that caused it (a
vote, see :data:`Alerts`), so a committed vote never lacks its alert and a
rolled-back one never has one. Delivery is at least once: a server *claims* due
rows for a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the single writer
on SQLite), so two servers never hold the same row at once; a row whose lease
ran out (its server died mid-delivery) becomes due again. The receiver tells
repeats apart by ``message_id`` (the Standard Webhooks ``webhook-id``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from ..types import Tally

DeliveryState = Literal["pending", "delivered", "failed"]


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One message for one endpoint, ready to send: ``payload`` is the exact JSON body.

    ``dedupe`` (optional) makes the message once-only per endpoint: a second message with
    the same key is dropped by the store (e.g. "milestone 100 of article X").
    """

    message_id: str
    endpoint: str
    type: str
    payload: str
    dedupe: str | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """A claimed message: ``attempt`` counts this one (1 for the first)."""

    id: int
    message_id: str
    endpoint: str
    type: str
    payload: str
    attempt: int
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """One outbox row as the dashboard shows it."""

    id: int
    message_id: str
    endpoint: str
    type: str
    state: DeliveryState
    attempts: int
    created_at: dt.datetime
    next_at: dt.datetime | None
    delivered_at: dt.datetime | None
    last_status: int | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class OutboxStatus:
    pending: int
    delivered: int
    failed: int
    recent: list[DeliveryRecord]


@dataclass(frozen=True, slots=True)
class AlertState:
    """What one article's alerts have already said (a row of ``alert_state``; all zero/None at first).

    ``milestone``: milestones at or below this vote count are settled — sent, or passed before the
    store kept alert state (then it is the article's count at that upgrade); ``band``: the sentiment band the
    article was last judged in (None outside both); ``band_entries``: how many times it entered
    a band, which numbers each entry's once-only key.
    """

    milestone: int = 0
    band: str | None = None
    band_entries: int = 0


#: Called by the store inside a cast's transaction with the article's tally as the transaction
#: sees it and its :class:`AlertState`; returns the state after that tally and the messages for
#: what it reached since the state (each milestone, each band entry). Must be pure and quick
#: (SQLite runs it on its writer thread). The store writes the new state and the messages in the
#: vote's transaction when the state changed, and only then. It may call it more than once per
#: cast (PostgreSQL: first on what it read without a lock, then again under the article's
#: state-row lock on a fresh tally); the last call's messages are the ones written.
Alerts = Callable[[Tally, AlertState], tuple[AlertState, Sequence[OutboxMessage]]]


class Outbox(Protocol):
    """What both stores offer the webhook worker (times are the store's clock)."""

    async def enqueue(self, messages: Sequence[OutboxMessage]) -> int:
        """Write messages due now in one transaction; returns how many were new (dedupe drops repeats)."""

    async def outbox_due(self) -> bool:
        """Whether some message is due now (a cheap read, before claiming)."""

    async def claim(self, owner: str, limit: int, lease: float) -> list[Delivery]:
        """Take up to ``limit`` due messages for ``lease`` seconds, counting an attempt on each.
        No other claim returns them until the lease ends or they are settled."""

    async def settle(
        self, delivery_id: int, owner: str, *, delivered: bool, status: int | None, error: str | None,
        retry_in: float | None,
    ) -> None:
        """Record an attempt's outcome: delivered; or due again in ``retry_in`` seconds; or, with
        ``retry_in=None``, failed for good. A failure is recorded only while ``owner`` holds the lease."""

    async def outbox_status(self, limit: int) -> OutboxStatus:
        """Counts per state and the ``limit`` newest rows."""


def short_error(error: str | None) -> str | None:
    """An error as stored: one line, at most 300 characters."""
    if error is None:
        return None
    line = error.strip().splitlines()[0] if error.strip() else "error"
    return line[:300]
