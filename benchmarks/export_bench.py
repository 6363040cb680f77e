"""Export of a million votes: rows/s and the RSS growth of the exporting process.

    python benchmarks/export_bench.py [--rows 1000000] [--formats csv,ndjson]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres | --no-postgres] [--no-http] [--json]
        [--real-times]

Fills a scratch SQLite file (and, when PostgreSQL answers and its store is
importable, a scratch PostgreSQL database) with ``--rows`` votes over 10,000
articles, then exports them

* with ``feedbackwidget export`` in a child process (``cli`` rows): growth =
  peak RSS (VmHWM) minus RSS just before the export started, after imports;
* through ``GET /api/v1/export`` of a ``feedbackwidget serve`` process (``http``
  rows, both stores): growth = the server's VmHWM after the download minus its RSS before.

Rows are written straight into the schema's tables with bulk SQL (the store API
would take minutes for a million); the exports read them through the store.
Times are whole seconds and no vote was changed, unless ``--real-times`` gives
them microseconds and changes every third vote a day later (as real votes
are: the databases then format more, and two times for a changed vote).
Every run drops what it created. Not a test: prints figures (``--json``: one
JSON line at the end, for benchmarks/run.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
ARTICLES = 10_000
#: Where an export is measured (keys of the results) and how the tables name it.
PATHS = (
    ("sqlite_cli", "SQLite, CLI"), ("sqlite_http", "SQLite, HTTP"),
    ("postgres_cli", "PostgreSQL, CLI"), ("postgres_http", "PostgreSQL, HTTP"),
)
T0_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z in microseconds

#: Run in the child: import everything, note the RSS, export, report the peak.
CHILD = r"""
import json, sys, time
from feedbackwidget import cli

def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0

before = status("VmRSS")
started = time.perf_counter()
code = cli.main(sys.argv[1:])
seconds = time.perf_counter() - started
print(json.dumps({"code": code, "seconds": seconds, "rss_before_kib": before, "hwm_kib": status("VmHWM")}),
      file=sys.stderr)
