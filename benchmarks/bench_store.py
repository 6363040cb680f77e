"""Store-level throughput: SQLite vs PostgreSQL, votes spread or on one hot article,
and the memory an export of a million votes takes.

    python benchmarks/bench_store.py [--seconds 5] [--concurrency 64]
        [--postgres postgresql://postgres@127.0.0.1/postgres] [--export-rows 1000000]
        [--pgbouncer postgresql://postgres@127.0.0.1:6432/postgres]

Creates (and drops) its own PostgreSQL database and a temporary SQLite file.
Not a test: prints figures. Each figure is casts/s of first votes (each one a
new voter: vote row + event + counters in one transaction). With ``--pgbouncer``
(a running PgBouncer in transaction mode whose ``[databases]`` passes any name
on, ``* = host=… port=…``) it also runs the 1,000-article case behind it, and
directly with ``?pooler=on`` (the pooler-safe mode without the extra hop).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import os
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from feedbackwidget.store.postgres import PostgresStore
from feedbackwidget.store.sqlite import SQLiteStore
from feedbackwidget.types import Cast

NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


async def hammer(store: Any, seconds: float, concurrency: int, articles: int, cpu: list[float] | None = None) -> float:
    """Casts/s; appends this process's CPU µs per cast to ``cpu`` (steadier than casts/s on a shared machine)."""
    counter = itertools.count()
    stop = time.perf_counter() + seconds
    done = 0

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            n = next(counter)
            await store.cast(Cast(f"article-{n % articles}", f"voter-{n}", "up" if n % 3 else "down", NOW))
            done += 1

    started, cpu_started = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    if cpu is not None:
        cpu.append((time.process_time() - cpu_started) / max(done, 1) * 1e6)
    return done / (time.perf_counter() - started)


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


async def admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def throughput(args: argparse.Namespace) -> None:
    print(
        f"casts/s, {args.concurrency} concurrent callers, {args.seconds:.0f} s per run, "
        f"median of {args.repeat} runs (interleaved), one process"
    )
    name = "fw_bench_" + secrets.token_hex(4)
    await admin(args.postgres, f'CREATE DATABASE "{name}"')
    url = with_database(args.postgres, name)
    cases = [
        (f"sqlite      {label:16}", "sqlite", 0, articles)
        for label, articles in (("1,000 articles", 1000), ("one hot article", 1))
    ] + [
        (f"postgresql  {label:16}", "postgres", slots, articles)
        for slots in (1, 8)
        for label, articles in (("1,000 articles", 1000), ("one hot article", 1))
    ]
    if args.pgbouncer:
        pooled = [
            ("postgresql  ?pooler=on, direct", "pooler=on", 8, 1000),
            ("pgbouncer   1,000 articles    ", "pgbouncer", 8, 1000),
            ("pgbouncer   ?search_path=…    ", "pgbouncer+settings", 8, 1000),
        ]
        cases = [cases[4], *pooled] if args.pooler_only else cases + pooled
    results: dict[int, list[float]] = {i: [] for i in range(len(cases))}
    cpu: dict[int, list[float]] = {i: [] for i in range(len(cases))}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for run in range(args.repeat):
                for i, (_, kind, slots, articles) in enumerate(cases):
                    store: Any
                    if kind == "sqlite":
                        store = SQLiteStore(os.path.join(tmp, f"bench-{run}-{i}.db"))
                    elif kind in ("pgbouncer", "pooler=on"):  # a database of its own (no URL settings), emptied per run
                        own = f"{name}_c{i}"
                        if run == 0:
                            await admin(args.postgres, f'CREATE DATABASE "{own}"')
                        else:
                            emptied = "TRUNCATE fw_votes, fw_events, fw_counters, fw_articles"
                            await admin(with_database(args.postgres, own), emptied)
                        base = args.pgbouncer if kind == "pgbouncer" else args.postgres + "?pooler=on"
                        store = PostgresStore(
                            with_database(base, own), pool_min=args.pool, pool_max=args.pool, counter_slots=slots
                        )
                    else:
                        schema = f"r{run}_c{i}"
                        await admin(url, f"CREATE SCHEMA {schema}")
                        base = with_database(args.pgbouncer, name) if kind == "pgbouncer+settings" else url
                        store = PostgresStore(
                            f"{base}?search_path={schema}",
                            pool_min=args.pool,
                            pool_max=args.pool,
                            counter_slots=slots,
                        )
                    await store.open()
                    results[i].append(await hammer(store, args.seconds, args.concurrency, articles, cpu[i]))
                    await store.close()
    finally:
        await admin(args.postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        for i in range(len(cases)):
            await admin(args.postgres, f'DROP DATABASE IF EXISTS "{name}_c{i}" WITH (FORCE)')
    for i, (label, kind, slots, _) in enumerate(cases):
        runs = sorted(results[i])
        extra = f"   (pool {args.pool}, {slots} counter slot(s))" if kind != "sqlite" else ""
        spread = " ".join(f"{r:.0f}" for r in runs)
        print(f"  {label} {statistics.median(runs):8.0f}{extra}   runs: {spread}"
              f"   client CPU µs/cast: {statistics.median(cpu[i]):.0f} ({min(cpu[i]):.0f}-{max(cpu[i]):.0f})")


async def export_rss(args: argparse.Namespace) -> None:
    name = "fw_bench_" + secrets.token_hex(4)
    await admin(args.postgres, f'CREATE DATABASE "{name}"')
    try:
        url = with_database(args.postgres, name)
        store = PostgresStore(url)
        await store.open()
        await store.close()
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(
                "INSERT INTO fw_votes (article_id, voter, vote, created_at, updated_at, article_version) "
                "SELECT 'article-' || (i % 10000), 'voter-' || i, CASE WHEN i % 3 = 0 THEN 'down' ELSE 'up' END, "
                "now(), now(), 'r1' FROM generate_series(1, $1) AS i",
                args.export_rows,
            )
        finally:
            await conn.close()
        for fmt in ("csv", "ndjson"):
            out = subprocess.run(
                [sys.executable, __file__, "--export-child", url, "--format", fmt],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            print(f"  export {args.export_rows:,} votes as {fmt}: {out}")
    finally:
        await admin(args.postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def export_child(url: str, fmt: str) -> None:
    from feedbackwidget.export import stream

    store = PostgresStore(url)
    await store.open()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rows = size = 0
    started = time.perf_counter()
    async for chunk in stream("votes", fmt, store.export("votes")):  # type: ignore[arg-type]
        size += len(chunk)
        rows += chunk.count(b"\n")
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    await store.close()
    print(
        f"{size / 1e6:.0f} MB in {elapsed:.1f} s; peak RSS {before / 1024:.0f} MiB before, "
        f"{after / 1024:.0f} MiB after (+{(after - before) / 1024:.1f} MiB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--pool", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--pgbouncer", help="URL of a PgBouncer in transaction mode in front of --postgres")
    parser.add_argument("--pooler-only", action="store_true", help="with --pgbouncer: only the cases that compare it")
    parser.add_argument("--export-rows", type=int, default=1_000_000)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-export", action="store_true")
    parser.add_argument("--export-child", help=argparse.SUPPRESS)
    parser.add_argument("--format", default="csv", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_child:
        asyncio.run(export_child(args.export_child, args.format))
        return
    if not args.skip_throughput:
        asyncio.run(throughput(args))
    if not args.skip_export:
        asyncio.run(export_rss(args))


if __name__ == "__main__":
    main()
