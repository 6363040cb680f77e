"""One store contract suite, every backend.

``store`` yields an opened store for each backend. SQLite is a real file in a
temporary directory. PostgreSQL is the real server named by
``FEEDBACKWIDGET_TEST_POSTGRES`` (default: postgres on 127.0.0.1:5432): a fresh
database with a random name is created for the test session and dropped at the
end, and each test gets a fresh schema in it (through ``search_path``). Without
a reachable server the PostgreSQL cases skip and say why, unless
``FEEDBACKWIDGET_REQUIRE_POSTGRES=1`` turns that into a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ..pgtools import fresh_database


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a fresh PostgreSQL database for this test session."""
    with fresh_database("fw_test_") as url:
        yield url


@dataclass
class Backend:
    """How to make (unopened) stores that share one database."""

    name: str
    url: str  # sqlite:///path or postgresql://…?search_path=…

    def make(self, **options: Any) -> Any:
        if self.name == "sqlite":
            from feedbackwidget.store.sqlite import SQLiteStore

            return SQLiteStore(self.url.removeprefix("sqlite:///"))
        from feedbackwidget.store.postgres import PostgresStore

        return PostgresStore(self.url, **options)

    async def execute(self, sql: str) -> None:
        """Run raw SQL against the backend's database (test set-up only)."""
        if self.name == "sqlite":
            import sqlite3

            conn = sqlite3.connect(self.url.removeprefix("sqlite:///"))
            try:
                conn.executescript(sql)
            finally:
                conn.close()
            return
        import asyncpg

        conn = await asyncpg.connect(self.url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def set_schema_version(self, version: int) -> None:
        if self.name == "sqlite":
            await self.execute(f"PRAGMA user_version = {version}")
        else:
            await self.execute(f"UPDATE fw_schema SET version = {version}")


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        try:
            import feedbackwidget.store.sqlite  # noqa: F401
        except ImportError as exc:
            pytest.skip(f"the SQLite store is not importable yet: {exc}")
        yield Backend("sqlite", f"sqlite:///{tmp_path / 'votes.db'}")
        return
    url = request.getfixturevalue("pg_url")
    schema = "t_" + secrets.token_hex(6)
    asyncio.run(_on_database(url, f"CREATE SCHEMA {schema}"))
    try:
        yield Backend("postgres", f"{url}?search_path={schema}")
    finally:
        asyncio.run(_on_database(url, f"DROP SCHEMA {schema} CASCADE"))


async def _on_database(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def side_by_side(pg_url: str, directory: Path, name: str) -> AsyncIterator[list[Any]]:
    """An opened SQLite store and an opened PostgreSQL store (in a schema of its own), to run
    the same history on both and compare; closed, and the schema dropped, afterwards."""
    schema = f"{name}_{secrets.token_hex(4)}"
    await _on_database(pg_url, f"CREATE SCHEMA {schema}")
    stores = [
        Backend("sqlite", f"sqlite:///{directory / (name + '.db')}").make(),
        Backend("postgres", f"{pg_url}?search_path={schema}").make(),
    ]
    try:
        for store in stores:
            await store.open()
        yield stores
    finally:
        for store in stores:
            await store.close()
        await _on_database(pg_url, f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[Any]:
    opened = backend.make()
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()
