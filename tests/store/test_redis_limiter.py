"""The Redis limiter against a real Redis (REDIS at FEEDBACKWIDGET_TEST_REDIS,
default 127.0.0.1:6379); skipped, saying so, when none answers."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from feedbackwidget.errors import StoreUnavailable

redis = pytest.importorskip("redis")

from feedbackwidget.store.redis_limiter import RedisLimiter  # noqa: E402

pytestmark = pytest.mark.anyio

REDIS_URL = os.environ.get("FEEDBACKWIDGET_TEST_REDIS", "redis://127.0.0.1:6379/15")
NOWHERE = "redis://127.0.0.1:1/0"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    client = redis.asyncio.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        await client.ping()
    except (redis.exceptions.RedisError, OSError) as exc:
        await client.aclose()
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: {type(exc).__name__}")
    name = f"fwtest:{secrets.token_hex(4)}:"
    try:
        yield name
    finally:
        keys = [k async for k in client.scan_iter(match=name + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_allows_count_per_period_then_says_how_long(prefix: str) -> None:
    limiter = RedisLimiter(REDIS_URL, prefix=prefix)
    await limiter.open()
    try:
        now = 1_000_000.0
        assert [await limiter.take("k", now, 3, 60.0) for _ in range(3)] == [0.0, 0.0, 0.0]
        wait = await limiter.take("k", now, 3, 60.0)
        assert 19.0 < wait <= 20.0 + 1e-6
        assert await limiter.take("other", now, 3, 60.0) == 0.0
        assert await limiter.take("k", now + 20.0, 3, 60.0) == 0.0
        assert await limiter.take("k", now + 20.0, 3, 60.0) > 0.0
    finally:
        await limiter.close()


async def test_shared_by_two_limiters_and_keys_expire(prefix: str) -> None:
    first, second = RedisLimiter(REDIS_URL, prefix=prefix), RedisLimiter(REDIS_URL, prefix=prefix)
    await first.open()
    await second.open()
    try:
        now = 2_000_000.0
        results = [await (first if i % 2 else second).take("shared", now, 4, 60.0) for i in range(6)]
        assert results[:4] == [0.0] * 4
        assert all(r > 0 for r in results[4:])
        client = redis.asyncio.Redis.from_url(REDIS_URL)
        try:
            ttl = await client.pttl(prefix + "shared")
        finally:
            await client.aclose()
        assert 0 < ttl <= 60_001
    finally:
        await first.close()
        await second.close()


async def test_same_answers_as_the_store_limiter(prefix: str, tmp_path: Path) -> None:
    from feedbackwidget.store.sqlite import SQLiteStore

    store = SQLiteStore(str(tmp_path / "votes.db"))
    limiter = RedisLimiter(REDIS_URL, prefix=prefix)
    await store.open()
    await limiter.open()
    try:
        now = 5_000_000.0
        for step in range(60):
            now += (step * 7919 % 13) / 4.0
            key = f"k{step % 3}"
            at = now + (15.0 if step % 4 == 0 else 0.0)  # every fourth call from a server 15 s ahead
            ours, theirs = await limiter.take(key, at, 5, 10.0), await store.take(key, at, 5, 10.0)
            assert ours == pytest.approx(theirs, abs=1e-5), step
    finally:
        await limiter.close()
        await store.close()


class CountingLimiter:
    def __init__(self) -> None:
        self.calls: list[tuple[str, float]] = []

    async def take(self, key: str, now: float, count: int, period: float) -> float:
        self.calls.append((key, now))
        return 0.0 if len(self.calls) <= count else 1.5


async def test_redis_down_hands_over_to_the_fallback() -> None:
    fallback = CountingLimiter()
    limiter = RedisLimiter(NOWHERE, fallback=fallback, timeout=0.5)
    await limiter.open()
    try:
        assert await limiter.take("k", 10.0, 1, 60.0) == 0.0
        assert await limiter.take("k", 11.0, 1, 60.0) == 1.5
        assert fallback.calls == [("k", 10.0), ("k", 11.0)]
        assert not limiter.redis_up
    finally:
        await limiter.close()


async def test_redis_down_without_fallback_fails_closed() -> None:
    limiter = RedisLimiter("redis://:hunter2@127.0.0.1:1/0", timeout=0.5)
    await limiter.open()
    try:
        with pytest.raises(StoreUnavailable) as info:
            await limiter.take("k", 10.0, 1, 60.0)
        assert "hunter2" not in str(info.value) and "hunter2" not in repr(limiter)
    finally:
        await limiter.close()
