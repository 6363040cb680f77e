"""One retention sweep, the same on every backend: claim the turn, then remove in short steps.

A backend provides the four steps (:class:`SweepSteps`); :func:`sweep` runs
them in order. Events go as a first run of ids — those before the oldest
event that is kept — and never one at or after the cut-off, so the ``after``
cursor of the events export stays valid (ids are never reused) and what a
consumer misses is only ever the oldest history.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol, cast

from ..types import Pruned

#: Rows deleted per step (one short transaction; ~20-50 ms of the SQLite writer).
STEP_ROWS = 5000


class SweepSteps(Protocol):
    async def claim_sweep(self, now: dt.datetime, every: float, events_before: dt.datetime | None) -> int | None:
        """Take the turn: record ``now`` as the last sweep unless another process swept less
        than ``every`` seconds before (or is claiming now), then None. Returns the id of the
        first event to keep (the oldest at or after ``events_before``; past the last id
        when there is none; 0 when ``events_before`` is None)."""

    async def delete_events(self, first_kept: int, before: dt.datetime, limit: int) -> int:
        """Delete up to ``limit`` events with an id below ``first_kept`` and a time before
        ``before``, lowest ids first; returns how many."""

    async def delete_refusals(self, before: dt.date) -> int: ...

    async def clear_reason_texts(self, before: dt.datetime) -> int: ...


async def sweep(
    steps: SweepSteps,
    *,
    events_before: dt.datetime | None,
    refusals_before: dt.date | None,
    reason_texts_before: dt.datetime | None,
    now: dt.datetime,
    every: float = 0.0,
) -> Pruned | None:
    """See :meth:`~feedbackwidget.store.base.Store.prune`."""
    first_kept = await steps.claim_sweep(now, every, events_before)
    if first_kept is None:
        return None
    events = 0
    while events_before is not None and first_kept > 0:
        step = await steps.delete_events(first_kept, events_before, STEP_ROWS)
        events += step
        if step < STEP_ROWS:
            break
    refusals = await steps.delete_refusals(refusals_before) if refusals_before is not None else 0
    texts = await steps.clear_reason_texts(reason_texts_before) if reason_texts_before is not None else 0
    return Pruned(events, refusals, texts)


class Sweeping:
    """Mixed into a store that has the four :class:`SweepSteps`: its ``prune`` (see
    :meth:`~feedbackwidget.store.base.Store.prune`) is :func:`sweep` over them."""

    async def prune(
        self,
        *,
        events_before: dt.datetime | None,
        refusals_before: dt.date | None,
        reason_texts_before: dt.datetime | None,
        now: dt.datetime,
        every: float = 0.0,
    ) -> Pruned | None:
        return await sweep(cast(SweepSteps, self), events_before=events_before, refusals_before=refusals_before,
                           reason_texts_before=reason_texts_before, now=now, every=every)