"""


def fill_sqlite(path: Path, rows: int, real_times: bool = False) -> None:
    from feedbackwidget.store.sqlite import SQLiteStore

    SQLiteStore(str(path)).migrate()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")

    def votes() -> Any:
        for n in range(rows):
            at = T0_US + n * (1_000_003 if real_times else 1_000_000)
            changed = at + 86_400_000_123 if real_times and n % 3 == 1 else at
            yield (
                f"article-{n % ARTICLES:05d}", f"{n:032x}", "down" if n % 3 == 0 else "up", at, changed,
                "v1" if n % 2 else None,
            )

    conn.executemany(
        "INSERT INTO votes (article_id, voter, vote, created_at, updated_at, article_version) VALUES (?,?,?,?,?,?)",
        votes(),
    )
    conn.execute("COMMIT")
    conn.close()


async def _pg(url: str, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=10)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def fill_postgres(url: str, rows: int, real_times: bool = False) -> None:
    from feedbackwidget.store import open_store

    store = open_store(url)
    await store.open()  # migrates
    await store.close()
    step = "interval '1.000003 seconds'" if real_times else "interval '1 second'"
    change = "interval '0'"
    if real_times:
        change = "CASE WHEN n % 3 = 1 THEN interval '1 day 0.000123 seconds' ELSE interval '0' END"
    await _pg(
        url,
        "INSERT INTO fw_votes (article_id, voter, vote, created_at, updated_at, article_version) "
        f"SELECT 'article-' || lpad((n % {ARTICLES})::text, 5, '0'), lpad(to_hex(n), 32, '0'), "
        "CASE WHEN n % 3 = 0 THEN 'down' ELSE 'up' END, "
        f"timestamptz '2026-01-01 00:00:00+00' + n * {step}, "
        f"timestamptz '2026-01-01 00:00:00+00' + n * {step} + {change}, "
        "CASE WHEN n % 2 = 1 THEN 'v1' END "
        f"FROM generate_series(0, {rows - 1}) AS n",
        "ANALYZE fw_votes",
    )


def cli_export(url: str, fmt: str, rows: int) -> dict[str, Any]:
    done = subprocess.run(
        [PYTHON, "-c", CHILD, "export", "--format", fmt, "--kind", "votes", "--output", os.devnull,
         "--database-url", url],
        capture_output=True, text=True, check=False, cwd=HERE.parent,
    )
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"export failed: {done.stderr[-2000:]}")
    child = json.loads(lines[-1])
    return {
        "rows_per_s": rows / child["seconds"],
        "seconds": child["seconds"],
        "rss_growth_mib": (child["hwm_kib"] - child["rss_before_kib"]) / 1024,
        "rss_before_mib": child["rss_before_kib"] / 1024,
    }


def _status(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def http_export(url: str, fmts: list[str], rows: int) -> dict[str, dict[str, Any]]:
    """One ``serve`` process per format, so each VmHWM belongs to one download."""
    out: dict[str, dict[str, Any]] = {}
    for fmt in fmts:
        with __import__("socket").socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        token = secrets.token_urlsafe(24)
        env = {
            **os.environ,
            "FEEDBACKWIDGET_DATABASE_URL": url,
            "FEEDBACKWIDGET_SECRET_KEY": secrets.token_hex(16),
            "FEEDBACKWIDGET_EXPORT_TOKEN": token,
        }
        server = subprocess.Popen(
            [PYTHON, "-m", "feedbackwidget.cli", "serve", "--port", str(port), "--log-level", "warning"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=HERE.parent,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                        break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise RuntimeError("the export server did not start") from None
                    time.sleep(0.1)
            before = _status(server.pid, "VmRSS")
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/v1/export?format={fmt}&kind=votes",
                headers={"Authorization": f"Bearer {token}"},
            )
            started = time.perf_counter()
            size = 0
            with urllib.request.urlopen(request, timeout=300) as answer:
                while chunk := answer.read(1 << 16):
                    size += len(chunk)
            seconds = time.perf_counter() - started
            out[fmt] = {
                "rows_per_s": rows / seconds,
                "seconds": seconds,
                "bytes": size,
                "rss_growth_mib": (_status(server.pid, "VmHWM") - before) / 1024,
                "rss_before_mib": before / 1024,
            }
        finally:
            server.terminate()
            server.wait(15)
    return out


def postgres_available() -> bool:
    try:
        import feedbackwidget.store.postgres  # noqa: F401
    except ImportError:
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--formats", default="csv,ndjson")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the results")
    parser.add_argument(
        "--real-times", action="store_true",
        help="times with microseconds, and every third vote changed a day later (default: whole seconds, unchanged)",
    )
    args = parser.parse_args()
    fmts = args.formats.split(",")
    results: dict[str, Any] = {"rows": args.rows, "targets": {"rows_per_s": 200_000, "rss_growth_mib": 50}}
    work = Path(tempfile.mkdtemp(prefix="fw-export-"))
    try:
        path = work / "export.db"
        started = time.perf_counter()
        fill_sqlite(path, args.rows, args.real_times)
        print(f"sqlite: {args.rows:,} votes written in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        url = f"sqlite:///{path}"
        results["sqlite_cli"] = {fmt: cli_export(url, fmt, args.rows) for fmt in fmts}
        if not args.no_http:
            results["sqlite_http"] = http_export(url, fmts, args.rows)
        if not args.no_postgres and postgres_available():
            from urllib.parse import urlsplit, urlunsplit

            name = f"fw_export_{os.getpid()}_{secrets.token_hex(3)}"
            asyncio.run(_pg(args.postgres, f'CREATE DATABASE "{name}"'))
            try:
                pg_url = urlunsplit(urlsplit(args.postgres)._replace(path="/" + name))
                started = time.perf_counter()
                asyncio.run(fill_postgres(pg_url, args.rows, args.real_times))
                print(f"postgres: {args.rows:,} votes written in {time.perf_counter() - started:.1f}s",
                      file=sys.stderr)
                results["postgres_cli"] = {fmt: cli_export(pg_url, fmt, args.rows) for fmt in fmts}
                if not args.no_http:
                    results["postgres_http"] = http_export(pg_url, fmts, args.rows)
            finally:
                asyncio.run(_pg(args.postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    for where, _ in PATHS:
        for fmt, r in results.get(where, {}).items():
            print(
                f"{where:<13} {fmt:<7} {r['rows_per_s']:>10,.0f} rows/s  {r['seconds']:6.2f} s  "
                f"RSS growth {r['rss_growth_mib']:6.1f} MiB (target ≥ 200,000 rows/s, < 50 MiB)"
            )
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
