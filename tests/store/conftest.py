"""One store contract suite, every backend.

``store`` yields an opened store for each backend. SQLite is a real file in a
temporary directory. PostgreSQL is the real server named by
``FEEDBACKWIDGET_TEST_POSTGRES`` (default: postgres on 127.0.0.1:5432): a fresh
database with a random name is created for the test session and dropped at the
end, and each test gets a fresh schema in it (through ``search_path``). The
``pgbouncer`` case is the same server through a real PgBouncer in transaction
mode, as a role of the test's own whose default ``search_path`` is its schema
(so the store's URL carries no settings, as in most deployments). Without a
reachable server (or pgbouncer) those cases skip and say why, unless
``FEEDBACKWIDGET_REQUIRE_POSTGRES=1`` turns that into a failure.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from ..pgtools import PgBouncer, execute, fresh_database, own_role
from .backends import Backend, Fresh


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a fresh PostgreSQL database for this test session."""
    with fresh_database("fw_test_") as url:
        yield url


@pytest.fixture(scope="session")
def pgbouncer() -> Iterator[PgBouncer]:
    """A PgBouncer in transaction mode in front of the test server, for the session."""
    with PgBouncer("transaction") as bouncer:
        yield bouncer


@pytest.fixture(scope="session")
def pgbouncer_session_mode() -> Iterator[PgBouncer]:
    with PgBouncer("session") as bouncer:
        yield bouncer




@pytest.fixture(params=["sqlite", "postgres", "pgbouncer"])
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
    if request.param == "postgres":
        asyncio.run(execute(url, f"CREATE SCHEMA {schema}"))
        try:
            yield Backend("postgres", f"{url}?search_path={schema}")
        finally:
            asyncio.run(execute(url, f"DROP SCHEMA {schema} CASCADE"))
        return
    bouncer = request.getfixturevalue("pgbouncer")
    with own_role(url, schema):
        yield Backend("postgres", f"{url}?search_path={schema}", bouncer.url(urlsplit(url).path[1:], schema))






@pytest.fixture(params=["sqlite", "postgres"])
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Fresh]:
    """A runner and a new database per example of a property test (test_rollups.py and others)."""
    place: Any = tmp_path if request.param == "sqlite" else request.getfixturevalue("pg_url")
    with asyncio.Runner() as runner:
        yield Fresh(runner, request.param, place)


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
