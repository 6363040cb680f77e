"""Prometheus metrics: what the service, the captcha client, the tally cache and the export
record, and the text the ``/metrics`` endpoint answers with.

The figures are process-wide (Prometheus' own model): every widget in one
process adds to the same metrics, kept in a registry of their own so that a
host application's default registry is not touched. Under
``feedbackwidget serve --workers N`` each worker writes its figures to files in
``PROMETHEUS_MULTIPROC_DIR`` (``serve`` makes and removes that folder) and
whichever worker answers a scrape adds up every worker's files
(prometheus-client's multi-process mode), so a scrape sees the whole server.

No label carries an article id, an address or a token: every label's values are
a short, fixed list (outcomes, refusal kinds, store operations, export kinds),
so the number of series is bounded whatever readers send. docs/metrics.md lists
every metric.

Recording is injected: the service, the verifier and the cache hold a
:class:`Metrics` (recording) or :data:`OFF` (a no-op, when ``METRICS_TOKEN`` is
not set), never the prometheus-client objects themselves.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Awaitable
from typing import TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

from .errors import FeedbackError
from .types import EXPORT_FORMATS, EXPORT_KINDS, REFUSAL_KINDS

__all__ = ["CONTENT_TYPE", "OFF", "REGISTRY", "Metrics", "exposition"]

T = TypeVar("T")

#: The media type of :func:`exposition`'s answer (Prometheus' text format, as prometheus-client names it).
CONTENT_TYPE = CONTENT_TYPE_LATEST
#: The variable prometheus-client reads, at import, to choose file-backed values.
MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
#: The registry our metrics live in (a host may ``register`` a collector of it in its own).
REGISTRY = CollectorRegistry(auto_describe=True)

#: Outcomes of a vote that was counted: a first vote, a change of mind, the same vote again.
VOTE_COUNTED = ("cast", "changed", "unchanged")
#: Every error code a vote attempt can end with (the contract's error table).
VOTE_REFUSED = (
    "invalid_request", "captcha_required", "captcha_failed", "forbidden_origin", "unauthorized", "not_found",
    "payload_too_large", "unsupported_media_type", "rate_limited", "captcha_unavailable", "store_unavailable",
    "internal_error",
)
#: What siteverify said: yes, no (the reader's answer), or no answer we can use (``unavailable``).
SITEVERIFY_OUTCOMES = ("success", "failed", "unavailable")
#: What became of one webhook delivery attempt: answered 2xx, to be tried again, given up.
WEBHOOK_OUTCOMES = ("delivered", "retry", "failed")
#: Store operations timed by the service (each one store call).
STORE_OPERATIONS = ("cast", "withdraw", "erase", "tally", "vote_of", "set_reason", "add_refusals", "ping")
#: Siteverify takes tens to hundreds of milliseconds; HCAPTCHA_TIMEOUT (5 s by default) bounds it.
SITEVERIFY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0)
#: A tally is ~0.01-1 ms; a vote's write waits for a group commit of a few ms; 1 s is an outage.
STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class _Families:
    """The metric families, made once per process on first use (not at import)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.votes = Counter("feedbackwidget_votes", "Vote attempts by outcome (counted, or the error code).",
                             ["outcome"], registry=r)
        self.withdrawals = Counter("feedbackwidget_withdrawals", "Withdrawals and erasures by outcome.",
                                   ["action", "outcome"], registry=r)
        self.refusals = Counter("feedbackwidget_refusals", "Refused vote attempts by kind (the abuse view).",
                                ["kind"], registry=r)
        self.siteverify = Counter("feedbackwidget_siteverify", "Siteverify calls by outcome.",
                                  ["outcome"], registry=r)
        self.siteverify_seconds = Histogram("feedbackwidget_siteverify_seconds",
                                            "Time of one siteverify call, until its answer was judged.",
                                            registry=r, buckets=SITEVERIFY_BUCKETS)
        self.store_seconds = Histogram("feedbackwidget_store_seconds", "Time of one store operation.",
                                       ["operation"], registry=r, buckets=STORE_BUCKETS)
        self.store_failures = Counter("feedbackwidget_store_failures",
                                      "Store operations that failed with store_unavailable.",
                                      ["operation"], registry=r)
        self.tally_cache = Counter("feedbackwidget_tally_cache",
                                   "Anonymous tally reads answered from memory (hit) or not (miss).",
                                   ["result"], registry=r)
        self.export_rows = Counter("feedbackwidget_export_rows", "Rows written by exports.",
                                   ["kind", "format"], registry=r)
        self.exports = Counter("feedbackwidget_exports", "Exports started.", ["kind", "format"], registry=r)
        self.webhooks = Counter("feedbackwidget_webhook_deliveries", "Webhook delivery attempts by outcome.",
                                ["outcome"], registry=r)
        self.webhook_seconds = Histogram("feedbackwidget_webhook_seconds",
                                         "Time of one webhook delivery attempt, until the receiver answered.",
                                         registry=r, buckets=SITEVERIFY_BUCKETS)
        self.workers = Gauge("feedbackwidget_workers", "Event loops serving the widget (all worker processes).",
                             registry=r, multiprocess_mode="livesum")


@functools.cache
def _families() -> _Families:
    families = _Families(REGISTRY)
    if not multiprocess():  # these read /proc of this process only: meaningless summed over workers
        ProcessCollector(registry=REGISTRY)
        PlatformCollector(registry=REGISTRY)
    return families


