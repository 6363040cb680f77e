"""The dashboard's section view at scale: ``/admin/groups`` (sentiment per section, author or
tag with Wilson intervals, sparklines of the last 30 days, articles that need attention),
on the history ``scale_bench.py`` bulk-loads, both stores.

    python benchmarks/groups_bench.py [--size S|M|L] [--stores sqlite,postgres]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres] [--json]

Each article gets what it is about by bulk SQL: one of 12 sections, one author of 300
(every third article a second one), two tags of 500. Every figure comes from a fresh
child process with the store opened before the clock starts, and is reported with the
main dashboard's 30-day page context (``admin_views.dashboard_context``) measured in
the same run, as a ratio. Not a test: prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
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

import scale_bench

SRC = Path(__file__).resolve().parent.parent / "src"

CHILD = r"""
import asyncio, datetime as dt, json, sys, time
sys.path.insert(0, sys.argv[1])
task = json.loads(sys.argv[2])
from feedbackwidget.config import Settings
from feedbackwidget.store import open_store
from feedbackwidget.web import admin_groups, admin_views

async def main():
    settings = Settings(database_url=task["url"], secret_key="s" * 32, export_token="t" * 32)
    store = open_store(task["url"])
    await store.open()
    await store.tally("article-000001")
    end = dt.date.fromisoformat(task["last_day"])
    params = {"from": (end - dt.timedelta(days=29)).isoformat(), "to": end.isoformat()}
    now = dt.datetime.combine(end, dt.time(12), dt.UTC)
    what = task["what"]
    started = time.perf_counter()
    if what == "dashboard30":
        await admin_views.dashboard_context(store, settings, params, "")
    elif what.startswith("groups:"):
        by, _, name = what[7:].partition("=")
        extra = {name.split(":")[0]: name.split(":")[1]} if name else {}
        await admin_groups.groups_context(store, settings, {**params, "by": by, **extra}, "", now)
    seconds = time.perf_counter() - started
    await store.close()
    print(json.dumps({"seconds": seconds}))

asyncio.run(main())
"""

FIGURES = ("dashboard30", "groups:section", "groups:author", "groups:tag", "groups:author=section:section-3")


def child(**task: Any) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", CHILD, str(SRC), json.dumps(task)],
                          capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def about_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    n = "CAST(substr(article_id, 9) AS INTEGER)"
    conn.execute("BEGIN")
    conn.execute(
        "INSERT INTO article_about (article_id, section, published_at, source, updated_at) "
        f"SELECT article_id, 'section-' || ({n} % 12), first_vote_at, 'embed', first_vote_at FROM articles"
    )
    for kind, name, where in (("author", f"'author-' || ({n} % 300)", ""),
                              ("author", f"'author-' || (({n} * 7 + 1) % 300)", f"WHERE {n} % 3 = 0"),
                              ("tag", f"'tag-' || ({n} % 500)", ""),
                              ("tag", f"'tag-' || (({n} * 13 + 1) % 500)", "")):
        conn.execute(f"INSERT OR IGNORE INTO article_labels (kind, name, article_id, position) "
                     f"SELECT '{kind}', {name}, article_id, 0 FROM articles {where}")
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


async def about_postgres(url: str) -> None:
    import asyncpg

    n = "substr(article_id, 9)::int"
    conn = await asyncpg.connect(url, timeout=10)
    try:
        await conn.execute(
            "INSERT INTO fw_article_about (article_id, section, published_at, source, updated_at) "
            f"SELECT article_id, 'section-' || ({n} % 12), first_vote_at, 'embed', first_vote_at FROM fw_articles"
        )
        for kind, name, where in (("author", f"'author-' || ({n} % 300)", ""),
                                  ("author", f"'author-' || (({n} * 7 + 1) % 300)", f"WHERE {n} % 3 = 0"),
                                  ("tag", f"'tag-' || ({n} % 500)", ""),
                                  ("tag", f"'tag-' || (({n} * 13 + 1) % 500)", "")):
            await conn.execute(f"INSERT INTO fw_article_labels (kind, name, article_id, position) "
                               f"SELECT '{kind}', {name}, article_id, 0 FROM fw_articles {where} "
                               "ON CONFLICT DO NOTHING")
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


def run_store(name: str, url: str, articles: int, events: int, reuse: bool = False) -> dict[str, Any]:
    """Build (unless ``reuse``: a database this script built before, migrated to this code's schema) and measure."""
    last_day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    started = time.perf_counter()
    if reuse:
        scale_bench.migrate(SRC, url)
        out: dict[str, Any] = {"reused": True}
    else:
        scale_bench.migrate(SRC, url, before=True)
        if name == "sqlite":
            scale_bench.fill_sqlite(Path(url.removeprefix("sqlite:///")), articles, events, last_day)
        else:
            asyncio.run(scale_bench.fill_postgres(url, articles, events, last_day))
        scale_bench.migrate(SRC, url)
        if name == "sqlite":
            about_sqlite(Path(url.removeprefix("sqlite:///")))
        else:
            asyncio.run(about_postgres(url))
        out = {"build_s": time.perf_counter() - started}
        print(f"{name}: built in {out['build_s']:.0f} s", flush=True)
    for what in FIGURES:
        out[what] = child(url=url, what=what, last_day=last_day.isoformat())
        print(f"  {what:34} {json.dumps(out[what])}", flush=True)
    base = out["dashboard30"].get("seconds")
    for what in FIGURES[1:]:
        if base and "seconds" in out[what]:
            out[what]["ratio_to_dashboard30"] = out[what]["seconds"] / base
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=sorted(scale_bench.SIZES), default="S")
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", type=Path, help="a directory for the SQLite file, kept (and reused when there)")
    parser.add_argument("--pg-database", help="a PostgreSQL database to build in and keep (reused when it exists)")
    args = parser.parse_args()
    articles, events = scale_bench.SIZES[args.size]
    results: dict[str, Any] = {
        "size": args.size, "articles": articles, "events": events,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="minutes"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}",
    }
    with tempfile.TemporaryDirectory(prefix="fw-groups-") as scratch:
        if "sqlite" in args.stores:
            path = (args.keep or Path(scratch)) / "scale.db"
            results["sqlite"] = run_store("sqlite", f"sqlite:///{path}", articles, events, reuse=path.exists())
        if "postgres" in args.stores:
            name = args.pg_database or f"fw_groups_{secrets.token_hex(4)}"
            reuse = False
            try:
                asyncio.run(scale_bench._pg(args.postgres, f'CREATE DATABASE "{name}"'))
            except Exception:
                if not args.pg_database:
                    raise
                reuse = True  # built by an earlier run
            try:
                url = args.postgres.rsplit("/", 1)[0] + "/" + name
                results["postgres"] = run_store("postgres", url, articles, events, reuse=reuse)
            finally:
                if not args.pg_database:
                    asyncio.run(scale_bench._pg(args.postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
