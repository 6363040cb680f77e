"""Backups of the embedded store, taken while a server writes to it, and restoring one.

SQLite's online backup API copies the file's pages through a read
transaction: in WAL mode the server's writer goes on committing while the
copy runs, and the copy is the database as of the moment the read began —
every vote with its event and its counters, or none of them. The copy is
made in one step (``pages=-1``): a copy made in steps starts over whenever
another process commits between two steps, which under a steady stream of
votes could be for ever.

The backup is written beside its destination under a temporary name,
checked, switched to a rollback journal (one self-contained file) and only
then renamed into place, so ``PATH`` is either the previous file or a whole
backup. PostgreSQL has its own tools for this (``pg_dump``/``pg_restore``,
docs/backup.md); the functions here refuse a PostgreSQL URL, saying so.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from .errors import FeedbackError
from .store.sqlite import SQLiteStore
from .store.sqlite_schema import VERSION
from .store.sqlite_writer import connect, path_from_url

__all__ = ["BackupError", "BackupResult", "backup_sqlite", "check_backup", "restore_sqlite", "sqlite_path"]

_POSTGRES_HINT = (
    "backup and restore work on the SQLite store; for PostgreSQL use pg_dump --format=custom and "
    "pg_restore (docs/backup.md)"
)


class BackupError(FeedbackError):
    """A backup or restore that cannot be made; ``detail`` says why in one line."""

    code = "backup_failed"


@dataclass(frozen=True, slots=True)
class BackupResult:
    """What a backup or restore wrote: ``path``, its ``size`` in bytes, the wall ``seconds``
    it took, its schema ``version`` and how many current ``votes`` and history ``events`` it holds."""

    path: str
    size: int
    seconds: float
    version: int
    votes: int
    events: int


def sqlite_path(url: str) -> str:
    """The file of a ``sqlite:///`` URL; BackupError for any other database."""
    if not url.startswith("sqlite:"):
        raise BackupError(_POSTGRES_HINT)
    return path_from_url(url)


def _open_readonly(path: str) -> sqlite3.Connection:
    """A read-only connection to an existing file (``sqlite3.connect`` would create a missing one)."""
    if not os.path.isfile(path):
        raise BackupError(f"no SQLite database at {path}")
    try:
        conn = sqlite3.connect(f"file:{quote(os.path.abspath(path))}?mode=ro", uri=True, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 10000")
        return conn
    except sqlite3.Error as exc:
        raise BackupError(f"cannot open {path} ({type(exc).__name__}: {exc})") from None


def check_backup(conn: sqlite3.Connection, what: str) -> tuple[int, int, int]:
    """``(version, votes, events)`` of a copy that passes SQLite's quick check and holds a
    feedbackwidget schema this version can read; BackupError naming ``what`` otherwise."""
    try:
        problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if problems != ["ok"]:
            raise BackupError(f"{what} is damaged: {problems[0]}")
        if not 1 <= version <= VERSION:
            raise BackupError(f"{what} has schema version {version}; this feedbackwidget reads 1 to {VERSION}")
        if conn.execute("SELECT count(*) FROM meta WHERE key = 'secret'").fetchone()[0] != 1:
            raise BackupError(f"{what} has no installation secret")
        votes = int(conn.execute("SELECT count(*) FROM votes").fetchone()[0])
        events = int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    except sqlite3.Error as exc:
        raise BackupError(f"{what} is not a feedbackwidget database ({type(exc).__name__}: {exc})") from None
    return version, votes, events


def backup_sqlite(source: str, target: str) -> BackupResult:
    """Copy the SQLite store at ``source`` to the file ``target`` (replaced if it exists).

    Safe while servers write to ``source``: the copy is one consistent snapshot.
    Raises BackupError (missing source, unwritable target, a copy that fails its check).
    """
    started = time.perf_counter()
    directory = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(directory):
        raise BackupError(f"the directory of {target} does not exist")
    src = _open_readonly(source)
    handle, partial = tempfile.mkstemp(prefix=".feedbackwidget-backup-", dir=directory)
    os.close(handle)
    try:
        dst = sqlite3.connect(partial, isolation_level=None)
        try:
            src.backup(dst)  # pages=-1: one read transaction, one snapshot
            version, votes, events = check_backup(dst, "the copy")
            dst.execute("PRAGMA journal_mode = DELETE")  # one file, nothing beside it
        finally:
            dst.close()
        _fsync(partial)
        os.replace(partial, target)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot back up {source} to {target} ({type(exc).__name__}: {exc})") from None
    finally:
        src.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
    return BackupResult(target, os.path.getsize(target), time.perf_counter() - started, version, votes, events)


def restore_sqlite(backup: str, target: str, *, replace: bool = False) -> BackupResult:
    """Copy the backup file ``backup`` into the SQLite store at ``target``, then migrate it.

    Servers on ``target`` must be stopped first (they keep the installation
    secret and recent tallies in memory). A ``target`` that already holds
    votes or events is only overwritten with ``replace``. The copy goes
    through the backup API into ``target``'s own journal, so an interrupted
    restore leaves ``target`` as it was. Raises BackupError.
    """
    started = time.perf_counter()
    src = _open_readonly(backup)
    try:
        _version, votes, events = check_backup(src, backup)
        if os.path.exists(target) and not replace and _holds_data(target):
            raise BackupError(f"{target} already holds votes; pass --replace to overwrite it with {backup}")
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        dst = connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise BackupError(f"cannot restore {backup} into {target} ({type(exc).__name__}: {exc})") from None
    finally:
        src.close()
    SQLiteStore(target).migrate()  # a backup from an older version is brought up to date
    return BackupResult(target, os.path.getsize(target), time.perf_counter() - started, VERSION, votes, events)


def _holds_data(path: str) -> bool:
    conn = _open_readonly(path)
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return any(conn.execute(f"SELECT EXISTS (SELECT 1 FROM {t})").fetchone()[0] for t in ("votes", "events")
                   if t in tables)
    except sqlite3.Error:
        return True  # something we do not understand: never overwrite it silently
    finally:
        conn.close()


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
