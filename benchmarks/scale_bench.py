"""The editor's side at scale (issue 16): dashboard, article page, listing, daily export and
votes, on a bulk-loaded year or two of history, before and after the rollups, both stores.

    python benchmarks/scale_bench.py [--size S|M|L] [--before SRC] [--stores sqlite,postgres]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres] [--keep DIR [--reuse]] [--json]

Sizes: S 1,000 articles / 110k events, M 20,000 / 2.2M, L 100,000 / 10M, spread evenly
over two years ending yesterday (UTC); every tenth event is a change of mind, one
article in fifty is "hot" (a hundred articles take 2% of the votes). Rows go straight
into the tables with bulk SQL, in the schema *before* the rollups (SQLite 2,
PostgreSQL 4); with ``--before`` (the ``src`` directory of an older checkout, e.g. from
``git worktree add /tmp/fw-main main``) each figure is measured with that code first;
then this checkout migrates the same database (the migration's time is a figure too,
building the rollups from the history) and measures again.

Every figure comes from a fresh child process (imports and the store's opening done
before the clock starts), so "+MiB" is that process's peak RSS (VmHWM) minus its RSS
just before: ``/admin`` is the dashboard's page context (``web/admin_views.py``: what
the page reads and computes; the template adds a few ms); the listing is
``store.articles``; "deep page" is offset 50% of the articles before, and the keyset
``after=`` the same article after; the export is ``export.encoded`` (``kind=daily``,
``tz=Europe/Paris``, the last 365 days) written to nowhere. Votes go to the store
(``store.cast``), not through HTTP: p99 of back-to-back votes while two-year
dashboards load one after another in the same process (for at least 3 s), and votes/s
of 64 concurrent voters (4,000 votes), before against after, on the same database.
Not a test: prints figures.

Keeping the databases (L takes ~10 minutes to build per store): ``--keep DIR`` builds
into ``DIR/scale-SIZE.db`` (DIR is made if missing) and the PostgreSQL database
``fw_scale_SIZE_<8 hex digits of DIR's path>`` on the ``--postgres`` server, and leaves
them there (drop them by hand: ``DROP DATABASE …``); a later ``--keep DIR`` without
``--reuse`` replaces what that DIR kept. ``--keep DIR --reuse`` builds nothing and
measures only "after" again, with this checkout's code, on what the same ``--keep DIR
--size --stores --postgres`` kept (migrating it first if this code is newer); it
refuses to start when nothing was kept.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import os
import platform
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
AFTER_SRC = HERE.parent / "src"
SIZES = {"S": (1_000, 110_000), "M": (20_000, 2_200_000), "L": (100_000, 10_000_000)}
DAYS = 730

#: Run in a child with ``sys.argv[1]`` the source directory and ``sys.argv[2]`` the JSON task.
CHILD = r"""
import asyncio, datetime as dt, json, sys, time
sys.path.insert(0, sys.argv[1])
task = json.loads(sys.argv[2])
from feedbackwidget import export
from feedbackwidget.config import Settings
from feedbackwidget.store import open_store
from feedbackwidget.types import Cast
from feedbackwidget.web import admin_views

def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])

async def dashboard(store, settings, days):
    end = dt.date.fromisoformat(task["last_day"])
    params = {"from": (end - dt.timedelta(days=days - 1)).isoformat(), "to": end.isoformat()}
    return await admin_views.dashboard_context(store, settings, params, "")

async def votes(store, count, concurrency, prefix):
    latencies = []
    async def one(n):
        t = time.perf_counter()
        await store.cast(Cast(f"article-{n * 7919 % task['articles']:06d}", f"{prefix}-{n}",
                              "up" if n % 3 else "down", dt.datetime.now(dt.UTC)))
        latencies.append(time.perf_counter() - t)
    queue = list(range(count))
    async def worker():
        while queue:
            await one(queue.pop())
    started = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(concurrency)])
    return count / (time.perf_counter() - started), latencies

