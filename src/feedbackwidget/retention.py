"""Retention: how long the vote history, refused-attempt counts and reason texts are kept.

Three settings (``RETAIN_EVENTS_DAYS``, ``RETAIN_REFUSALS_DAYS``,
``RETAIN_REASONS_DAYS``; empty keeps for ever) make a :class:`Policy`. Every
running server sweeps in the background (:class:`Sweeper`): it tries once on
start and then every :data:`SWEEP_EVERY` seconds, and the store lets only one
try per interval through across all servers sharing the database (the claim
in :meth:`~feedbackwidget.store.base.Store.prune`), so N servers do the work
once. ``feedbackwidget prune`` sweeps now, whatever the last sweep was.

Current votes and the counters are never touched: a vote is kept until its
reader withdraws or erases it. What goes: events older than the period (the
history behind exports, daily counts and charts), refusal counts of days
before it, and the free text of reasons on votes not changed since before it
(the reason code stays). docs/security.md says what is stored and why.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

from .config import Settings
from .errors import StoreUnavailable
from .store.base import Store
from .types import Pruned

log = logging.getLogger("feedbackwidget.retention")

#: Seconds between sweeps, across all servers on one database.
SWEEP_EVERY = 3600.0


@dataclass(frozen=True, slots=True)
class Policy:
    """Days each kind of record is kept (None: for ever)."""

    events_days: int | None = None
    refusals_days: int | None = None
    reasons_days: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(settings.retain_events_days, settings.retain_refusals_days, settings.retain_reasons_days)

    @property
    def active(self) -> bool:
        return any(days is not None for days in (self.events_days, self.refusals_days, self.reasons_days))

    def cut_offs(self, now: dt.datetime) -> tuple[dt.datetime | None, dt.date | None, dt.datetime | None]:
        """The store's ``prune`` arguments at ``now`` (events, refusals, reason texts): times for
        events and texts, a UTC day for refusals (a day's count goes once the whole day is older)."""

        def before(days: int | None) -> dt.datetime | None:
            return None if days is None else now - dt.timedelta(days=days)

        refusals = before(self.refusals_days)
        day = None if refusals is None else refusals.astimezone(dt.UTC).date()
        return before(self.events_days), day, before(self.reasons_days)


async def prune(store: Store, policy: Policy, now: dt.datetime, *, every: float = 0.0) -> Pruned | None:
    """One sweep by ``policy`` at ``now``; None when another process swept within ``every`` seconds.
    Raises StoreUnavailable when the database does not answer."""
    if not policy.active:
        return Pruned()
    events, refusals, texts = policy.cut_offs(now)
    return await store.prune(
        events_before=events, refusals_before=refusals, reason_texts_before=texts, now=now, every=every
    )


class Sweeper:
    """The background sweep of one server (one event loop): on start, then every ``every`` seconds."""

    def __init__(
        self, store: Store, policy: Policy, clock: Callable[[], dt.datetime], every: float = SWEEP_EVERY
    ) -> None:
        self.store, self.policy, self.clock, self.every = store, policy, clock, every
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.policy.active and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="feedbackwidget-retention")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            await self.once()
            # A little jitter, so servers started together do not all try at the same instant.
            await asyncio.sleep(self.every * random.uniform(1.0, 1.05))  # noqa: S311 - not a secret

    async def once(self) -> Pruned | None:
        """One try; a failure is logged (the next try comes at the next interval), never raised."""
        try:
            result = await prune(self.store, self.policy, self.clock(), every=self.every)
        except StoreUnavailable as exc:
            log.warning("retention sweep skipped: %s", exc.detail)
            return None
        except Exception:
            log.exception("retention sweep failed")
            return None
        if result is not None:
            log.info("retention: deleted %d events and %d refusal rows, cleared %d reason texts",
                     result.events, result.refusals, result.reason_texts)
        return result
