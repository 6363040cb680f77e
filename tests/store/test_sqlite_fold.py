"""The SQLite writer folds new events into the rollups from a mark (store/sqlite_fold.py): a
store reads its own votes in the rollups at once, another store on the same file once the
writer has folded them (every ``rollup_interval``, at once with 0, and when it stops); a
store's first read folds what another program left; events deleted by retention are folded
first. And a keyset page of the listing the fold keeps in order seeks its index to the whole
place of the article it starts after, ties on the first key included."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from feedbackwidget.store.sqlite import SQLiteStore
from feedbackwidget.store.sqlite_rollups import _ORDER_KEYS, listing_sql, place_sql
from feedbackwidget.store.sqlite_sql import to_us
from feedbackwidget.types import Cast, Tally

pytestmark = pytest.mark.anyio
NOW = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)

T0 = dt.datetime(2026, 3, 29, 0, 30, tzinfo=dt.UTC)
LONG = 3600.0  # no fold by the clock during a test


async def cast_some(store: SQLiteStore, prefix: str, count: int) -> None:
    for n in range(count):
        await store.cast(Cast(f"a{n % 2}", f"{prefix}{n}", "up" if n % 3 else "down", T0 + dt.timedelta(hours=n)))


async def test_a_store_reads_its_own_votes_and_another_store_reads_them_once_folded(tmp_path: Path) -> None:
    path = str(tmp_path / "fold.db")
    writer, reader = SQLiteStore(path, rollup_interval=LONG), SQLiteStore(path, rollup_interval=LONG)
    await writer.open()
    await reader.open()
    try:
        assert await reader.site_totals() == Tally("", 0, 0)  # its first read folds whatever was left
        await cast_some(writer, "v", 3)
        assert await writer.site_totals() == Tally("", 2, 1)  # folded before the read: its own writes
        await cast_some(writer, "w", 6)
        await writer.close()  # the writer folds what is left when it stops
        assert await reader.site_totals() == Tally("", 6, 3)
        listed = await reader.articles("total", 10, 0)
        assert [(s.article_id, s.up, s.down) for s in listed] == [("a0", 3, 2), ("a1", 3, 1)]
    finally:
        await reader.close()


async def test_with_no_interval_every_group_commit_folds(tmp_path: Path) -> None:
    path = str(tmp_path / "fold.db")
    writer, reader = SQLiteStore(path, rollup_interval=0), SQLiteStore(path, rollup_interval=LONG)
    await writer.open()
    await reader.open()
    try:
        assert await reader.site_totals() == Tally("", 0, 0)  # its first read folds whatever was left
        await cast_some(writer, "v", 4)
        assert await reader.site_totals() == Tally("", 2, 2)
        days = await reader.daily(None, None, None)
        assert sum(r["up"] for r in days) == 2 and {r["day"] for r in days} == {T0.date()}
    finally:
        await writer.close()
        await reader.close()


async def test_a_store_folds_what_another_program_inserted_on_its_first_read(tmp_path: Path) -> None:
    path = str(tmp_path / "fold.db")
    store = SQLiteStore(path, rollup_interval=LONG)
    await store.open()
    await store.close()
    with sqlite3.connect(path) as conn:  # not through a store: no fold
        conn.executemany(
            "INSERT INTO events (at, article_id, voter, action, vote) VALUES (?, 'x', ?, 'cast', ?)",
            [(to_us(T0) + n, f"v{n}", "up" if n % 3 else "down") for n in range(5)],
        )
    later = SQLiteStore(path, rollup_interval=LONG)
    await later.open()
    try:
        assert await later.site_totals() == Tally("", 3, 2)
        assert [(r["up"], r["down"]) for r in await later.daily(None, None, None)] == [(3, 2)]
    finally:
        await later.close()


async def test_events_deleted_by_retention_are_folded_first(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "fold.db"), rollup_interval=LONG)
    await store.open()
    try:
        await cast_some(store, "v", 4)
        deleted = await store.delete_events(10**9, T0 + dt.timedelta(days=30), 100)
        assert deleted == 4
        days = await store.site_daily(T0.date(), T0.date() + dt.timedelta(days=1))
        assert [(r["day"], r["up"], r["down"]) for r in days] == [(T0.date(), 2, 2)]
    finally:
        await store.close()


@pytest.mark.parametrize("order", ["wilson", "total", "recent"])
@pytest.mark.parametrize("site", [None, "north"])
async def test_a_keyset_page_seeks_its_index_to_the_whole_place(tmp_path: Path, order: str, site: str | None) -> None:
    """After ties on the first sort key (articles with the same counts share a Wilson bound), a
    keyset page seeks the index to the article's whole place: the plan's search names every key,
    not the first alone (which reads every tie first), and the pages still cover the order."""
    store = SQLiteStore(tmp_path / "v.db")
    await store.open()
    try:
        prefix = f"{site}\x1f" if site else ""
        for n in range(40):  # forty articles with one "yes" each: one Wilson bound, one total
            await store.cast(Cast(f"{prefix}a{n:02d}", "v", "up", NOW))
        everything = [s.article_id for s in await store.articles(order, 100, 0, site=site)]
        assert len(everything) == 40
        paged: list[str] = []
        while page := await store.articles(order, 7, 0, paged[-1] if paged else None, site=site):
            paged += [s.article_id for s in page]
        assert paged == everything
        sql = listing_sql(order, True, site)
        place = sqlite3.connect(tmp_path / "v.db").execute(place_sql(order), (everything[20],)).fetchone()
        plan = " ".join(r[3] for r in sqlite3.connect(tmp_path / "v.db").execute(
            "EXPLAIN QUERY PLAN " + sql, (None, 7, 0, site, *place)))
        keys = _ORDER_KEYS[order].replace(" ", "")
        assert f"({keys})>(" in plan, plan
    finally:
        await store.close()
