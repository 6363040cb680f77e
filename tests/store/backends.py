"""The stores under test: SQLite, PostgreSQL directly and through PgBouncer, built alike for the contract suite."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..pgtools import execute


@dataclass
class Backend:
    """How to make (unopened) stores that share one database."""

    name: str  # sqlite or postgres
    url: str  # sqlite:///path or postgresql://…?search_path=…, for the test's own connections
    store_url: str = ""  # what stores get, when not ``url`` (through PgBouncer)

    def make(self, **options: Any) -> Any:
        if self.name == "sqlite":
            from feedbackwidget.store.sqlite import SQLiteStore

            return SQLiteStore(self.url.removeprefix("sqlite:///"))
        from feedbackwidget.store.postgres import PostgresStore

        return PostgresStore(self.store_url or self.url, **options)

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

@contextlib.asynccontextmanager
async def side_by_side(pg_url: str, directory: Path, name: str) -> AsyncIterator[list[Any]]:
    """An opened SQLite store and an opened PostgreSQL store (in a schema of its own), to run
    the same history on both and compare; closed, and the schema dropped, afterwards."""
    schema = f"{name}_{secrets.token_hex(4)}"
    await execute(pg_url, f"CREATE SCHEMA {schema}")
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
        await execute(pg_url, f"DROP SCHEMA {schema} CASCADE")


class Fresh:
    """A new, empty, opened store per example (a file, or a schema of its own), on one event loop."""

    def __init__(self, runner: asyncio.Runner, name: str, place: Any) -> None:
        self.runner, self.name, self.place, self.count = runner, name, place, 0
        self.store: Any = None
        self.backend: Backend | None = None

    def __enter__(self) -> Any:
        self.count += 1
        if self.name == "sqlite":
            self.backend = Backend("sqlite", f"sqlite:///{self.place / f'r{self.count}.db'}")
        else:
            schema = f"rollups_{secrets.token_hex(4)}"
            self.runner.run(execute(self.place, f"CREATE SCHEMA {schema}"))
            self.backend = Backend("postgres", f"{self.place}?search_path={schema}")
        self.store = self.backend.make()
        self.runner.run(self.store.open())
        return self.store

    def __exit__(self, *exc: object) -> None:
        self.runner.run(self.store.close())
        if self.name == "postgres":
            assert self.backend is not None
            schema = self.backend.url.rsplit("search_path=", 1)[1]
            self.runner.run(execute(self.place, f"DROP SCHEMA {schema} CASCADE"))
