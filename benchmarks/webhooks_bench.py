"""Webhooks: what the outbox costs a vote, and how long an alert takes to reach its receiver.

    python benchmarks/webhooks_bench.py [--seconds 3] [--rounds 3] [--concurrency 64]
        [--postgres postgresql://postgres@127.0.0.1/postgres] [--events 200]

Not a test: prints figures (docs/performance.md, docs/webhooks.md).

1. Votes/s at the store (first votes, new voters, ``--concurrency`` at once), outbox off and
   on in alternating rounds of the same run, medians and the ratio on/off:
   - ``on``: the default events (milestones 100, 1000, 10000; sentiment below 0.4 on at least
     30 votes) — most votes cause no message but pay for the check (and, on PostgreSQL, for
     the transaction and reading the article's alert state; only a vote that moves that
     state locks its row);
   - ``on, every vote``: every vote moves the article's alert state and writes one message
     (the worst case: on PostgreSQL every vote then takes the state row's lock).
   Over 1,000 articles and on one hot article.
2. Delivery latency, from the moment a cast's commit returns to the receiver stub's arrival
   stamp, for ``--events`` events one after another: on the server that took the vote (woken at
   once) and on another server sharing the store (finds it by polling, every second).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import itertools
import secrets
import statistics
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import asyncpg

from feedbackwidget import Settings
from feedbackwidget.store.outbox import AlertState, OutboxMessage
from feedbackwidget.store.postgres import PostgresStore
from feedbackwidget.store.sqlite import SQLiteStore
from feedbackwidget.types import Cast, Tally
from feedbackwidget.webhooks import Rules, Worker
from feedbackwidget.webhooks.receiver import WebhookReceiver

SECRET = "whsec_" + base64.b64encode(b"b" * 32).decode()
NOW = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
VOTERS = itertools.count()  # every cast of the run is a new voter's first vote


def settings(db: str, url: str = "https://hooks.example/in", **more: Any) -> Settings:
    host = url.split("/")[2].split(":")[0]
    return Settings(
        database_url=db, secret_key="bench-" + "x" * 24, webhook_urls=url, webhook_secrets=SECRET,
        webhook_allowed_hosts=host, webhook_allow_private=True, webhook_sentiment_below=0.4,
        webhook_digest_hour="off", **more,
    )


def every_vote(tally: Tally, state: AlertState) -> tuple[AlertState, Sequence[OutboxMessage]]:
    message = OutboxMessage("msg_" + secrets.token_hex(13), "https://hooks.example/in", "article.milestone", "{}")
    return AlertState(state.milestone + 1, state.band, state.band_entries), [message]


async def hammer(store: Any, mode: str, rules: Rules, seconds: float, concurrency: int, articles: int) -> float:
    stop = time.perf_counter() + seconds
    done = 0

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            n = next(VOTERS)
            vote = "up" if n % 3 else "down"
            cast = Cast(f"article-{n % articles}", f"voter-{mode}-{n}", vote, NOW)
            if mode == "off":
                await store.cast(cast)
            elif mode == "on":
                await store.cast(cast, lambda tally, state: rules.advance(tally, state, NOW))
            else:
                await store.cast(cast, every_vote)
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - started)


async def throughput(name: str, make: Any, args: argparse.Namespace) -> None:
    rules = Rules.from_settings(settings("sqlite:///unused.db"))
    for articles in (1000, 1):
        figures: dict[str, list[float]] = {"off": [], "on": [], "on, every vote": []}
        for _ in range(args.rounds):
            for mode in figures:
                store = make()
                await store.open()
                try:
                    figures[mode].append(await hammer(store, mode, rules, args.seconds, args.concurrency, articles))
                finally:
                    await store.close()
        off = statistics.median(figures["off"])
        line = ", ".join(f"{m} {statistics.median(v):,.0f}/s ({statistics.median(v) / off:.2f})"
                         for m, v in figures.items())
        print(f"{name}, {articles} article(s): {line}")


async def latency(name: str, db: str, make: Any, events: int) -> None:
    with WebhookReceiver([SECRET]) as receiver:
        conf = settings(db, receiver.url, webhook_milestones=",".join(str(n) for n in range(1, events + 1)))
        for where in ("same server", "other server"):
            voter_store, worker_store = make(), make()
            await voter_store.open()
            await worker_store.open()
            worker = Worker(conf, worker_store, lambda: dt.datetime.now(dt.UTC))
            await worker.start()
            receiver.received.clear()
            committed: dict[str, float] = {}
            try:
                for n in range(events):
                    alerts = worker.alerts(NOW)
                    assert alerts is not None
                    article = f"lat-{where}"
                    await voter_store.cast(Cast(article, f"v{n}", "up", NOW), alerts)
                    committed[f"{n + 1}"] = time.time()
                    if where == "same server":
                        alerts.wake()
                    await asyncio.sleep(0.01)  # one vote at a time, as a quiet site sees them
                deadline = time.monotonic() + 60
                while len(receiver.received) < events and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)
            finally:
                await worker.stop()
                await voter_store.close()
                await worker_store.close()
            waits = sorted(
                (r.at - committed[str(r.body["data"]["milestone"])]) * 1000 for r in receiver.received
            )
            p50, p95 = waits[len(waits) // 2], waits[int(len(waits) * 0.95)]
            print(f"{name}, {where}: {len(waits)} deliveries, latency p50 {p50:.1f} ms, p95 {p95:.1f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1/postgres")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="fw-hooks-bench-")
    db_name = "fw_hooks_bench_" + secrets.token_hex(4)
    admin = await asyncpg.connect(args.postgres)
    await admin.execute(f"CREATE DATABASE {db_name}")
    pg = args.postgres.rsplit("/", 1)[0] + "/" + db_name
    try:
        n = itertools.count()
        await throughput("SQLite", lambda: SQLiteStore(f"{folder}/t{next(n)}.db"), args)
        await throughput("PostgreSQL", lambda: PostgresStore(pg, pool_max=20), args)
        await latency("SQLite", f"sqlite:///{folder}/lat.db", lambda: SQLiteStore(f"{folder}/lat.db"), args.events)
        conn = await asyncpg.connect(pg)
        await conn.execute("TRUNCATE fw_outbox")  # the throughput runs' messages: not a backlog to wait behind
        await conn.close()
        await latency("PostgreSQL", pg, lambda: PostgresStore(pg), args.events)
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
