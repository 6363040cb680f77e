"""Parquet against CSV and NDJSON for the same export: bytes, seconds and the exporter's memory.

    python benchmarks/parquet_bench.py [--rows 1000000] [--kinds votes,events,articles,daily] [--json]

Fills a scratch SQLite file as backup_bench.py does (``--rows`` current votes
over 10,000 articles with microsecond times, every third changed a day
later, one ``cast`` event per vote, the articles' counters), then runs
``feedbackwidget export --format F --kind K --output FILE`` in a child process
for each kind and format, reporting the file's size, the wall time and the
child's peak RSS growth (VmHWM after minus RSS before the export, after
imports). Voter pseudonyms are then replaced by random 32-digit hex, as real
ones are (keyed hashes): export_bench.py's zero-padded counters compress far
better than anything a real store holds. Not a test: prints figures
(``--json``: one JSON line at the end).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from backup_bench import complete_sqlite  # noqa: E402
from export_bench import CHILD, fill_sqlite  # noqa: E402

FORMATS = ("csv", "ndjson", "parquet")


def export(url: str, kind: str, fmt: str, out: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, "export", "--format", fmt, "--kind", kind, "--output", str(out),
         "--database-url", url],
        capture_output=True, text=True, check=False, cwd=HERE.parent,
    )
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"export failed: {done.stderr[-2000:]}")
    child = json.loads(lines[-1])
    return {"bytes": out.stat().st_size, "seconds": child["seconds"],
            "rss_growth_mib": (child["hwm_kib"] - child["rss_before_kib"]) / 1024}


def random_voters(db: Path) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN")
    for table in ("votes", "events"):
        conn.execute(f"UPDATE {table} SET voter = lower(hex(randomblob(16)))")
    conn.execute("COMMIT")
    conn.execute("VACUUM")
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--kinds", default="votes,events,articles,daily")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {"rows": args.rows}
    with tempfile.TemporaryDirectory(prefix="fw-parquet-bench-") as tmp:
        db = Path(tmp) / "fw.db"
        fill_sqlite(db, args.rows, real_times=True)
        complete_sqlite(db)
        random_voters(db)
        for kind in args.kinds.split(","):
            results[kind] = {}
            for fmt in FORMATS:
                out = Path(tmp) / f"{kind}.{fmt}"
                figures = export(f"sqlite:///{db}", kind, fmt, out)
                out.unlink()
                results[kind][fmt] = figures
                size, share = figures["bytes"], figures["bytes"] / results[kind]["csv"]["bytes"]
                print(f"{kind:9} {fmt:8} {size / 2**20:9.1f} MiB ({share:5.3f} of CSV)"
                      f" {figures['seconds']:7.2f} s  RSS +{figures['rss_growth_mib']:.0f} MiB", flush=True)
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
