"""Rate limiting in Redis (when ``REDIS_URL`` is set): GCRA in one Lua script.

The script reads the key's theoretical arrival time (TAT), decides, and writes
the new TAT with an expiry in one atomic step, so every server sharing the Redis
sees one limit. A key lives only as long as it matters (its expiry is the time
until its TAT passes), so memory stays bounded.

When Redis does not answer, the limiter neither fails open (that would switch
rate limiting off exactly when something is wrong) nor refuses every vote: it
hands the attempt to ``fallback`` (the store's own limiter, shared through the
database) and tries Redis again after ``retry_after`` seconds. During the switch
a client may get up to one extra burst, because the two limiters keep separate
state. Without a fallback, an unanswered Redis is
:class:`~feedbackwidget.errors.StoreUnavailable` (fail closed).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..errors import StoreUnavailable
from .base import RateTaker

log = logging.getLogger(__name__)

# KEYS[1] = key; ARGV = now, emission interval, period (seconds, floats). An empty
# "now" means Redis's own clock (TIME), one clock for app servers whose clocks disagree.
# Returns "0" when allowed, else the seconds to wait, as a string (Redis would
# truncate a Lua number to an integer).
_GCRA = """
local now = tonumber(ARGV[1])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local interval = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]))
-- store.base.gcra_start: a tat more than a period ahead was written by a clock that runs ahead
if tat == nil or tat < now or tat > now + period then tat = now end
local new_tat = tat + interval
if new_tat - now > period + 1e-9 then
  return tostring(math.max(new_tat - now - period, 0.001))
end
redis.call('SET', KEYS[1], string.format('%.6f', new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1)
return '0'
"""

_DOWN = (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError)


class RedisLimiter:
    """``take()`` with the same meaning as :meth:`Store.take`, kept in Redis."""

    def __init__(
        self,
        url: str,
        *,
        fallback: RateTaker | None = None,
        prefix: str = "feedbackwidget:rate:",
        timeout: float = 0.5,
        retry_after: float = 5.0,
    ) -> None:
        self.url = url
        self.fallback = fallback
        self.prefix = prefix
        self.timeout = timeout
        self.retry_after = retry_after
        self._client: Any = None
        self._script: Any = None
        self._down_until = 0.0

    def __repr__(self) -> str:  # never the URL: it may hold a password
        return f"RedisLimiter(prefix={self.prefix!r}, fallback={self.fallback is not None})"

    async def open(self) -> None:
        if self._client is None:
            self._client = aioredis.Redis.from_url(
                self.url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout
            )
            self._script = self._client.register_script(_GCRA)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    @property
    def redis_up(self) -> bool:
        """False while the limiter is serving from its fallback."""
        return time.monotonic() >= self._down_until

    async def take(self, key: str, now: float | None, count: int, period: float) -> float:
        if self._script is None:
            await self.open()
        if self.redis_up:
            try:
                at = "" if now is None else now
                result = await self._script(keys=[self.prefix + key], args=[at, period / count, period])
                return float(result)
            except _DOWN as exc:
                self._down_until = time.monotonic() + self.retry_after
                log.warning(
                    "Redis rate limiter not answering (%s); using %s for %.0f s",
                    type(exc).__name__,
                    "the store's limiter" if self.fallback else "nothing: votes are refused",
                    self.retry_after,
                )
            except RedisError as exc:  # e.g. a read-only replica, OOM: same treatment
                self._down_until = time.monotonic() + self.retry_after
                log.warning("Redis rate limiter failed (%s)", type(exc).__name__)
        if self.fallback is None:
            raise StoreUnavailable("The rate limiter is not answering; nothing was changed.")
        return await self.fallback.take(key, now, count, period)
