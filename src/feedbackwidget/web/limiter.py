"""Rate limiting of vote attempts per client address, shared through the store."""

from __future__ import annotations

import time
from typing import Protocol

from ..config import RateLimit
from ..errors import RateLimited
from ..store import Store


class Limiter(Protocol):
    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def check(self, key: str) -> None:
        """Count one attempt for ``key``; raise RateLimited when over the limit."""


class StoreLimiter:
    """GCRA state kept in the store, so every worker and server on it shares one limit."""

    def __init__(self, store: Store, limit: RateLimit) -> None:
        self.store = store
        self.limit = limit

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def check(self, key: str) -> None:
        wait = await self.store.take(key, time.time(), self.limit.count, self.limit.period)
        if wait > 0:
            raise RateLimited(wait)
