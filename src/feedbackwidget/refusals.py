"""Refused vote attempts, counted in memory and written as aggregates.

An attack shows up as a flood of refusals (captcha failures, rate limiting,
foreign origins). Writing one row per refusal would let that flood become a
flood of database writes, so :class:`Refusals` only adds to an in-memory
counter keyed by (UTC day, article, kind), and :class:`RefusalFlusher` hands
the accumulated counts to the store in coalesced writes that each refused
attempt's answer waits for.

Memory is bounded: once ``max_keys`` distinct keys are held in one interval,
counts for further articles go to the article id ``""`` (unknown), one such
overflow key per day and kind, so random article ids cannot grow the counter.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable

from .store.base import Row

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
    """Writes a :class:`Refusals` counter through ``write`` (e.g. ``store.add_refusals``).

    A refused attempt is answered only once its count is written (:meth:`written`), so a
    count that was answered survives any stop of the server — a host app that never ran
    the widget's lifespan, a SIGTERM, a SIGKILL a moment later. Writes are coalesced: one
    is in flight at a time, at most one per ``spacing`` seconds, each carrying every count
    made since the last, so a flood of refusals is a handful of writes a second, never one
    write per refusal. When ``write`` raises, the rows go back into the counter for the
    next write and the waiting answers go out anyway (a count is never worth a 503).
    """

    def __init__(
        self,
        refusals: Refusals,
        write: Callable[[list[Row]], Awaitable[None]],
        spacing: float = 0.1,
    ) -> None:
        self.refusals = refusals
        self._write = write
        self.spacing = spacing
        self._counted = 0  # refusals counted so far
        self._covered = 0  # refusals that a finished write attempt included
        self._writing: asyncio.Task[None] | None = None
        self._last = -spacing

    def count(self, article_id: str | None, kind: str) -> int:
        """Count one refusal; returns the ticket to pass to :meth:`written`."""
        self.refusals.count(article_id, kind)
        self._counted += 1
        return self._counted

    async def written(self, ticket: int) -> None:
        """Return once a write attempt has included the refusal with ``ticket``."""
        while self._covered < ticket:
            if self._writing is None or self._writing.done():
                self._writing = asyncio.get_running_loop().create_task(self._write_next())
            await asyncio.shield(self._writing)  # a cancelled request does not cancel the write

    async def _write_next(self) -> None:
        wait = self._last + self.spacing - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)  # spacing between writes, not synchronisation
        upto = self._counted
        await self.flush()
        self._covered, self._last = upto, time.monotonic()

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

    async def stop(self) -> None:
        """Finish a write in flight and write whatever is left."""
        if self._writing is not None:
            with contextlib.suppress(Exception):
                await self._writing
        await self.flush()
