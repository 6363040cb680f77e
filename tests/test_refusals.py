"""Refusal counting: in memory, bounded, written as one aggregate per interval."""

from __future__ import annotations

import asyncio
import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from feedbackwidget.refusals import RefusalFlusher, Refusals
from feedbackwidget.store.base import Row

DAY = dt.date(2026, 3, 1)


def run(coro: Any) -> Any:
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def test_counts_aggregate_per_day_article_and_kind() -> None:
    days = iter([DAY, DAY, DAY, DAY + dt.timedelta(days=1)])
    refusals = Refusals(today=lambda: next(days))
    refusals.count("a", "captcha_failed")
    refusals.count("a", "captcha_failed")
    refusals.count(None, "rate_limited")
    refusals.count("a", "captcha_failed")
    assert refusals.drain() == [
        {"day": DAY, "article_id": "", "kind": "rate_limited", "count": 1},
        {"day": DAY, "article_id": "a", "kind": "captcha_failed", "count": 2},
        {"day": DAY + dt.timedelta(days=1), "article_id": "a", "kind": "captcha_failed", "count": 1},
    ]
    assert refusals.drain() == []
    with pytest.raises(ValueError):
        refusals.count("a", "bored")


def test_random_article_ids_cannot_grow_memory() -> None:
    refusals = Refusals(max_keys=100, today=lambda: DAY)
    for i in range(10_000):
        refusals.count(f"random-{i}", "captcha_failed")
    assert len(refusals) == 100 + 1  # plus the overflow key for this day and kind
    rows = refusals.drain()
    assert sum(r["count"] for r in rows) == 10_000
    assert next(r for r in rows if r["article_id"] == "")["count"] == 10_000 - 100


def test_a_flood_becomes_a_few_writes_and_every_answer_waits_for_its_count() -> None:
    async def scenario() -> tuple[list[list[Row]], int]:
        writes: list[list[Row]] = []

        async def write(rows: list[Row]) -> None:
            writes.append(rows)
            await asyncio.sleep(0)  # a write takes a turn of the loop, as a real one does

        refusals = Refusals(today=lambda: DAY)
        flusher = RefusalFlusher(refusals, write, spacing=0.05)
        seen = 0

        async def refused() -> None:
            nonlocal seen
            ticket = flusher.count("hot", "rate_limited")
            await flusher.written(ticket)
            # answered: the count is in a finished write
            seen = max(seen, sum(r["count"] for batch in writes for r in batch))
            assert seen >= ticket

        await asyncio.gather(*(refused() for _ in range(5_000)))
        await flusher.stop()
        return writes, seen

    writes, seen = run(scenario())
    assert sum(r["count"] for batch in writes for r in batch) == 5_000 == seen
    assert len(writes) <= 3, len(writes)  # one in flight, then one for everything that came meanwhile


def test_failed_write_is_retried_and_stop_flushes() -> None:
    async def scenario() -> tuple[int, list[list[Row]]]:
        writes: list[list[Row]] = []
        attempts = 0

        async def write(rows: list[Row]) -> None:
            nonlocal attempts
            attempts += 1
            if attempts == 1:
                raise OSError("database went away")
            writes.append(rows)

        refusals = Refusals(today=lambda: DAY)
        flusher = RefusalFlusher(refusals, write)
        await flusher.written(flusher.count("a", "captcha_failed"))  # answered although the write failed
        flusher.count("a", "captcha_failed")
        await flusher.stop()
        return attempts, writes

    attempts, writes = run(scenario())
    assert attempts == 2
    assert writes == [[{"day": DAY, "article_id": "a", "kind": "captcha_failed", "count": 2}]]
