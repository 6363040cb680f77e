"""The SQLite store's connections and its single writer.

One thread owns the only write connection and commits whatever has queued up
in one transaction (group commit); each operation runs in its own savepoint,
so one failing operation never undoes another. New events are folded into the
rollups by the writer too, once per interval rather than once per vote
(sqlite_fold.py). A database that does not
answer fails the whole batch with StoreUnavailable, and the next batch
reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

from . import failures

_BATCH = 256  # operations per group commit at most

_Op = Callable[[sqlite3.Connection], Any]


def connect(path: str, *, readonly: bool = False, busy_timeout: float = 10.0) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    conn.execute("PRAGMA foreign_keys = ON")
    if readonly:
        conn.execute("PRAGMA query_only = ON")
    else:
        _enable_wal(conn, busy_timeout)
        conn.execute("PRAGMA synchronous = NORMAL")
    try:
        conn.execute("SELECT sqrt(1.0)")
    except sqlite3.OperationalError:  # an SQLite built without its math functions (rollups.wilson_sql needs it)
        conn.create_function("sqrt", 1, math.sqrt, deterministic=True)
    return conn


def _enable_wal(conn: sqlite3.Connection, busy_timeout: float) -> None:
    """WAL is a property of the file, switched on once. Two processes opening a new
    file at the same moment make the switch answer "locked": retry until the busy timeout."""
    deadline = time.monotonic() + busy_timeout
    while conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        try:
            conn.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)  # the other process holds the lock for a few milliseconds


def path_from_url(url: str) -> str:
    """``sqlite:///relative.db`` or ``sqlite:////absolute.db`` → a file path."""
    path = url.removeprefix("sqlite:///")
    if not path:
        raise ValueError("empty SQLite path")
    return path


class Writer(threading.Thread):
    """Owns the write connection; applies queued operations with group commit."""

    def __init__(self, path: str, busy_timeout: float, fold: _Op | None = None, fold_every: float = 0.0) -> None:
        super().__init__(name="feedbackwidget-sqlite-writer", daemon=True)
        self.path = path
        self.busy_timeout = busy_timeout
        #: Run after a batch's operations, in its transaction (the rollups' fold, sqlite_fold.py),
        #: at most every ``fold_every`` seconds (0: every batch), and once the queue has been idle
        #: that long after a batch that did not fold; an error in it fails the batch like a
        #: database error.
        self.fold = fold
        self.fold_every = fold_every
        self.folded_at = time.monotonic()
        self.unfolded = False
        self.jobs: queue.SimpleQueue[tuple[_Op, asyncio.Future[Any]] | None] = queue.SimpleQueue()
        self.conn: sqlite3.Connection | None = None
        self.last_prune = 0.0
        #: Times a batch found the write lock held by another connection and tried again.
        self.lock_waits = 0

    def run(self) -> None:
        while True:
            try:
                job = self.jobs.get(timeout=self.fold_every if self.unfolded else None)
            except queue.Empty:  # idle: fold what the last batches left
                self._apply([], fold=True)
                continue
            if job is None:
                if self.unfolded:
                    self._apply([], fold=True)
                break
            batch = [job]
            stop = False
            while len(batch) < _BATCH:
                try:
                    nxt = self.jobs.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            self._apply(batch)
            if stop:
                if self.unfolded:
                    self._apply([], fold=True)
                break
        if self.conn is not None:
            self.conn.close()

    def _begin(self, conn: sqlite3.Connection) -> None:
        """Take the write lock, waiting up to ``busy_timeout`` for another process to let go.

        SQLite's own busy handler sleeps 1, 2, 5, 10 … 100 ms between tries, so a writer
        in a second worker process keeps missing the moments the first one lets go; trying
        again every 0.2-2 ms does not (docs/performance.md, "What bounds each target")."""
        deadline = time.monotonic() + self.busy_timeout
        pause = 0.0002
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
            self.lock_waits += 1
            time.sleep(pause)  # on the writer thread; nothing else waits on it
            pause = min(pause * 2, 0.002)

    def _apply(self, batch: list[tuple[_Op, asyncio.Future[Any]]], fold: bool = False) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            if self.conn is None:
                self.conn = connect(self.path, busy_timeout=self.busy_timeout)
                self.conn.execute("PRAGMA busy_timeout = 0")  # _begin waits for the lock itself
            conn = self.conn
            self._begin(conn)
            try:
                for op, _ in batch:
                    conn.execute("SAVEPOINT op")
                    try:
                        outcomes.append((True, op(conn)))
                        conn.execute("RELEASE op")
                    except sqlite3.Error:
                        raise  # the database itself is in trouble (locked, I/O, not a database): give up the batch
                    except Exception as exc:
                        conn.execute("ROLLBACK TO op")
                        conn.execute("RELEASE op")
                        outcomes.append((False, exc))
                if self.fold is not None:
                    now = time.monotonic()
                    if fold or now - self.folded_at >= self.fold_every:
                        self.fold(conn)
                        self.folded_at, self.unfolded = now, False
                    else:
                        self.unfolded = True
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            if self.conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    self.conn.close()
                self.conn = None  # reconnect on the next batch: recover by itself
            failure = failures.unavailable(exc)
            outcomes = [(False, failure)] * len(batch)
        # One wake-up per event loop per batch, not one per operation.
        settled: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
            settled.setdefault(future.get_loop(), []).append((future, ok, value))
        for loop, items in settled.items():
            loop.call_soon_threadsafe(_settle, items)


def _settle(items: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in items:
        if future.done():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
