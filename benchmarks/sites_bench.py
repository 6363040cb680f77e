"""Several sites in one store: what a vote costs, and a small site's listing beside a big one.

    python benchmarks/sites_bench.py [--seconds 5] [--repeat 3] [--concurrency 64]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres] [--skip-votes] [--skip-listing]
        [--big 20000] [--small 200] [--big-site default] [--small-site north]

Votes: casts/s of first votes (a new voter each) on 1,000 articles of the default site (bare
keys) and of a site "north" (``north`` U+001F id keys), on SQLite and PostgreSQL (8 slots).
Listing: ``--big`` articles in ``--big-site`` and ``--small`` in ``--small-site``, then the first
page (20 rows) of the small site in each order, median of 30 reads, with the per-site indexes and
without them (dropped: what the same query costs when only the global sort index exists; the
default site's keys are never in them, so for a small default site both figures are the global index's).
Creates (and drops) its own PostgreSQL database and a temporary SQLite file. Not a test:
prints figures, noisy on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import inspect
import itertools
import os
import secrets
import sqlite3
import statistics
import tempfile
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from feedbackwidget.store import site_keys
from feedbackwidget.store.postgres import PostgresStore
from feedbackwidget.store.sqlite import SQLiteStore
from feedbackwidget.types import ORDERS, Cast

NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
#: The per-site listing indexes (sqlite_rollups.py, pg_rollups.py), dropped for the "without" figures.
SQLITE_INDEXES = ("articles_site_by_wilson", "articles_site_by_total", "articles_site_by_recent")
PG_INDEXES = ("fw_ranks_site_by_wilson", "fw_ranks_site_by_total", "fw_ranks_site_by_recent")


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


async def admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def hammer(store: Any, seconds: float, concurrency: int, site: str) -> float:
    counter = itertools.count()
    stop = time.perf_counter() + seconds
    done = 0

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            n = next(counter)
            key = site_keys.key(site, f"article-{n % 1000}")
            await store.cast(Cast(key, f"voter-{n}", "up" if n % 3 else "down", NOW))
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - started)


async def votes(args: argparse.Namespace, pg: str, tmp: str) -> None:
    print(f"casts/s, {args.concurrency} concurrent callers, {args.seconds:.0f} s per run, median of {args.repeat}")
    cases = [(kind, site) for kind in ("sqlite", "postgres") for site in (site_keys.DEFAULT, "north")]
    results: dict[int, list[float]] = {i: [] for i in range(len(cases))}
    for run in range(args.repeat):
        for i, (kind, site) in enumerate(cases):
            store: Any
            if kind == "sqlite":
                store = SQLiteStore(os.path.join(tmp, f"votes-{run}-{i}.db"))
            else:
                schema = f"v{run}_{i}"
                await admin(pg, f"CREATE SCHEMA {schema}")
                store = PostgresStore(f"{pg}?search_path={schema}", pool_min=10, pool_max=10, counter_slots=8)
            await store.open()
            results[i].append(await hammer(store, args.seconds, args.concurrency, site))
            await store.close()
    for i, (kind, site) in enumerate(cases):
        runs = sorted(results[i])
        print(f"  {kind:9} site {site:8} {statistics.median(runs):8.0f}   runs: {' '.join(f'{r:.0f}' for r in runs)}")


async def fill(store: Any, args: argparse.Namespace) -> None:
    """``--big`` articles of the big site and ``--small`` of the small one, 1-3 votes each, spread over time."""
    sem = asyncio.Semaphore(32)

    async def one(n: int, key: str) -> None:
        async with sem:
            for v in range(1 + n % 3):
                at = NOW + dt.timedelta(seconds=n * 7 + v)
                await store.cast(Cast(key, f"voter-{v}", "up" if (n + v) % 4 else "down", at))

    await asyncio.gather(*(one(n, site_keys.key(args.big_site, f"big-{n}")) for n in range(args.big)))
    await asyncio.gather(*(one(n, site_keys.key(args.small_site, f"small-{n}")) for n in range(args.small)))


async def first_pages(store: Any, site: str) -> dict[str, float]:
    out = {}
    scoped = "site" in inspect.signature(store.articles).parameters
    for order in ORDERS:
        times = []
        for _ in range(30):
            started = time.perf_counter()
            page = await (store.articles(order, 20, 0, site=site) if scoped else store.articles(order, 20, 0))
            times.append((time.perf_counter() - started) * 1000)
        assert len(page) == 20
        out[order] = statistics.median(times)
    return out


async def listing(args: argparse.Namespace, pg: str, tmp: str) -> None:
    print(f"first page (20 rows) of site {args.small_site!r} ({args.small} articles) beside {args.big} of site "
          f"{args.big_site!r}, median of 30 reads, ms")
    path = os.path.join(tmp, "listing.db")
    schema = "listing"
    await admin(pg, f"CREATE SCHEMA {schema}")
    stores: list[tuple[str, Any]] = [
        ("sqlite", SQLiteStore(path)),
        ("postgres", PostgresStore(f"{pg}?search_path={schema}", rollup_interval=0)),
    ]
    for kind, store in stores:
        await store.open()
        await fill(store, args)
        with_index = await first_pages(store, args.small_site)
        if kind == "sqlite":
            conn = sqlite3.connect(path)
            for name in SQLITE_INDEXES:
                conn.execute(f"DROP INDEX IF EXISTS {name}")
            conn.close()
            await store.close()  # new connections: statements prepared with the index are gone
            await store.open()
        else:
            await admin(f"{pg}?search_path={schema}", "; ".join(f"DROP INDEX IF EXISTS {n}" for n in PG_INDEXES))
            await store.close()
            await store.open()
        without = await first_pages(store, args.small_site)
        await store.close()
        for order in ORDERS:
            print(f"  {kind:9} {order:7} with site index {with_index[order]:8.2f}   without {without[order]:8.2f}")


async def main(args: argparse.Namespace) -> None:
    name = "fw_sites_" + secrets.token_hex(4)
    await admin(args.postgres, f'CREATE DATABASE "{name}"')
    pg = with_database(args.postgres, name)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            if not args.skip_votes:
                await votes(args, pg, tmp)
            if not args.skip_listing:
                await listing(args, pg, tmp)
    finally:
        await admin(args.postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--skip-votes", action="store_true")
    parser.add_argument("--skip-listing", action="store_true")
    parser.add_argument("--big", type=int, default=20_000)
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--big-site", default=site_keys.DEFAULT)
    parser.add_argument("--small-site", default="north")
    asyncio.run(main(parser.parse_args()))
