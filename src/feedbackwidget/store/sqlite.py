"""The embedded store: one SQLite file in WAL mode.

Writes go through one writer thread with group commit (``sqlite_writer.py``).
Point reads (an article's counters, a reader's vote) are primary-key
lookups that WAL never makes wait on the writer; they run on the calling
thread. Scans (listings, exports) run in worker threads and stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ..errors import SchemaTooNew, StoreUnavailable
from ..types import (
    ArticleId,
    Cast,
    CastResult,
    ExportFormat,
    ExportKind,
    Tally,
    Vote,
    VoterKey,
)
from . import failures
from .base import TEXT_KINDS, Row, gcra_start
from .outbox import Alerts
from .sqlite_about import AboutQueries
from .sqlite_feedback import FeedbackQueries
from .sqlite_fold import fold
from .sqlite_outbox import SQLiteOutbox, advance_alerts
from .sqlite_retention import RetentionQueries
from .sqlite_rollups import RollupQueries
from .sqlite_schema import MIGRATIONS, VERSION
from .sqlite_sql import (
    apply_cast,
    apply_withdraw,
    export_query,
    statements,
    text_query,
    to_us,
)
from .sqlite_writer import Writer, connect, path_from_url

__all__ = ["SQLiteStore", "path_from_url"]

T = TypeVar("T")

_EXPORT_BATCH = 1000
_TEXT_BATCH = 4000  # ~0.4-0.7 MB of lines: fewer hand-overs to the loop, each of which may wait for the GIL
_PRUNE_EVERY = 30.0  # seconds between sweeps of expired rate-limit rows
#: :func:`~feedbackwidget.store.base.gcra_start` in SQL (?2 = now, ?4 = period).
_GCRA_START = "(CASE WHEN tat > ?2 + ?4 THEN ?2 ELSE MAX(tat, ?2) END)"


class SQLiteStore(FeedbackQueries, RollupQueries, SQLiteOutbox, RetentionQueries, AboutQueries):
    """The default store. ``path`` is a file path (``:memory:`` is not supported).

    ``busy_timeout`` is how long a write waits for another process's lock
    before the store answers ``store_unavailable``. ``rollup_interval`` is how
    often (seconds) the writer folds new events into the rollups while votes
    come (0: in every group commit); a read of them folds first when this store
    has written since (sqlite_fold.py).
    """

    def __init__(self, path: str, *, busy_timeout: float = 10.0, rollup_interval: float = 1.0) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self.rollup_interval = rollup_interval
        #: A write since the last fold; at first, what another writer may have left unfolded.
        self._rollup_dirty = True
        self._writer: Writer | None = None
        self._reader: sqlite3.Connection | None = None
        self._reader_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._thread_conns: list[sqlite3.Connection] = []
        self._secret: bytes | None = None
        #: SQLite hands text over as bytes in the file's own encoding: export_text needs UTF-8.
        self._utf8 = True

    @classmethod
    def from_url(cls, url: str) -> SQLiteStore:
        return cls(path_from_url(url))

    # -- life cycle -------------------------------------------------------

    async def open(self) -> None:
        if self._writer is not None:
            return
        await asyncio.to_thread(self.migrate)
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="feedbackwidget-sqlite-read")
        self._writer = Writer(self.path, self.busy_timeout, fold, self.rollup_interval)
        self._writer.start()

    def migrate(self) -> int:
        """Bring the file to the newest schema; returns the version found before."""
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            os.makedirs(directory, exist_ok=True)
            conn = connect(self.path)
        except (OSError, sqlite3.Error) as exc:
            detail = f"Cannot open the SQLite database ({type(exc).__name__})."
            raise failures.unavailable(exc, detail) from None
        try:
            self._utf8 = conn.execute("PRAGMA encoding").fetchone()[0] == "UTF-8"
            conn.execute("BEGIN IMMEDIATE")
            found = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if found > VERSION:
                conn.execute("ROLLBACK")
                raise SchemaTooNew(found, VERSION)
            for version in range(found, VERSION):
                for statement in statements(MIGRATIONS[version]):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
            return found
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            detail = f"Cannot migrate the SQLite database ({type(exc).__name__})."
            raise failures.unavailable(exc, detail) from None
        finally:
            conn.close()

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.jobs.put(None)
            await asyncio.to_thread(writer.join)
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        for conn in self._thread_conns:
            conn.close()
        self._thread_conns.clear()
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    # -- plumbing ---------------------------------------------------------

    async def _write(self, op: Callable[[sqlite3.Connection], T]) -> T:
        if self._writer is None:
            raise StoreUnavailable("The vote store is closed.")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._writer.jobs.put((op, future))
        return await future

    def _point(self, sql: str, params: Sequence[Any]) -> Any:
        """A primary-key lookup on the caller's thread (never waits on the writer in WAL)."""
        with self._reader_lock:
            try:
                if self._reader is None:
                    self._reader = connect(self.path, readonly=True)
                return self._reader.execute(sql, params).fetchone()
            except sqlite3.Error as exc:
                if self._reader is not None:
                    self._reader.close()
                    self._reader = None
                raise failures.unavailable(exc) from None

    def _thread_conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, readonly=True)
            self._local.conn = conn
            self._thread_conns.append(conn)
        return conn

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._pool is None:
            raise StoreUnavailable("The vote store is closed.")

        def run() -> T:
            try:
                return fn(self._thread_conn())
            except sqlite3.Error as exc:
                raise failures.unavailable(exc) from None

        return await asyncio.get_running_loop().run_in_executor(self._pool, run)

    # -- questions --------------------------------------------------------

    async def ping(self) -> None:
        self._point("SELECT 1", ())

    async def secret(self) -> bytes:
        if self._secret is None:
            row = self._point("SELECT value FROM meta WHERE key = 'secret'", ())
            if row is None:
                raise StoreUnavailable("The store has no installation secret; run migrate.")
            self._secret = bytes(row[0])
        return self._secret

    async def tally(self, article_id: ArticleId) -> Tally:
        row = self._point("SELECT up, down FROM articles WHERE article_id = ?", (article_id,))
        return Tally(article_id, row[0], row[1]) if row else Tally(article_id)

    async def vote_of(self, article_id: ArticleId, voter: VoterKey) -> Vote | None:
        row = self._point("SELECT vote FROM votes WHERE article_id = ? AND voter = ?", (article_id, voter))
        return row[0] if row else None

    async def versions(self, article_id: ArticleId) -> list[Row]:
        sql = (
            "SELECT article_version, SUM(vote = 'up'), SUM(vote = 'down') FROM votes "
            "WHERE article_id = ? GROUP BY article_version ORDER BY MIN(created_at)"
        )

        def run(conn: sqlite3.Connection) -> list[Row]:
            return [{"article_version": r[0], "up": r[1], "down": r[2]} for r in conn.execute(sql, (article_id,))]

        return await self._read(run)

    async def export(
        self,
        kind: ExportKind,
        *,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        after: int | None = None,
        site: str | None = None,
    ) -> AsyncIterator[Sequence[Row]]:
        if kind == "daily":  # from the rollups (sqlite_rollups.py)
            async for rows in self.daily_export(since, until, _EXPORT_BATCH, site):
                yield rows
            return
        sql, params, convert = export_query(kind, since, until, after, site)
        async for batch in self._stream(sql, params, lambda rows: [convert(r) for r in rows], _EXPORT_BATCH):
            yield batch

    def export_text(
        self,
        kind: ExportKind,
        fmt: ExportFormat,
        *,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        after: int | None = None,
        site: str | None = None,
    ) -> AsyncIterator[bytes] | None:
        """CSV (headerless) or NDJSON lines written by SQLite; see TextExport."""
        if kind not in TEXT_KINDS or not self._utf8:
            return None
        sql, params, encode = text_query(kind, fmt, since, until, after, site)
        return self._stream(sql, params, encode, _TEXT_BATCH)

    def _stream(
        self, sql: str, params: Sequence[Any], encode: Callable[[list[tuple[Any, ...]]], T], size: int
    ) -> AsyncIterator[T]:
        return self._stream_all([(sql, params)], encode, size)

    async def _stream_all(
        self, queries: Iterable[tuple[str, Sequence[Any]]], encode: Callable[[list[tuple[Any, ...]]], T], size: int
    ) -> AsyncIterator[T]:
        """Run queries one after the other in their own thread and connection, in one snapshot, handing
        over each batch of ``size`` rows ``encode``d: at most two wait for the reader, so memory stays flat.
        ``queries`` is consumed on that thread, so it may build each statement just before it runs."""
        loop = asyncio.get_running_loop()
        batches: asyncio.Queue[T | BaseException | None] = asyncio.Queue()
        room = threading.Semaphore(2)  # batches handed over and not yet taken
        cancelled = threading.Event()

        def hand_over(item: T | BaseException | None) -> bool:
            """Queue one item once there is room, however slow the reader; False once it has gone.
            The thread goes on reading meanwhile instead of waiting for the loop to take it."""
            while not room.acquire(timeout=0.5):
                if cancelled.is_set():
                    return False
            try:
                loop.call_soon_threadsafe(batches.put_nowait, item)
            except RuntimeError:  # the loop is gone
                return False
            return True

        def produce() -> None:
            try:
                conn = connect(self.path, readonly=True)
            except sqlite3.Error as exc:
                hand_over(failures.unavailable(exc))
                return
            try:
                conn.execute("BEGIN")
                for sql, params in queries:
                    cursor = conn.execute(sql, params)
                    while rows := cursor.fetchmany(size):
                        if not hand_over(encode(rows)):
                            return
                hand_over(None)
            except sqlite3.Error as exc:
                hand_over(failures.unavailable(exc))
            except (ValueError, TypeError, OverflowError) as exc:
                # A stored value no export can write (not UTF-8, a time outside years 1-9999):
                # written into the file by something else than this store.
                problem = type(exc).__name__
                hand_over(StoreUnavailable(f"The vote store holds a value that cannot be exported ({problem})."))
            except Exception as exc:  # never leave the reader waiting for a batch that will not come
                hand_over(exc)
            finally:
                conn.close()

        thread = threading.Thread(target=produce, name="feedbackwidget-sqlite-export", daemon=True)
        thread.start()
        try:
            while True:
                item = await batches.get()
                room.release()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            cancelled.set()

    # -- changes ----------------------------------------------------------

    async def cast(self, cast: Cast, alerts: Alerts | None = None) -> CastResult:
        self._rollup_dirty = True
        if alerts is None:
            return await self._write(lambda conn: apply_cast(conn, cast))

        def op(conn: sqlite3.Connection) -> CastResult:
            # The single writer sees the exact tally: no lock beyond it is needed.
            result = apply_cast(conn, cast)
            advance_alerts(conn, result.tally, alerts, to_us(cast.at))
            return result

        return await self._write(op)

    async def withdraw(self, article_id: ArticleId, voter: VoterKey, at: dt.datetime) -> Tally | None:
        self._rollup_dirty = True
        return await self._write(lambda conn: apply_withdraw(conn, article_id, voter, to_us(at)))

    async def erase(self, voter: VoterKey, at: dt.datetime) -> list[ArticleId]:
        self._rollup_dirty = True
        def op(conn: sqlite3.Connection) -> list[ArticleId]:
            rows = conn.execute("SELECT article_id FROM votes WHERE voter = ?", (voter,)).fetchall()
            for (article_id,) in rows:
                apply_withdraw(conn, article_id, voter, to_us(at), action="erase")
            return [r[0] for r in rows]

        return await self._write(op)

    async def take(self, key: str, now: float | None, count: int, period: float) -> float:
        writer, at = self._writer, now

        def op(conn: sqlite3.Connection) -> float:
            now = at if at is not None else time.time()
            if writer is not None and now - writer.last_prune > _PRUNE_EVERY:
                conn.execute("DELETE FROM rate_limits WHERE tat < ?", (now,))
                writer.last_prune = now
            step = period / count
            if (now + step) - now <= period + 1e-9:
                # One statement: a new key is let through; a known one only while
                # start(tat) + step - now <= period (the check below, done by SQLite).
                taken = conn.execute(
                    f"INSERT INTO rate_limits (key, tat) VALUES (?1, ?2 + ?3) "
                    f"ON CONFLICT (key) DO UPDATE SET tat = {_GCRA_START} + ?3 "
                    f"WHERE {_GCRA_START} + ?3 - ?2 <= ?4 + 1e-9 RETURNING tat",
                    (key, now, step, period),
                ).fetchall()
                if taken:
                    return 0.0
            row = conn.execute("SELECT tat FROM rate_limits WHERE key = ?", (key,)).fetchone()
            tat = gcra_start(row[0] if row else None, now, period)
            new_tat = tat + step
            if new_tat - now > period + 1e-9:
                return max(new_tat - now - period, 1e-3)
            conn.execute(
                "INSERT INTO rate_limits (key, tat) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET tat = excluded.tat",
                (key, new_tat),
            )
            return 0.0

        return await self._write(op)
