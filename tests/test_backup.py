"""Backups taken while a real server takes votes, restored into a fresh store.

SQLite: ``feedbackwidget backup`` / ``restore`` (the online backup API).
PostgreSQL: the documented procedure, ``pg_dump --format=custom`` and
``pg_restore`` into a new database (docs/backup.md). Readers vote, change their
minds and withdraw through a ``feedbackwidget serve`` process while backups are
taken; each restored copy must be one moment of the database — its counters
equal to its current votes, its current votes equal to a replay of its own
event history, that history a part of the live one — and a backup taken once
the votes stop must restore to exactly the live tallies and history.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import shutil
import sqlite3
import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from feedbackwidget import cli
from feedbackwidget.backup import BackupError, backup_sqlite, restore_sqlite
from feedbackwidget.fakecaptcha import FakeHCaptcha
from feedbackwidget.store import open_store

from .pgtools import REQUIRE_POSTGRES, fresh_database
from .processes import ServeProcess, cli_command

ARTICLES = [f"article-{n}" for n in range(8)]
WORKERS = 16
BACKUPS_UNDER_LOAD = 4


# -- the load -----------------------------------------------------------------------------

class Load:
    """Readers voting, changing and withdrawing through one server until told to stop."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.acks = 0
        self.stop = asyncio.Event()

    async def _act(self, session: aiohttp.ClientSession, method: str, path: str, **kw: Any) -> dict[str, Any]:
        async with session.request(method, self.url + path, **kw) as r:
            assert r.status == 200, await r.text()
            answer: dict[str, Any] = await r.json()
        self.acks += 1
        return answer

    async def reader(self, session: aiohttp.ClientSession, seed: int) -> None:
        rng = random.Random(seed)
        while not self.stop.is_set():
            article = rng.choice(ARTICLES)
            body = {"article_id": article, "vote": rng.choice(("up", "down")),
                    "captcha_token": f"PASS-{secrets.token_hex(8)}"}
            voter = (await self._act(session, "POST", "/api/v1/votes", json=body))["voter"]
            headers = {"X-Feedback-Voter": voter}
            if rng.random() < 0.5:
                body = {**body, "vote": "up" if body["vote"] == "down" else "down",
                        "captcha_token": f"PASS-{secrets.token_hex(8)}"}
                await self._act(session, "POST", "/api/v1/votes", json=body, headers=headers)
            if rng.random() < 0.3:
                await self._act(session, "DELETE", f"/api/v1/votes/{article}", headers=headers)

    async def run(self) -> None:
        jar = aiohttp.DummyCookieJar()  # each reader is its voter header, nothing else
        async with aiohttp.ClientSession(cookie_jar=jar, timeout=aiohttp.ClientTimeout(total=60)) as session:
            await asyncio.gather(*(self.reader(session, n) for n in range(WORKERS)))

    async def until(self, acks: int, running: asyncio.Task[None]) -> None:
        while self.acks < acks:
            if running.done():
                running.result()  # a reader failed: say why
                raise AssertionError("the readers stopped")
            await asyncio.sleep(0.01)  # polls a counter the readers raise


# -- what a store holds ------------------------------------------------------------------

async def contents(url: str) -> dict[str, list[dict[str, Any]]]:
    store = open_store(url)
    await store.open()
    try:
        return {kind: [row async for batch in store.export(kind) for row in batch]
                for kind in ("events", "votes", "articles")}
    finally:
        await store.close()


def assert_one_moment(restored: dict[str, list[dict[str, Any]]], live_events: list[dict[str, Any]]) -> None:
    """The restored copy is the database at one instant: its history is part of the live one,
    its current votes are its history replayed, its counters are its current votes counted."""
    events = restored["events"]
    live = {e["event_id"]: e for e in live_events}
    assert all(live.get(e["event_id"]) == e for e in events)
    state: dict[tuple[str, str], str] = {}
    for e in events:  # each reader's actions are sequential, so event_id orders them
        key = (e["article_id"], e["voter"])
        if e["action"] in ("cast", "change"):
            state[key] = e["vote"]
        else:
            state.pop(key, None)
    assert {(v["article_id"], v["voter"]): v["vote"] for v in restored["votes"]} == state
    counted = Counter((article, vote) for (article, _), vote in state.items())
    for row in restored["articles"]:
        assert (row["up"], row["down"]) == (counted[(row["article_id"], "up")], counted[(row["article_id"], "down")])
    assert sum(r["up"] + r["down"] for r in restored["articles"]) == len(state)


