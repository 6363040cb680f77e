"""A fresh PostgreSQL database for tests: created on the server named by
``FEEDBACKWIDGET_TEST_POSTGRES`` (default postgres on 127.0.0.1:5432), dropped
afterwards. Without a reachable server the test skips and says why, unless
``FEEDBACKWIDGET_REQUIRE_POSTGRES=1`` (set by .ci/run) turns that into a failure."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

ADMIN_URL = os.environ.get("FEEDBACKWIDGET_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REQUIRE_POSTGRES = os.environ.get("FEEDBACKWIDGET_REQUIRE_POSTGRES") == "1"


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


async def admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(ADMIN_URL, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def unavailable(reason: str) -> None:
    if REQUIRE_POSTGRES:
        pytest.fail(reason + " (FEEDBACKWIDGET_REQUIRE_POSTGRES=1)")
    pytest.skip(reason)


@contextlib.contextmanager
def fresh_database(prefix: str) -> Iterator[str]:
    """The URL of a new, empty database, dropped when the block ends."""
    try:
        import asyncpg  # noqa: F401
    except ImportError:
        unavailable("asyncpg is not installed (pip install 'feedbackwidget[postgres]')")
    name = prefix + secrets.token_hex(6)
    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # any reason the server cannot be used
        where = f"{urlsplit(ADMIN_URL).hostname}:{urlsplit(ADMIN_URL).port or 5432}"
        unavailable(f"PostgreSQL is not reachable at {where}: {type(exc).__name__}: {exc}")
    try:
        yield with_database(ADMIN_URL, name)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
