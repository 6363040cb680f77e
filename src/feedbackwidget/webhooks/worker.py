"""The delivery worker: one per event loop, started and stopped with the widget's runtime.

It claims due messages from the outbox (a lease of :data:`LEASE` seconds), signs and
POSTs each to its receiver, and settles it: delivered on any 2xx; otherwise due again
after ``WEBHOOK_RETRY_BASE * 2^(attempt-1)`` seconds (±10 % jitter, at most an hour
apart) until ``WEBHOOK_MAX_ATTEMPTS``, then failed. It wakes at once when this process
wrote a message (:meth:`Worker.wake`) and otherwise looks every :data:`POLL` seconds
(messages written by other servers). Every :data:`SCAN` seconds it also queues the
events no vote writes: refusal bursts and, after ``WEBHOOK_DIGEST_HOUR``, yesterday's
digest — deduplicated by the store, so several servers doing the same queue each once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import secrets
import time
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

import aiohttp

from ..config import Settings
from ..metrics import OFF, Metrics
from ..store import Store
from ..store.outbox import AlertState, Delivery, OutboxMessage
from ..types import Tally
from .events import Rules
from .guard import DestinationRefused, GuardedResolver, refusal
from .signing import Signer

log = logging.getLogger("feedbackwidget.webhooks")

LEASE = 60.0  # seconds a claim holds a message: longer than one attempt's timeout
TIMEOUT = 10.0  # seconds for one delivery attempt
POLL = 1.0  # seconds between looks for messages other servers wrote
SCAN = 30.0  # seconds between looks for refusal bursts and the digest
BATCH = 16  # messages claimed at once
MAX_BACKOFF = 3600.0


class CastAlerts:
    """The outbox callback of one cast (see :data:`~feedbackwidget.store.outbox.Alerts`)."""

    __slots__ = ("at", "produced", "rules", "wake")

    def __init__(self, rules: Rules, at: dt.datetime, wake: Callable[[], None]) -> None:
        self.rules, self.at, self.wake = rules, at, wake
        #: Whether the cast wrote a message (then :attr:`wake` tells the worker at once). The
        #: store's last call is the one whose messages it writes, so the last call decides.
        self.produced = False

    def __call__(self, tally: Tally, state: AlertState) -> tuple[AlertState, Sequence[OutboxMessage]]:
        after, messages = self.rules.advance(tally, state, self.at)
        self.produced = bool(messages)
        return after, messages


class Worker:
    """Delivers the outbox of ``store`` (see module docstring). ``clock`` gives "now" in UTC."""

    def __init__(
        self, settings: Settings, store: Store, clock: Callable[[], dt.datetime], *, metrics: Metrics = OFF
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.store = store
        self.clock = clock
        self.rules = Rules.from_settings(settings)
        self.signer = Signer(settings.webhook_secrets)
        self.owner = f"{secrets.token_hex(6)}"
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._last_scan = -SCAN
        self._digested: dt.date | None = None

    def alerts(self, at: dt.datetime) -> CastAlerts | None:
        """The outbox callback for one cast at ``at``; None when no configured event depends on
        votes (then a cast costs nothing more than without webhooks)."""
        if not self.rules.per_vote:
            return None
        return CastAlerts(self.rules, at, self.wake)

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(self.settings.webhook_allow_private), limit=BATCH)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=TIMEOUT), trust_env=False
        )
        self._task = asyncio.get_running_loop().create_task(self._run(), name="feedbackwidget-webhooks")

    async def stop(self) -> None:
        """Stop claiming; attempts in flight are cut off (their leases run out; they go again)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def _run(self) -> None:
        while True:
            try:
                await self.round()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the store is down, say: try again at the next poll
                log.warning("webhook delivery round failed: %s", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL)
            self._wake.clear()

    async def round(self) -> int:
        """Queue scheduled events when due, then deliver what is due; returns attempts made."""
        if time.monotonic() - self._last_scan >= SCAN:
            self._last_scan = time.monotonic()
            await self.scan()
        attempts = 0
        while await self.store.outbox_due():
            claimed = await self.store.claim(self.owner, BATCH, LEASE)
            if not claimed:
                break
            await asyncio.gather(*(self.deliver(d) for d in claimed))
            attempts += len(claimed)
        return attempts

    async def scan(self) -> None:
        """Queue refusal bursts of today and, once past the digest hour, yesterday's digest."""
        now = self.clock().astimezone(dt.UTC)
        today = now.date()
        midnight = dt.datetime.combine(today, dt.time(), dt.UTC)
        messages = self.rules.refusal_bursts(today, await self.store.refusals(None, midnight, None), now)
        hour = self.settings.webhook_digest_hour
        if hour is not None and now.hour >= hour and self._digested != today:
            since = midnight - dt.timedelta(days=1)
            daily = await self.store.daily(None, since, midnight)
            refused = await self.store.refusals(None, since, midnight)
            messages += self.rules.digest(since.date(), daily, refused, now)
            self._digested = today
        if messages:
            await self.store.enqueue(messages)

    async def deliver(self, delivery: Delivery) -> None:
        """One attempt at one message, and its outcome recorded (in the store and the metrics)."""
        start = time.perf_counter()
        status, error, permanent = await self._attempt(delivery)
        seconds = time.perf_counter() - start
        host = urlsplit(delivery.endpoint).hostname
        if status is not None and 200 <= status < 300:
            self.metrics.webhook("delivered", seconds)
            await self.store.settle(delivery.id, self.owner, delivered=True, status=status, error=None, retry_in=None)
            return
        retry_in = None if permanent or delivery.attempt >= self.settings.webhook_max_attempts else self.backoff(
            delivery.attempt
        )
        self.metrics.webhook("failed" if retry_in is None else "retry", seconds)
        log.info("webhook %s to %s: attempt %d failed (%s)", delivery.message_id, host, delivery.attempt, error)
        await self.store.settle(
            delivery.id, self.owner, delivered=False, status=status, error=error, retry_in=retry_in
        )

    def backoff(self, attempt: int) -> float:
        base = min(self.settings.webhook_retry_base * 2.0 ** (attempt - 1), MAX_BACKOFF)
        return base * random.uniform(0.9, 1.1)  # noqa: S311 - spreading retries, not a secret

    async def _attempt(self, delivery: Delivery) -> tuple[int | None, str | None, bool]:
        """(HTTP status or None, error sentence or None, whether retrying is pointless)."""
        why = refusal(delivery.endpoint, self.settings.webhook_allowed_hosts, self.settings.webhook_allow_private)
        if why is not None:
            return None, f"refused: {why}", True
        session = self._session
        if session is None:
            return None, "worker stopped", False
        headers = self.signer.headers(delivery.message_id, delivery.payload, self.clock())
        try:
            async with session.post(
                delivery.endpoint, data=delivery.payload.encode(), headers=headers, allow_redirects=False
            ) as answer:
                await answer.content.read(65536)  # a receiver's answer is not ours to hold in full
                ok = 200 <= answer.status < 300
                return answer.status, None if ok else f"HTTP {answer.status}", False
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, DestinationRefused):
                return None, f"refused: {exc.os_error}", True
            return None, f"cannot connect ({type(exc.os_error).__name__})", False
        except TimeoutError:
            return None, f"no answer within {TIMEOUT:g} s", False
        except aiohttp.ClientError as exc:
            return None, type(exc).__name__, False