# -- the two backends ---------------------------------------------------------------------

async def run_cli(*args: str) -> str:
    proc = await asyncio.create_subprocess_exec(*args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode()
    return out.decode()


class SQLiteBackups:
    def __init__(self, tmp: Path, stack: ExitStack) -> None:
        self.tmp, self.n = tmp, 0
        self.url = f"sqlite:///{tmp / 'live.db'}"

    async def backup(self) -> Path:
        self.n += 1
        path = self.tmp / f"backup-{self.n}.db"
        await run_cli(*cli_command(), "backup", str(path), "--database-url", self.url)
        return path

    async def restore(self, path: Path) -> str:
        url = f"sqlite:///{self.tmp / ('restored-' + path.stem + '.db')}"
        await run_cli(*cli_command(), "restore", str(path), "--database-url", url)
        return url


class PostgresBackups:
    """The procedure of docs/backup.md, with the real pg_dump and pg_restore."""

    def __init__(self, tmp: Path, stack: ExitStack) -> None:
        for tool in ("pg_dump", "pg_restore"):
            if shutil.which(tool) is None:
                if REQUIRE_POSTGRES:
                    pytest.fail(f"{tool} is required (Debian package postgresql-client)")
                pytest.skip(f"{tool} is not installed")
        self.tmp, self.n = tmp, 0
        self.url = stack.enter_context(fresh_database("fw_backup_"))
        # Made here: fresh_database runs its own event loop, which cannot nest in the scenario's.
        self.targets = [stack.enter_context(fresh_database("fw_restored_")) for _ in range(BACKUPS_UNDER_LOAD + 1)]

    async def backup(self) -> Path:
        self.n += 1
        path = self.tmp / f"backup-{self.n}.dump"
        await run_cli("pg_dump", "--format=custom", "--no-owner", "--file", str(path), self.url)
        return path

    async def restore(self, path: Path) -> str:
        url = self.targets.pop()
        await run_cli("pg_restore", "--no-owner", "--exit-on-error", "--dbname", url, str(path))
        return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backups(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SQLiteBackups | PostgresBackups]:
    with ExitStack() as stack:
        yield (SQLiteBackups if request.param == "sqlite" else PostgresBackups)(tmp_path, stack)


def test_backups_under_load_restore_to_one_moment_and_finally_to_the_live_store(
    backups: SQLiteBackups | PostgresBackups, tmp_path: Path
) -> None:
    with FakeHCaptcha() as fake:
        env = {
            **os.environ, **fake.env(),
            "FEEDBACKWIDGET_DATABASE_URL": backups.url,
            "FEEDBACKWIDGET_SECRET_KEY": "backup-secret-" + secrets.token_hex(16),
            "FEEDBACKWIDGET_RATE_LIMIT": "100000/second",
        }
        env.pop("FEEDBACKWIDGET_REDIS_URL", None)
        with ServeProcess(env, tmp_path / "serve.log", args=("--log-level", "warning")) as server:
            asyncio.run(_scenario(backups, server))


async def _scenario(backups: SQLiteBackups | PostgresBackups, server: ServeProcess) -> None:
    load = Load(server.url)
    running = asyncio.create_task(load.run())
    taken: list[tuple[Path, int, int]] = []  # backup, acknowledgements before and after it
    try:
        for n in range(BACKUPS_UNDER_LOAD):
            await load.until(150 * (n + 1), running)
            before = load.acks
            path = await backups.backup()
            taken.append((path, before, load.acks))
    finally:
        load.stop.set()
        await running
    assert sum(after - before for _, before, after in taken) > 0, "no vote was written while a backup ran"

    final = await backups.backup()  # nothing writes now
    live = await contents(backups.url)
    sizes = []
    for path, _, _ in taken:
        restored = await contents(await backups.restore(path))
        assert_one_moment(restored, live["events"])
        sizes.append(len(restored["events"]))
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1] < len(live["events"])

    restored = await contents(await backups.restore(final))
    assert restored == live
    assert_one_moment(restored, live["events"])
    assert {r["action"] for r in live["events"]} == {"cast", "change", "withdraw"}