def multiprocess() -> bool:
    """Whether figures go to files shared by the workers (prometheus-client decides at import)."""
    return MULTIPROC_DIR in os.environ or MULTIPROC_DIR.lower() in os.environ


class Metrics:
    """Records the widget's figures. Children of labelled metrics are looked up once, here,
    so recording one figure costs one dictionary lookup and one increment."""

    enabled = True

    def __init__(self) -> None:
        f = self._f = _families()
        self._votes = {o: f.votes.labels(o) for o in (*VOTE_COUNTED, *VOTE_REFUSED)}
        self._refusals: dict[str, Counter] = {k: f.refusals.labels(k) for k in REFUSAL_KINDS}
        self._siteverify = {o: f.siteverify.labels(o) for o in SITEVERIFY_OUTCOMES}
        self._store = {op: f.store_seconds.labels(op) for op in STORE_OPERATIONS}
        self._store_failures = {op: f.store_failures.labels(op) for op in STORE_OPERATIONS}
        self._hit, self._miss = f.tally_cache.labels("hit"), f.tally_cache.labels("miss")
        self._webhooks = {o: f.webhooks.labels(o) for o in WEBHOOK_OUTCOMES}
        for kind in EXPORT_KINDS:  # present (at 0) from the start, so rate() sees the first export
            for fmt in EXPORT_FORMATS:
                f.export_rows.labels(kind, fmt)
                f.exports.labels(kind, fmt)

    def vote(self, outcome: str) -> None:
        """One vote attempt ended: one of :data:`VOTE_COUNTED` or an error code."""
        (self._votes.get(outcome) or self._votes["internal_error"]).inc()

    def withdrawal(self, action: str, outcome: str) -> None:
        """``action`` is ``withdraw`` or ``erase``; ``outcome`` ``ok`` or an error code."""
        self._f.withdrawals.labels(action, outcome if outcome in (*VOTE_REFUSED, "ok") else "internal_error").inc()

    def refusal(self, kind: str) -> None:
        self._refusals[kind].inc()

    def siteverify(self, outcome: str, seconds: float) -> None:
        self._siteverify[outcome].inc()
        self._f.siteverify_seconds.observe(seconds)

    def store(self, operation: str, call: Awaitable[T]) -> Awaitable[T]:
        """``call`` (one store call), timed when awaited; a failure is counted and raised unchanged."""
        return self._timed(operation, call)

    async def _timed(self, operation: str, call: Awaitable[T]) -> T:
        start = time.perf_counter()
        try:
            return await call
        except FeedbackError as error:
            if error.code == "store_unavailable":
                self._store_failures[operation].inc()
            raise
        finally:
            self._store[operation].observe(time.perf_counter() - start)

    def tally_cache(self, hit: bool) -> None:
        (self._hit if hit else self._miss).inc()

    def webhook(self, outcome: str, seconds: float) -> None:
        """One delivery attempt ended: one of :data:`WEBHOOK_OUTCOMES`, after ``seconds``."""
        self._webhooks[outcome].inc()
        self._f.webhook_seconds.observe(seconds)

    def export(self, kind: str, fmt: str) -> None:
        self._f.exports.labels(kind, fmt).inc()

    def export_rows(self, kind: str, fmt: str, rows: int) -> None:
        self._f.export_rows.labels(kind, fmt).inc(rows)

    def worker(self, delta: int) -> None:
        """An event loop began (+1) or stopped (-1) serving."""
        self._f.workers.inc(delta)


class _Off(Metrics):
    """Records nothing (METRICS_TOKEN unset: nobody could read the figures)."""

    enabled = False

    def __init__(self) -> None:
        pass

    def vote(self, outcome: str) -> None:
        pass

    def withdrawal(self, action: str, outcome: str) -> None:
        pass

    def refusal(self, kind: str) -> None:
        pass

    def siteverify(self, outcome: str, seconds: float) -> None:
        pass

    def store(self, operation: str, call: Awaitable[T]) -> Awaitable[T]:
        return call  # awaited by the caller as it is: not even a wrapper when off

    def tally_cache(self, hit: bool) -> None:
        pass

    def webhook(self, outcome: str, seconds: float) -> None:
        pass

    def export(self, kind: str, fmt: str) -> None:
        pass

    def export_rows(self, kind: str, fmt: str, rows: int) -> None:
        pass

    def worker(self, delta: int) -> None:
        pass


#: The no-op recorder.
OFF: Metrics = _Off()


def export_records(fmt: str, chunk: bytes) -> int:
    """How many records end in ``chunk`` of a CSV or NDJSON export (chunks hold whole records; a
    CSV header line counts, and is taken off by the caller's first chunk). A line end inside a
    quoted CSV cell is not one: it lies in an odd-numbered piece between quote characters
    (RFC 4180's doubled quotes keep the count even). Other formats count no records here."""
    if fmt == "ndjson":
        return chunk.count(b"\n")
    if fmt != "csv":
        return 0
    if b'"' not in chunk:
        return chunk.count(b"\n")
    return sum(piece.count(b"\n") for piece in chunk.split(b'"')[::2])


def exposition() -> bytes:
    """Every figure in the Prometheus text format: this process's, or under ``serve --workers
    N`` the sum over every worker's files (the collector reads them on each scrape)."""
    _families()
    if not multiprocess():
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    _multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)

