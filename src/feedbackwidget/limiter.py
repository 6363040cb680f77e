"""Rate limiting of attempts per client address (votes, dashboard sign-ins).

The state lives where every worker and server sees it: in the store by default
(one GCRA row per address group), or in Redis when ``REDIS_URL`` is set (which
falls over to the store while Redis does not answer). Keys are keyed hashes of
the address (IPv6 grouped by /64, :func:`feedbackwidget.tokens.client_key`).
"""

from __future__ import annotations

from typing import Protocol

from .config import RateLimit, Settings
from .errors import RateLimited
from .store import Store
from .store.base import RateTaker


class Limiter(Protocol):
    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def check(self, key: str, count: int | None = None, period: float | None = None) -> None:
        """Count one attempt for ``key``; raise RateLimited when over the limit (``limit`` unless
        ``count``/``period`` say otherwise)."""


class GcraLimiter:
    """Applies ``limit`` with a GCRA ``taker`` (the store, or Redis)."""

    def __init__(self, taker: RateTaker, limit: RateLimit) -> None:
        self.taker = taker
        self.limit = limit

    async def open(self) -> None:
        opener = getattr(self.taker, "open", None)  # Redis has a connection; the store is opened by its owner
        if opener is not None:
            await opener()

    async def close(self) -> None:
        closer = getattr(self.taker, "close", None)
        if closer is not None:
            await closer()

    async def check(self, key: str, count: int | None = None, period: float | None = None) -> None:
        # now=None: the clock of whoever keeps the state, one clock for every server.
        wait = await self.taker.take(key, None, count or self.limit.count, period or self.limit.period)
        if wait > 0:
            raise RateLimited(wait)


class _StoreTaker:
    """The store's own limiter, without the store's open/close (its owner manages those)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def take(self, key: str, now: float | None, count: int, period: float) -> float:
        return await self.store.take(key, now, count, period)


def default_limiter(settings: Settings, store: Store) -> Limiter:
    if settings.redis_url:
        # Redis lives behind the [redis] extra, so its client is imported only when configured.
        from .store.redis_limiter import RedisLimiter

        return GcraLimiter(RedisLimiter(settings.redis_url, fallback=_StoreTaker(store)), settings.rate_limit)
    return GcraLimiter(_StoreTaker(store), settings.rate_limit)
