"""Retention as an operator runs it: running servers sweep by themselves, ``feedbackwidget prune`` now.

A store is filled with 100 days of history (old and recent votes, reasons
with texts, refusal counts); then real ``feedbackwidget serve`` processes
with ``RETAIN_*_DAYS`` set — one server with two workers on SQLite, two
servers on one PostgreSQL database — must remove what is too old on their own,
while every current vote and tally stays as it was.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from feedbackwidget.store import open_store
from feedbackwidget.types import Cast

from .helpers import EXPORT_TOKEN, SECRET
from .pgtools import fresh_database
from .processes import ServeProcess

NOW = dt.datetime.now(dt.UTC)
RETAIN = {"FEEDBACKWIDGET_RETAIN_EVENTS_DAYS": "30", "FEEDBACKWIDGET_RETAIN_REFUSALS_DAYS": "10",
          "FEEDBACKWIDGET_RETAIN_REASONS_DAYS": "60"}


async def fill(url: str) -> None:
    store = open_store(url)
    await store.open()
    try:
        for n in range(100):
            at = NOW - dt.timedelta(days=100 - n, minutes=5)
            article = f"article-{n % 4}"
            await store.cast(Cast(article, f"reader-{n}", "down" if n % 2 else "up", at))
            if n % 2:
                await store.set_reason(article, f"reader-{n}", "unclear", f"text {n}", at)
            await store.add_refusals([{"day": at.date(), "article_id": article, "kind": "captcha_failed", "count": 1}])
    finally:
        await store.close()


async def state(url: str) -> dict[str, Any]:
    store = open_store(url)
    await store.open()
    try:
        out: dict[str, Any] = {kind: [r async for b in store.export(kind) for r in b]
                               for kind in ("events", "votes", "articles", "reasons")}
        out["refusals"] = await store.refusals(None, None, None)
        return out
    finally:
        await store.close()


def env(url: str, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("FEEDBACKWIDGET_")}
    return {**base, "FEEDBACKWIDGET_DATABASE_URL": url, "FEEDBACKWIDGET_SECRET_KEY": SECRET,
            "FEEDBACKWIDGET_EXPORT_TOKEN": EXPORT_TOKEN, **extra}


def events_over_http(server: ServeProcess) -> list[dict[str, Any]]:
    request = urllib.request.Request(f"{server.url}/api/v1/export?format=ndjson&kind=events",
                                     headers={"Authorization": f"Bearer {EXPORT_TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return [json.loads(line) for line in answer.read().decode().splitlines() if line]


def assert_pruned(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Old history, refusal days and reason texts are gone; votes and tallies are as they were."""
    assert after["votes"] == before["votes"] and after["articles"] == before["articles"]
    events_cut, texts_cut = NOW - dt.timedelta(days=30), NOW - dt.timedelta(days=60)
    assert after["events"] == [e for e in before["events"] if e["at"] >= events_cut]
    assert 0 < len(after["events"]) < len(before["events"])
    day_cut = (NOW - dt.timedelta(days=10)).date()
    assert after["refusals"] == [r for r in before["refusals"] if r["day"] >= day_cut]
    assert after["reasons"] == [{**r, "reason_text": None} if r["updated_at"] < texts_cut else r
                                for r in before["reasons"]]
    assert any(r["reason_text"] for r in after["reasons"])


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fw.db'}"
        return
    with fresh_database("fw_retention_") as url:
        yield url


def test_running_servers_sweep_by_themselves(database: str, tmp_path: Path) -> None:
    asyncio.run(fill(database))
    before = asyncio.run(state(database))
    if database.startswith("sqlite"):
        servers = [ServeProcess(env(database, **RETAIN), tmp_path / "a.log", args=("--workers", "2"))]
    else:
        servers = [ServeProcess(env(database, **RETAIN), tmp_path / f"{n}.log") for n in "ab"]
    with ExitStack() as stack:
        for server in servers:
            stack.enter_context(server)
        cut = NOW - dt.timedelta(days=30)
        deadline = time.monotonic() + 30
        while any(dt.datetime.fromisoformat(e["at"]) < cut for e in events_over_http(servers[-1])):
            assert time.monotonic() < deadline, "the servers did not sweep"
            time.sleep(0.1)  # polls the condition "no event older than 30 days"
        after = asyncio.run(state(database))
    assert_pruned(before, after)


def run_cli(*args: str, environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "feedbackwidget.cli", *args], env=environ,
                          capture_output=True, text=True, timeout=60)


def test_prune_now_from_the_command_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fw.db'}"
    asyncio.run(fill(url))
    before = asyncio.run(state(url))
    bare = env(url)
    bare.pop("FEEDBACKWIDGET_SECRET_KEY")  # prune signs nothing, so needs no key
    done = run_cli("prune", environ=bare)
    assert done.returncode == 0 and "nothing to prune" in done.stdout, done.stderr
    assert asyncio.run(state(url)) == before
    done = run_cli("prune", environ={**bare, **RETAIN})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("feedbackwidget: deleted ") and done.stdout.count("\n") == 1
    assert_pruned(before, asyncio.run(state(url)))


def test_a_bad_retention_setting_stops_the_command_naming_it(tmp_path: Path) -> None:
    done = run_cli("prune", environ=env(f"sqlite:///{tmp_path / 'fw.db'}", FEEDBACKWIDGET_RETAIN_EVENTS_DAYS="0"))
    assert done.returncode == 2 and "FEEDBACKWIDGET_RETAIN_EVENTS_DAYS" in done.stderr
    assert done.stderr.count("\n") == 1
