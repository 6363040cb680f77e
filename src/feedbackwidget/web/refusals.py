"""Refused vote attempts, counted in memory and written as aggregates.

An attack shows up as a flood of refusals (captcha failures, rate limiting,
foreign origins). Writing one row per refusal would let that flood become a
flood of database writes, so :class:`Refusals` only adds to an in-memory
counter keyed by (UTC day, article, kind), and :class:`RefusalFlusher` hands
the accumulated counts to the store once per interval, in one call.

Memory is bounded: once ``max_keys`` distinct keys are held in one interval,
counts for further articles go to the article id ``""`` (unknown), one such
overflow key per day and kind, so random article ids cannot grow the counter.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections import Counter
from collections.abc import Awaitable, Callable

from ..store.base import Row

log = logging.getLogger("feedbackwidget")

KINDS = ("captcha_required", "captcha_failed", "rate_limited", "forbidden_origin")
UNKNOWN_ARTICLE = ""

_Key = tuple[dt.date, str, str]


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


class Refusals:
    """Counts of refused attempts per (UTC day, article id, kind); no I/O."""

    def __init__(self, max_keys: int = 10_000, today: Callable[[], dt.date] = _today) -> None:
        self.max_keys = max_keys
        self._today = today
        self._counts: Counter[_Key] = Counter()

    def count(self, article_id: str | None, kind: str, n: int = 1) -> None:
        """Record ``n`` refusals of ``kind`` (one of KINDS) for ``article_id`` (None: unknown)."""
        if kind not in KINDS:
            raise ValueError(f"unknown refusal kind {kind!r}")
        key = (self._today(), article_id or UNKNOWN_ARTICLE, kind)
        if key not in self._counts and len(self._counts) >= self.max_keys:
            key = (key[0], UNKNOWN_ARTICLE, kind)
        self._counts[key] += n

    def __len__(self) -> int:
        return len(self._counts)

    def drain(self) -> list[Row]:
        """The counts so far as rows ``day, article_id, kind, count``; the counter restarts."""
        counts, self._counts = self._counts, Counter()
        return [
            {"day": day, "article_id": article_id, "kind": kind, "count": n}
            for (day, article_id, kind), n in sorted(counts.items())
        ]

    def restore(self, rows: list[Row]) -> None:
        """Put back rows a failed write did not store (they are written next time)."""
        for row in rows:
            key = (row["day"], str(row["article_id"]), str(row["kind"]))
            if key not in self._counts and len(self._counts) >= self.max_keys:
                key = (key[0], UNKNOWN_ARTICLE, key[2])
            self._counts[key] += int(row["count"])


class RefusalFlusher:
    """Writes a :class:`Refusals` counter through ``write`` every ``interval`` seconds.

    ``write`` receives the rows of one interval (e.g. ``store.add_refusals``);
    when it raises, the rows go back into the counter for the next attempt.
    ``stop()`` writes whatever is left.
    """

    def __init__(
        self,
        refusals: Refusals,
        write: Callable[[list[Row]], Awaitable[None]],
        interval: float = 60.0,
    ) -> None:
        self.refusals = refusals
        self._write = write
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    async def flush(self) -> int:
        """Write the pending counts now; returns the number of rows written."""
        rows = self.refusals.drain()
        if not rows:
            return 0
        try:
            await self._write(rows)
        except Exception:
            self.refusals.restore(rows)
            log.warning("could not store %d refusal counts; will retry", len(rows))
            return 0
        return len(rows)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            await self.flush()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def wake(self) -> None:
        """Flush at once instead of at the end of the interval (used by tests and shutdown)."""
        self._wake.set()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.flush()
