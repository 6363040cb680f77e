"""SQLite vote throughput with the rollups kept against without (issue 16): store-level votes/s
and process CPU per vote, in alternating rounds, each round a fresh file in a fresh process.

    python benchmarks/fold_bench.py [--seconds 4] [--rounds 3] [--before OLD/src]

Each round casts first votes of new voters from 64 concurrent callers over 1,000 articles for
``--seconds`` (after 500 warm-up votes) with: ``without`` (this checkout, its fold switched off
and the six sort-key indexes dropped: what a vote costs with no rollup kept), ``every 1 s``
(the default ``rollup_interval``), ``every commit`` (``rollup_interval=0``: folded in each
group commit); with ``--before``, that code as it is and without its rollups (its triggers and
sort-key indexes dropped) too. Prints each run and the medians with their ratio to the same
code's ``without``. Not a test: prints figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r"""
import asyncio, datetime as dt, json, os, sqlite3, sys, tempfile, time
sys.path.insert(0, sys.argv[1])
from feedbackwidget.store.sqlite import SQLiteStore
from feedbackwidget.types import Cast
seconds, mode = float(sys.argv[2]), sys.argv[3]
INDEXES = ("articles_by_wilson", "articles_by_total", "articles_by_recent",
           "articles_site_by_wilson", "articles_site_by_total", "articles_site_by_recent")

async def main():
    with tempfile.TemporaryDirectory() as scratch:
        path = os.path.join(scratch, "votes.db")
        store = SQLiteStore(path, **({"rollup_interval": 0.0} if mode == "commit" else {}))
        await store.open()
        if mode == "without":
            conn = sqlite3.connect(path)
            for name in INDEXES:
                conn.execute(f"DROP INDEX IF EXISTS {name}")
            conn.execute("DROP TRIGGER IF EXISTS events_totals")
            conn.execute("DROP TRIGGER IF EXISTS events_rollups")
            conn.commit()
            conn.close()
            if hasattr(store._writer, "fold"):
                store._writer.fold = None
        now = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
        for n in range(500):
            await store.cast(Cast(f"article-{n % 1000:04d}", f"warm-{n}", "up", now))
        votes = 0
        stop = time.perf_counter() + seconds
        started, cpu = time.perf_counter(), time.process_time()

        async def voter(w):
            nonlocal votes
            n = 0
            while time.perf_counter() < stop:
                k = w * 10_000_000 + n
                await store.cast(Cast(f"article-{k * 7919 % 1000:04d}", f"v{k}", "up" if k % 3 else "down",
                                      now + dt.timedelta(seconds=k % 86400)))
                votes, n = votes + 1, n + 1

        await asyncio.gather(*(voter(w) for w in range(64)))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        await store.close()
        print(json.dumps({"votes_per_s": votes / elapsed, "cpu_us_per_vote": cpu / votes * 1e6}))

asyncio.run(main())
"""


def run(src: Path, seconds: float, mode: str) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", CHILD, str(src), str(seconds), mode],
                          capture_output=True, text=True, timeout=600, check=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", type=Path, help="src directory of the code to compare against")
    args = parser.parse_args()
    cases = [("without", HERE.parent / "src", "without"), ("every 1 s", HERE.parent / "src", "default"),
             ("every commit", HERE.parent / "src", "commit")]
    if args.before:
        cases += [("before, without", args.before, "without"), ("before", args.before, "default")]
    runs: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in cases}
    for _ in range(args.rounds):
        for name, src, mode in cases:
            runs[name].append(run(src, args.seconds, mode))
            print(f"{name:16} {runs[name][-1]['votes_per_s']:8.0f} votes/s {runs[name][-1]['cpu_us_per_vote']:6.1f} µs",
                  flush=True)
    for name, _, _ in cases:
        base = "before, without" if name.startswith("before") else "without"
        rate = statistics.median(r["votes_per_s"] for r in runs[name])
        cpu = statistics.median(r["cpu_us_per_vote"] for r in runs[name])
        base_rate = statistics.median(r["votes_per_s"] for r in runs[base])
        base_cpu = statistics.median(r["cpu_us_per_vote"] for r in runs[base])
        print(f"median {name:16} {rate:8.0f} votes/s ({rate / base_rate:.2f}) {cpu:6.1f} µs/vote "
              f"(CPU ratio {base_cpu / cpu:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