async def main():
    settings = Settings(database_url=task["url"], secret_key="s" * 32, export_token="t" * 32)
    store = open_store(task["url"])
    await store.open()
    what, out = task["what"], {}
    await store.tally("article-000001")
    before = status("VmRSS")
    started = time.perf_counter()
    if what.startswith("admin"):
        await dashboard(store, settings, int(what[5:]))
    elif what == "article":
        end = dt.date.fromisoformat(task["last_day"])
        params = {"from": (end - dt.timedelta(days=29)).isoformat(), "to": end.isoformat()}
        await admin_views.article_context(store, settings, "article-000777", params, "")
    elif what == "listing":
        await store.articles("wilson", 50, 0)
    elif what == "deep":
        middle = task["articles"] // 2
        try:
            first = await store.articles("wilson", 1, middle - 1)
            started = time.perf_counter()
            await store.articles("wilson", 50, 0, first[0].article_id)
            out["by"] = "keyset"
        except TypeError:  # before: no keyset, so the offset
            started = time.perf_counter()
            await store.articles("wilson", 50, middle)
            out["by"] = "offset"
    elif what == "export_tz":
        end = dt.date.fromisoformat(task["last_day"]) + dt.timedelta(days=1)
        query = export.ExportQuery.from_params({"kind": "daily", "format": "csv", "tz": "Europe/Paris",
            "since": (end - dt.timedelta(days=365)).isoformat(), "until": end.isoformat()})
        rows = 0
        first_byte = None
        async for chunk in export.encoded(store, query):
            first_byte = first_byte or time.perf_counter() - started
            rows += chunk.count(b"\n")
        out["rows"] = rows - 1
        out["first_byte"] = first_byte
    elif what == "vote_p99":
        _, quiet = await votes(store, 400, 1, "quiet")
        pages = []
        async def load():  # the two-year dashboard back to back for at least 3 s (one load, if slower)
            until = time.perf_counter() + 3
            while not pages or time.perf_counter() < until:
                t = time.perf_counter()
                await dashboard(store, settings, 730)
                pages.append(time.perf_counter() - t)
        loading = asyncio.ensure_future(load())
        busy = []
        n = 0
        while not loading.done():
            t = time.perf_counter()
            await store.cast(Cast(f"article-{n % 1000:06d}", f"busy-{n}", "up", dt.datetime.now(dt.UTC)))
            busy.append(time.perf_counter() - t)
            n += 1
        await loading
        q = lambda xs: sorted(xs)[max(0, int(len(xs) * 0.99) - 1)] * 1000
        out.update(p99_quiet_ms=q(quiet), p99_busy_ms=q(busy) if busy else None, votes_during=len(busy),
                   max_busy_ms=max(busy) * 1000 if busy else None, dashboards=len(pages),
                   dashboard_median_s=sorted(pages)[len(pages) // 2])
    elif what == "throughput":
        out["votes_per_s"], _ = await votes(store, 4000, 64, "tp-" + task["tag"])
    out["seconds"] = time.perf_counter() - started
    out["rss_growth_mib"] = (status("VmHWM") - before) / 1024
    await store.close()
    print(json.dumps(out))

asyncio.run(main())
"""


def child(src: Path, **task: Any) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", CHILD, str(src), json.dumps(task)],
                          capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


#: The schema versions before the rollups.
BEFORE_SQLITE, BEFORE_POSTGRES = 2, 4


def migrate(src: Path, url: str, before: bool = False) -> float:
    """Migrate ``url`` with the code in ``src`` (to the version before the rollups when ``before``),
    in a child; returns the seconds it took."""
    if url.startswith("sqlite") and before:
        code = (f"import sqlite3, sys, time; sys.path.insert(0, {str(src)!r}); "
                "from feedbackwidget.store.sqlite_schema import MIGRATIONS; "
                "from feedbackwidget.store.sqlite_sql import statements; t = time.perf_counter(); "
                "c = sqlite3.connect(sys.argv[1].removeprefix('sqlite:///'), isolation_level=None); "
                "c.execute('PRAGMA journal_mode = WAL'); "
                f"[c.execute(q) for m in MIGRATIONS[:{BEFORE_SQLITE}] for q in statements(m)]; "
                f"c.execute('PRAGMA user_version = {BEFORE_SQLITE}'); print(time.perf_counter() - t)")
    elif url.startswith("sqlite"):
        code = (f"import sys, time; sys.path.insert(0, {str(src)!r}); "
                "from feedbackwidget.store.sqlite import SQLiteStore; t = time.perf_counter(); "
                "SQLiteStore(sys.argv[1].removeprefix('sqlite:///')).migrate(); print(time.perf_counter() - t)")
    else:
        target = BEFORE_POSTGRES if before else ""
        code = (f"import asyncio, sys, time; sys.path.insert(0, {str(src)!r}); "
                "from feedbackwidget.store.postgres import PostgresStore; t = time.perf_counter(); "
                f"asyncio.run(PostgresStore(sys.argv[1]).migrate({target})); print(time.perf_counter() - t)")
    done = subprocess.run([sys.executable, "-c", code, url], capture_output=True, text=True, timeout=7200, check=True)
    return float(done.stdout.strip().splitlines()[-1])


# -- bulk loading (the schema before the rollups) ---------------------------------------------

def _plan(articles: int, events: int, last_day: dt.date) -> tuple[int, float]:
    start = dt.datetime.combine(last_day - dt.timedelta(days=DAYS - 1), dt.time(), dt.UTC)
    return int(start.timestamp() * 1_000_000), DAYS * 86_400_000_000 / events


def fill_sqlite(path: Path, articles: int, events: int, last_day: dt.date) -> None:
    """Event n: article (n * 7919) mod N (every 50th among the first 100: the hot ones), voter n;
    every 10th event (n % 10 == 9) changes the previous voter's mind instead."""
    t0, step = _plan(articles, events, last_day)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")

    def article(n: int) -> str:
        return f"article-{(n % 100 if n % 50 == 0 else n * 7919 % articles):06d}"

    def at(n: int) -> int:
        return t0 + int(n * step)

    def rows() -> Any:
        for n in range(events):
            if n % 10 == 9:
                vote = "up" if (n - 1) % 3 == 0 else "down"
                yield (at(n), article(n - 1), f"{n - 1:x}", "change", vote)
            else:
                yield (at(n), article(n), f"{n:x}", "cast", "up" if n % 3 else "down")

    def votes() -> Any:
        for n in range(events):
            if n % 10 == 9:
                continue
            vote = "up" if n % 3 else "down"
            changed = n % 10 == 8 and n + 1 < events
            if changed:
                vote = "down" if vote == "up" else "up"
            yield (article(n), f"{n:x}", vote, at(n), at(n + 1) if changed else at(n))

    conn.executemany("INSERT INTO events (at, article_id, voter, action, vote) VALUES (?, ?, ?, ?, ?)", rows())
    conn.executemany(
        "INSERT INTO votes (article_id, voter, vote, created_at, updated_at) VALUES (?, ?, ?, ?, ?)", votes()
    )
    conn.execute(
        "INSERT INTO articles (article_id, up, down, first_vote_at, last_vote_at) "
        "SELECT article_id, SUM(vote = 'up'), SUM(vote = 'down'), MIN(created_at), MAX(updated_at) "
        "FROM votes GROUP BY article_id"
    )
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


async def fill_postgres(url: str, articles: int, events: int, last_day: dt.date) -> None:
    import asyncpg

    t0, step = _plan(articles, events, last_day)
    art = f"'article-' || lpad((CASE WHEN n % 50 = 0 THEN n % 100 ELSE n * 7919 % {articles} END)::text, 6, '0')"
    prev = art.replace("n % 50", "(n - 1) % 50").replace("n % 100", "(n - 1) % 100")
    prev = prev.replace("n * 7919", "(n - 1) * 7919")
    at = f"to_timestamp(({t0} + floor(n * {step}))::float8 / 1e6)"
    conn = await asyncpg.connect(url, timeout=10)
    try:
        await conn.execute(
            "INSERT INTO fw_events (at, article_id, voter, action, vote) "
            f"SELECT {at}, CASE WHEN n % 10 = 9 THEN {prev} ELSE {art} END, "
            "to_hex(CASE WHEN n % 10 = 9 THEN n - 1 ELSE n END), "
            "CASE WHEN n % 10 = 9 THEN 'change' ELSE 'cast' END, "
            "CASE WHEN n % 10 = 9 THEN (CASE WHEN (n - 1) % 3 = 0 THEN 'up' ELSE 'down' END) "
            "     WHEN n % 3 = 0 THEN 'down' ELSE 'up' END "
            f"FROM generate_series(0::bigint, {events - 1}) AS n"
        )
        await conn.execute(
            "INSERT INTO fw_votes (article_id, voter, vote, created_at, updated_at) "
            "SELECT DISTINCT ON (article_id, voter) article_id, voter, vote, "
            "  min(at) OVER (PARTITION BY article_id, voter), at "
            "FROM fw_events ORDER BY article_id, voter, event_id DESC"
        )
        await conn.execute(
            "INSERT INTO fw_articles (article_id, first_vote_at) SELECT article_id, min(created_at) FROM fw_votes "
            "GROUP BY 1"
        )
        await conn.execute(
            "INSERT INTO fw_counters (article_id, slot, up, down, last_vote_at) "
            "SELECT article_id, 0, count(*) FILTER (WHERE vote = 'up'), count(*) FILTER (WHERE vote = 'down'), "
            "max(updated_at) FROM fw_votes GROUP BY 1"
        )
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def _pg_exists(url: str, name: str) -> bool:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=10)
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


async def _pg(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


# -- measuring -----------------------------------------------------------------------------------

ONLY: list[str] = []
FIGURES = ("admin30", "admin365", "admin730", "article", "listing", "deep", "export_tz", "vote_p99", "throughput")


def measure(src: Path, url: str, articles: int, last_day: dt.date, tag: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for what in ONLY or FIGURES:
        out[what] = child(src, url=url, what=what, articles=articles, last_day=last_day.isoformat(), tag=tag)
        print(f"  {tag:6} {what:10} {json.dumps(out[what])}", flush=True)
    return out


def run_store(name: str, url: str, before: Path | None, articles: int, events: int, reuse: bool) -> dict[str, Any]:
    last_day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    if reuse:  # a kept database: built and measured "before" by an earlier run; "after" again
        print(f"{name}: kept, measured again", flush=True)
        result = {"migrate_s": migrate(AFTER_SRC, url)}
        result["after"] = measure(AFTER_SRC, url, articles, last_day, "after")
        return result
    started = time.perf_counter()
    migrate(AFTER_SRC, url, before=True)  # rows go into the schema before the rollups
    if name == "sqlite":
        fill_sqlite(Path(url.removeprefix("sqlite:///")), articles, events, last_day)
    else:
        asyncio.run(fill_postgres(url, articles, events, last_day))
    result: dict[str, Any] = {"build_s": time.perf_counter() - started}
    print(f"{name}: built in {result['build_s']:.0f} s", flush=True)
    if before is not None:
        result["before"] = measure(before, url, articles, last_day, "before")
    result["migrate_s"] = migrate(AFTER_SRC, url)
    print(f"{name}: migrated in {result['migrate_s']:.1f} s", flush=True)
    result["after"] = measure(AFTER_SRC, url, articles, last_day, "after")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="S")
    parser.add_argument("--before", type=Path, help="src directory of the code to compare against")
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--only", help="comma-separated figures to measure (default all): " + ",".join(FIGURES))
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="keep the databases (DIR/scale-SIZE.db, PostgreSQL database fw_scale_SIZE_<hash of DIR>)")
    parser.add_argument("--reuse", action="store_true",
                        help="with --keep: measure 'after' again on the kept databases (no build, no 'before')")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.reuse and not args.keep:
        parser.error("--reuse needs --keep")
    ONLY[:] = args.only.split(",") if args.only else []
    articles, events = SIZES[args.size]
    results: dict[str, Any] = {
        "size": args.size, "articles": articles, "events": events,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="minutes"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}",
    }
    kept = args.keep.resolve() if args.keep else None
    if kept and not args.reuse:
        kept.mkdir(parents=True, exist_ok=True)
    path = kept / f"scale-{args.size}.db" if kept else None
    # Named after DIR: a run keeping elsewhere never replaces (drops) another run's database.
    name = (f"fw_scale_{args.size.lower()}_{hashlib.sha256(str(kept).encode()).hexdigest()[:8]}" if kept
            else f"fw_scale_{secrets.token_hex(4)}")
    if args.reuse:
        missing = [str(path)] if "sqlite" in args.stores and path and not path.exists() else []
        if "postgres" in args.stores and not asyncio.run(_pg_exists(args.postgres, name)):
            missing.append(f"PostgreSQL database {name}")
        if missing:
            parser.error(f"--reuse: nothing kept ({', '.join(missing)}); build it first with --keep {args.keep}")
    with tempfile.TemporaryDirectory(prefix="fw-scale-") as scratch:
        if "sqlite" in args.stores:
            path = path or Path(scratch) / "scale.db"
            if kept and not args.reuse:
                for stale in (path.with_name(path.name + tail) for tail in ("", "-wal", "-shm", "-journal")):
                    stale.unlink(missing_ok=True)
            results["sqlite"] = run_store("sqlite", f"sqlite:///{path}", args.before, articles, events, args.reuse)
        if "postgres" in args.stores:
            if not args.reuse:
                asyncio.run(_pg(args.postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                asyncio.run(_pg(args.postgres, f'CREATE DATABASE "{name}"'))
            try:
                url = args.postgres.rsplit("/", 1)[0] + "/" + name
                results["postgres"] = run_store("postgres", url, args.before, articles, events, args.reuse)
            finally:
                if not args.keep:
                    asyncio.run(_pg(args.postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
