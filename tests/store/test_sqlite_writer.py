"""The SQLite writer waits for a lock another process holds, briefly and without failing."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from feedbackwidget.errors import StoreUnavailable
from feedbackwidget.store.sqlite import SQLiteStore
from feedbackwidget.types import Cast

pytestmark = pytest.mark.anyio

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


async def _until(condition: Callable[[], bool], limit: float = 30.0) -> None:
    """Yield to the loop until ``condition()`` holds (a condition, not a fixed wait)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not condition():
        assert loop.time() < deadline, "condition never held"
        await asyncio.sleep(0.001)


@contextlib.asynccontextmanager
async def locked(tmp_path: Path, busy_timeout: float) -> AsyncIterator[tuple[SQLiteStore, sqlite3.Connection]]:
    """An open store, and another connection holding its write lock (as another process would)."""
    path = str(tmp_path / "votes.db")
    store = SQLiteStore(path, busy_timeout=busy_timeout)
    await store.open()
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        yield store, blocker
    finally:
        blocker.close()
        await store.close()


async def test_a_write_waits_for_a_lock_held_elsewhere_then_lands(tmp_path: Path) -> None:
    async with locked(tmp_path, busy_timeout=30.0) as (store, blocker):
        cast = asyncio.ensure_future(store.cast(Cast("a1", "v1", "up", T0)))
        writer = store._writer
        assert writer is not None
        await _until(lambda: writer.lock_waits >= 3)  # it has met the lock, more than once
        assert not cast.done()  # ... and is still waiting rather than failing
        blocker.execute("COMMIT")
        result = await asyncio.wait_for(cast, 30)
        assert (result.tally.up, result.tally.down, result.changed) == (1, 0, True)
        assert (await store.tally("a1")).up == 1


async def test_a_lock_held_past_the_busy_timeout_fails_the_write_and_keeps_nothing(tmp_path: Path) -> None:
    async with locked(tmp_path, busy_timeout=0.05) as (store, blocker):
        with pytest.raises(StoreUnavailable):
            await store.cast(Cast("a1", "v1", "up", T0))
        blocker.execute("ROLLBACK")
        assert (await store.tally("a1")).up == 0
        again = await store.cast(Cast("a1", "v1", "down", T0))  # recovers by itself
        assert (again.tally.up, again.tally.down) == (0, 1)
