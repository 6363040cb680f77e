"""The webhook outbox, on every backend: written with the vote or not at all, claimed by one
holder at a time, settled, deduplicated (see store/outbox.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from typing import Any

import pytest

from feedbackwidget.store.outbox import AlertState, OutboxMessage
from feedbackwidget.types import Cast, Tally

from .backends import Backend

pytestmark = pytest.mark.anyio

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def message(n: int, dedupe: str | None = None, endpoint: str = "https://hooks.example/in") -> OutboxMessage:
    return OutboxMessage(f"msg_{n}", endpoint, "article.milestone", f'{{"n":{n}}}', dedupe)


async def test_a_cast_writes_its_messages_in_its_own_transaction(store: Any) -> None:
    seen: list[tuple[Tally, AlertState]] = []

    def alerts(tally: Tally, state: AlertState) -> tuple[AlertState, Sequence[OutboxMessage]]:
        seen.append((tally, state))
        return AlertState(milestone=1), [message(1), message(2)]

    result = await store.cast(Cast("a1", "v1", "up", T0), alerts)
    assert seen[-1] == (result.tally, AlertState()) and result.tally.up == 1
    status = await store.outbox_status(10)
    assert (status.pending, status.delivered, status.failed) == (2, 0, 0)
    assert [r.message_id for r in status.recent] == ["msg_2", "msg_1"]
    assert await store.outbox_due()
    # The state was written with the messages; a cast that does not move it writes nothing.
    await store.cast(Cast("a1", "v2", "up", T0), alerts)
    assert seen[-1] == (Tally("a1", 2, 0), AlertState(milestone=1))
    assert (await store.outbox_status(10)).pending == 2


async def test_a_failing_alert_takes_the_vote_back_with_it(store: Any) -> None:
    def alerts(tally: Tally, state: AlertState) -> tuple[AlertState, Sequence[OutboxMessage]]:
        raise RuntimeError("the rule broke")

    with pytest.raises(RuntimeError):
        await store.cast(Cast("a1", "v1", "up", T0), alerts)
    assert (await store.tally("a1")).total == 0
    assert (await store.outbox_status(10)).pending == 0
    assert not await store.outbox_due()


async def test_a_dedupe_key_lets_one_message_per_endpoint_in(store: Any) -> None:
    assert await store.enqueue([message(1, "milestone:10:a1"), message(2, "milestone:10:a1")]) == 1
    assert await store.enqueue([message(3, "milestone:10:a1")]) == 0
    assert await store.enqueue([message(4, "milestone:10:a1", endpoint="https://other.example/in")]) == 1
    assert await store.enqueue([message(5), message(6)]) == 2  # no key: every message counts
    assert (await store.outbox_status(10)).pending == 4


async def test_concurrent_claims_never_share_a_message(backend: Backend) -> None:
    stores = [backend.make() for _ in range(3)]
    for s in stores:
        await s.open()
    try:
        await stores[0].enqueue([message(n) for n in range(60)])
        claims = await asyncio.gather(*(s.claim(f"owner-{i}", 7, 60.0) for i in range(3) for s in [stores[i]]
                                        for _ in range(4)))
        ids = [d.id for claim in claims for d in claim]
        assert len(ids) == len(set(ids)) == 60
        assert all(d.attempt == 1 for claim in claims for d in claim)
        assert not await stores[0].outbox_due()
        assert await stores[1].claim("late", 10, 60.0) == []
    finally:
        for s in stores:
            await s.close()


async def test_settling_delivered_retry_and_failed(store: Any) -> None:
    await store.enqueue([message(1), message(2), message(3)])
    one, two, three = await store.claim("me", 10, 60.0)
    await store.settle(one.id, "me", delivered=True, status=204, error=None, retry_in=None)
    await store.settle(two.id, "me", delivered=False, status=500, error="HTTP 500\nmore", retry_in=0.0)
    await store.settle(three.id, "me", delivered=False, status=None, error="refused: not allowed", retry_in=None)
    status = await store.outbox_status(10)
    assert (status.pending, status.delivered, status.failed) == (1, 1, 1)
    by_id = {r.id: r for r in status.recent}
    assert by_id[one.id].state == "delivered" and by_id[one.id].last_status == 204
    assert by_id[two.id].state == "pending" and by_id[two.id].last_error == "HTTP 500"
    assert by_id[three.id].state == "failed" and by_id[three.id].last_error == "refused: not allowed"
    again = await store.claim("me", 10, 60.0)
    assert [(d.id, d.attempt) for d in again] == [(two.id, 2)]


async def test_a_lost_lease_comes_back_and_the_old_holder_cannot_fail_it(store: Any) -> None:
    await store.enqueue([message(1)])
    [first] = await store.claim("dead-server", 10, 1.0)
    assert await store.claim("other", 10, 60.0) == []  # held (a second is a wide margin for a loaded machine and a pooler)
    deadline = asyncio.get_running_loop().time() + 10
    while not await store.outbox_due():  # the lease runs out (a condition, polled)
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.02)
    [second] = await store.claim("other", 10, 60.0)
    assert second.id == first.id and second.attempt == 2
    await store.settle(first.id, "dead-server", delivered=False, status=None, error="late", retry_in=None)
    assert (await store.outbox_status(1)).recent[0].state == "pending"  # not the old holder's to fail
    await store.settle(second.id, "other", delivered=True, status=200, error=None, retry_in=None)
    assert (await store.outbox_status(1)).recent[0].state == "delivered"