# -- refusals, in process (SQLite) ---------------------------------------------------------

def _store_with_votes(path: Path, votes: int = 3) -> None:
    from feedbackwidget.store.sqlite import SQLiteStore

    SQLiteStore(str(path)).migrate()
    conn = sqlite3.connect(path, isolation_level=None)
    for n in range(votes):
        conn.execute("INSERT INTO votes (article_id, voter, vote, created_at, updated_at) "
                     "VALUES ('a', ?, 'up', 1, 1)", (f"v{n}",))
        conn.execute("INSERT INTO events (at, article_id, voter, action, vote) VALUES (1, 'a', ?, 'cast', 'up')",
                     (f"v{n}",))
    conn.close()


def test_backup_is_one_self_contained_file_and_replaces_atomically(tmp_path: Path) -> None:
    live, target = tmp_path / "live.db", tmp_path / "out" / "backup.db"
    _store_with_votes(live)
    target.parent.mkdir()
    target.write_bytes(b"an older backup")
    result = backup_sqlite(str(live), str(target))
    assert (result.votes, result.events) == (3, 3)
    assert os.listdir(target.parent) == ["backup.db"]  # no journal, no leftover temporary file
    assert target.stat().st_mode & 0o077 == 0  # the installation secret is in there: owner only
    conn = sqlite3.connect(target)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert conn.execute("SELECT count(*) FROM votes").fetchone()[0] == 3
    conn.close()


@pytest.mark.parametrize("problem", ["missing", "no_directory", "postgres"])
def test_backup_refusals_are_one_line_and_write_nothing(
    problem: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live = tmp_path / "live.db"
    _store_with_votes(live)
    url = {"missing": f"sqlite:///{tmp_path / 'none.db'}", "no_directory": f"sqlite:///{live}",
           "postgres": "postgresql://postgres@127.0.0.1:5432/x"}[problem]
    target = tmp_path / ("nowhere/b.db" if problem == "no_directory" else "b.db")
    assert cli.main(["backup", str(target), "--database-url", url]) == 1
    err = capsys.readouterr().err
    assert err.startswith("feedbackwidget: ") and err.count("\n") == 1
    assert ("pg_dump" in err) == (problem == "postgres")
    assert not [name for name in os.listdir(tmp_path) if not name.startswith("live.db")]


def test_restore_refuses_to_overwrite_votes_unless_told(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    live, copy, other = tmp_path / "live.db", tmp_path / "copy.db", tmp_path / "other.db"
    _store_with_votes(live, 3)
    _store_with_votes(other, 5)
    backup_sqlite(str(live), str(copy))
    assert cli.main(["restore", str(copy), "--database-url", f"sqlite:///{other}"]) == 1
    assert "--replace" in capsys.readouterr().err
    with sqlite3.connect(other) as conn:
        assert conn.execute("SELECT count(*) FROM votes").fetchone()[0] == 5
    assert cli.main(["restore", str(copy), "--database-url", f"sqlite:///{other}", "--replace"]) == 0
    with sqlite3.connect(other) as conn:
        assert conn.execute("SELECT count(*) FROM votes").fetchone()[0] == 3


@pytest.mark.parametrize("damage", ["not_sqlite", "not_ours", "too_new", "truncated"])
def test_restore_of_a_bad_file_leaves_the_target_alone(damage: str, tmp_path: Path) -> None:
    live, bad, target = tmp_path / "live.db", tmp_path / "bad.db", tmp_path / "target.db"
    _store_with_votes(live, 50)
    _store_with_votes(target, 2)
    if damage == "not_sqlite":
        bad.write_bytes(b"hello" * 1000)
    elif damage == "not_ours":
        with sqlite3.connect(bad) as conn:
            conn.execute("CREATE TABLE t (x)")
    else:
        backup_sqlite(str(live), str(bad))
        if damage == "too_new":
            with sqlite3.connect(bad) as conn:
                conn.execute("PRAGMA user_version = 999")
        else:
            data = bad.read_bytes()
            bad.write_bytes(data[: len(data) // 2])
    before = target.read_bytes()
    with pytest.raises(BackupError):
        restore_sqlite(str(bad), str(target), replace=True)
    assert target.read_bytes() == before

