"""Backup and restore of a million votes: seconds and bytes, SQLite and PostgreSQL.

    python benchmarks/backup_bench.py [--rows 1000000]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres | --no-postgres] [--json]

Fills a scratch SQLite file with ``--rows`` current votes over 10,000 articles,
one ``cast`` event per vote and the articles' counters (bulk SQL, as
export_bench.py does: the store API would take minutes), then times

* ``feedbackwidget backup`` (a child process) with nothing else writing;
* the same while another connection commits one event per transaction as fast
  as it can (what a busy server's writer does), counting its commits;
* ``feedbackwidget restore`` into a new file;

and, when PostgreSQL answers, the same data in a scratch database through
``pg_dump --format=custom`` and ``pg_restore`` (docs/backup.md). Sizes are the
files written (and the live SQLite file / ``pg_database_size``). Every run drops
what it created. Not a test: prints figures (``--json``: one JSON line).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from export_bench import ARTICLES, _pg, fill_postgres, fill_sqlite  # noqa: E402

CLI = [sys.executable, "-m", "feedbackwidget.cli"]


def complete_sqlite(path: Path) -> None:
    """Events and counters that match the votes export_bench.fill_sqlite wrote."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")
    conn.execute(
        "INSERT INTO events (at, article_id, voter, action, vote, article_version) "
        "SELECT created_at, article_id, voter, 'cast', vote, article_version FROM votes ORDER BY created_at"
    )
    conn.execute(
        "INSERT INTO articles (article_id, up, down, first_vote_at, last_vote_at) "
        "SELECT article_id, SUM(vote = 'up'), SUM(vote = 'down'), MIN(created_at), MAX(updated_at) "
        "FROM votes GROUP BY article_id"
    )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def timed(*command: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=HERE.parent)
    if done.returncode != 0:
        raise RuntimeError(f"{command[:3]} failed: {done.stderr[-2000:]}")
    return time.perf_counter() - started


def busy_writer(path: Path, stop: threading.Event, commits: list[int]) -> None:
    """Commit one event per transaction until told to stop (the server's writer, flat out)."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=10)
    conn.execute("PRAGMA synchronous = NORMAL")
    n = 0
    while not stop.is_set():
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO events (at, article_id, voter, action, vote) VALUES (?, 'busy', ?, 'cast', 'up')",
                     (n, f"{n:032x}"))
        conn.execute("COMMIT")
        n += 1
        commits[0] = n
    conn.close()


def sqlite_figures(rows: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fw-backup-bench-") as tmp:
        live, copy = Path(tmp) / "live.db", Path(tmp) / "backup.db"
        started = time.perf_counter()
        fill_sqlite(live, rows, real_times=True)
        complete_sqlite(live)
        fill_seconds = time.perf_counter() - started
        url = f"sqlite:///{live}"
        live_bytes = live.stat().st_size
        quiet = timed(*CLI, "backup", str(copy), "--database-url", url)
        size = copy.stat().st_size
        stop, commits = threading.Event(), [0]
        writer = threading.Thread(target=busy_writer, args=(live, stop, commits))
        writer.start()
        time.sleep(0.5)  # let the writer reach its pace before the backup starts
        before = commits[0]
        busy = timed(*CLI, "backup", str(copy), "--database-url", url)
        during = commits[0] - before
        stop.set()
        writer.join()
        restore = timed(*CLI, "restore", str(copy), "--database-url", f"sqlite:///{Path(tmp) / 'restored.db'}")
        return {
            "fill_seconds": fill_seconds, "live_bytes": live_bytes, "backup_bytes": size,
            "backup_seconds": quiet, "backup_seconds_while_writing": busy,
            "writer_commits_during": during, "restore_seconds": restore,
        }


async def _complete_postgres(url: str) -> None:
    await _pg(
        url,
        "INSERT INTO fw_events (at, article_id, voter, action, vote, article_version) "
        "SELECT created_at, article_id, voter, 'cast', vote, article_version FROM fw_votes ORDER BY created_at",
        "INSERT INTO fw_articles (article_id, first_vote_at) "
        "SELECT article_id, min(created_at) FROM fw_votes GROUP BY article_id",
        "INSERT INTO fw_counters (article_id, slot, up, down, last_vote_at) "
        "SELECT article_id, 0, count(*) FILTER (WHERE vote = 'up'), count(*) FILTER (WHERE vote = 'down'), "
        "max(updated_at) FROM fw_votes GROUP BY article_id",
        "VACUUM ANALYZE",
    )


async def _size(url: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT pg_database_size(current_database())"))
    finally:
        await conn.close()


def postgres_figures(admin: str, rows: int) -> dict[str, Any]:
    base = admin.rsplit("/", 1)[0]
    names = ["fw_backup_bench_" + secrets.token_hex(4) for _ in range(2)]
    for name in names:
        asyncio.run(_pg(admin, f'CREATE DATABASE "{name}"'))
    live, restored = (f"{base}/{name}" for name in names)
    try:
        started = time.perf_counter()
        asyncio.run(fill_postgres(live, rows, real_times=True))
        asyncio.run(_complete_postgres(live))
        fill_seconds = time.perf_counter() - started
        with tempfile.TemporaryDirectory(prefix="fw-backup-bench-") as tmp:
            dump = Path(tmp) / "backup.dump"
            seconds = timed("pg_dump", "--format=custom", "--no-owner", "--file", str(dump), live)
            restore = timed("pg_restore", "--no-owner", "--exit-on-error", "--dbname", restored, str(dump))
            return {
                "fill_seconds": fill_seconds, "live_bytes": asyncio.run(_size(live)),
                "backup_bytes": dump.stat().st_size, "backup_seconds": seconds, "restore_seconds": restore,
            }
    finally:
        for name in names:
            asyncio.run(_pg(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {"rows": args.rows, "articles": ARTICLES, "sqlite": sqlite_figures(args.rows)}
    if not args.no_postgres:
        results["postgres"] = postgres_figures(args.postgres, args.rows)
    for store in ("sqlite", "postgres"):
        for key, value in results.get(store, {}).items():
            shown = f"{value / 2**20:.1f} MiB" if key.endswith("bytes") else (
                f"{value:.2f} s" if key.endswith("seconds") or key.endswith("while_writing") else value)
            print(f"{store:9} {key:30} {shown}")
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONPATH", str(HERE.parent / "src"))
    main()
