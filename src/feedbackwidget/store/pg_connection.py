"""Connecting to PostgreSQL: the store's URL options, which driver errors mean
"the database is not answering", resetting a connection on release, and migrating
under an advisory lock (see pg_pooler.py for what a pooler in between changes)."""

from __future__ import annotations

import functools
import os
import re
import secrets
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import asyncpg

from ..errors import ConfigError, SchemaTooNew, StoreUnavailable
from . import failures
from .pg_pooler import URL_VAR as URL_VAR
from .pg_pooler import Connector, behind_pooler
from .pg_schema import BOOTSTRAP, LOCK_MIGRATE, LOCK_NS, MIGRATIONS, VERSION

#: The connection itself is gone: the pool's other connections are probably dead too.
CONNECTION_LOST: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,  # class 08
    asyncpg.InterfaceError,  # connection closed under us
    asyncpg.exceptions.InternalClientError,  # its protocol state after the server cut it off
    asyncpg.exceptions.OperatorInterventionError,  # class 57: shutdown, cancelled
    asyncpg.exceptions.IdleInTransactionSessionTimeoutError,  # the server ended a session left idle
)
UNAVAILABLE: tuple[type[BaseException], ...] = (
    *CONNECTION_LOST,
    TimeoutError,
    asyncpg.exceptions.InsufficientResourcesError,  # class 53: too many connections, disk full
    asyncpg.exceptions.LockNotAvailableError,  # lock_timeout
    asyncpg.exceptions.ReadOnlySQLTransactionError,  # a standby after failover
    asyncpg.exceptions.PostgresSystemError,  # class 58: I/O error
    asyncpg.exceptions.InvalidAuthorizationSpecificationError,  # class 28: unknown role, wrong password
    asyncpg.exceptions.InvalidCatalogNameError,  # 3D000: no such database
)
RETRYABLE = (asyncpg.exceptions.DeadlockDetectedError, asyncpg.exceptions.SerializationError)


OPTIONS = ("pool_min", "pool_max", "counter_slots")


def pop_options(url: str) -> tuple[str, dict[str, int]]:
    """Take this store's own options (``?pool_max=20&pool_min=2&counter_slots=8``)
    out of the URL; the other query parameters are left for asyncpg."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    options: dict[str, int] = {}
    for name, value in pairs:
        if name in OPTIONS:
            try:
                options[name] = int(value)
            except ValueError:
                raise ConfigError(URL_VAR, f"{name} must be a whole number") from None
            if options[name] < 0:
                raise ConfigError(URL_VAR, f"{name} must not be negative")
    rest = urlencode([(n, v) for n, v in pairs if n not in OPTIONS])
    return urlunsplit(parts._replace(query=rest)), options


def unavailable(exc: BaseException, dsn: str | None = None) -> StoreUnavailable:
    """The error for a database that does not answer. The class name only, since
    messages may carry host names or user names of the DSN; while connecting
    (``dsn`` given) also the server's own words, which name the cause (PgBouncer
    reports everything as ProtocolViolationError), with the DSN's values taken out."""
    said = ""
    if isinstance(exc, asyncpg.PostgresError):
        said = _redacted(str(exc), dsn)
    elif isinstance(exc, OSError) and exc.strerror:  # the system's words, not the address
        said = _redacted(os.strerror(exc.errno) if exc.errno and exc.errno > 0 else exc.strerror, dsn)
    shown = f": {said}" if dsn is not None and said else ""
    return failures.unavailable(exc, f"The vote store is not answering ({type(exc).__name__}{shown}).", said=said)


def _redacted(message: str, dsn: str | None) -> str:
    """The first line of ``message`` without the user, password, host or database of ``dsn``."""
    text = (message.strip().splitlines() or [""])[0][:300]
    parts = urlsplit(dsn or "")
    values = {unquote(v) for v in (parts.username, parts.password, parts.hostname, parts.path[1:]) if v}
    values |= {v for k, v in parse_qsl(parts.query) if k in ("user", "password", "host", "dbname", "database")}
    for value in sorted((v for v in values if v), key=len, reverse=True):
        text = re.sub(rf"(?<![\w.-]){re.escape(value)}(?![\w.-])", "…", text)
    return text


async def migrate(
    connector: Connector, target: int = VERSION, connect_timeout: float = 5.0
) -> tuple[int, Connector]:
    """Bring the database to ``target``; returns the version found, and ``connector``
    with the pooler question answered (its connection is the store's first).

    Writes nothing when the schema is already current. Otherwise each version is
    applied in a transaction of its own, together with its version number, under
    a transaction-scoped advisory lock (a session lock would stay behind on a
    pooler's server connection): the step reads the version again under the
    lock, so two processes migrating at once take turns and apply each version
    once. A schema newer than this code understands raises :class:`SchemaTooNew`;
    a setting in the URL that PostgreSQL refuses raises :class:`ConfigError`; any
    other failure is one :class:`StoreUnavailable` naming its cause.
    """
    try:
        conn = await asyncpg.connect(connector.dsn, timeout=connect_timeout, **connector.probe_options())
    except asyncpg.exceptions.ClientConfigurationError as exc:
        raise ConfigError(URL_VAR, _redacted(str(exc), connector.dsn)) from None
    except (*UNAVAILABLE, asyncpg.PostgresError) as exc:
        raise unavailable(exc, connector.dsn) from None
    try:
        if connector.pooler is None:
            connector = connector.detected(await behind_pooler(conn))
        return await _migrate(conn, connector, target), connector
    except UNAVAILABLE as exc:
        raise unavailable(exc) from None
    except asyncpg.PostgresError as exc:
        raise StoreUnavailable(
            f"The database refused the migration ({type(exc).__name__}: {_redacted(str(exc), connector.dsn)})."
        ) from None
    finally:
        try:
            await conn.close(timeout=connect_timeout)
        except UNAVAILABLE:
            conn.terminate()


async def _migrate(conn: Any, connector: Connector, target: int) -> int:
    # This connection started without the store's settings: each transaction sets them.
    begin = functools.partial(connector.begin, scoped=True)
    goal = min(target, VERSION)
    try:
        await conn.execute(begin("BEGIN READ ONLY"))
    except asyncpg.PostgresError as exc:
        if isinstance(exc, UNAVAILABLE):
            raise
        raise ConfigError(URL_VAR, f"PostgreSQL refused a setting ({_redacted(str(exc), connector.dsn)})") from None
    # Up to date already? Then write nothing (this also lets exports run on a replica).
    current, done = None, False
    if await conn.fetchval("SELECT to_regclass('fw_schema') IS NOT NULL"):
        current = int(await conn.fetchval("SELECT version FROM fw_schema"))
        secret = current == 0 or await conn.fetchval("SELECT 1 FROM fw_meta WHERE key = 'secret'")
        done = current >= goal and bool(secret)
    await conn.execute("COMMIT")
    if current is not None and current > VERSION:
        raise SchemaTooNew(current, VERSION)
    if current is not None and done:
        return current
    found: int | None = None
    applied: set[int] = set()
    while True:
        await conn.execute(f"{begin()}; SELECT pg_advisory_xact_lock({LOCK_NS}, {LOCK_MIGRATE}); {BOOTSTRAP}")
        version = int(await conn.fetchval("SELECT version FROM fw_schema"))
        found = version if found is None else found
        if version > VERSION:
            raise SchemaTooNew(version, VERSION)
        if version >= goal:
            if goal >= 1:
                await conn.execute(
                    "INSERT INTO fw_meta (key, value) VALUES ('secret', $1) ON CONFLICT DO NOTHING",
                    secrets.token_bytes(32),
                )
            # Named with their schema: VACUUM runs outside a transaction, so without the search_path
            # that begin() sets (the URL's settings) for each one.
            tables = await conn.fetchval(_QUALIFIED) if applied & REBUILT else None
            await conn.execute("COMMIT")
            if tables:
                await _vacuum(conn, connector, tables)
            return found
        await conn.execute(MIGRATIONS[version])
        await conn.execute("UPDATE fw_schema SET version = $1", version + 1)
        await conn.execute("COMMIT")
        applied.add(version + 1)


#: Versions that fill or rebuild the rollups in bulk, and the tables they leave behind.
REBUILT = frozenset({5, 10})
_QUALIFIED = """
SELECT string_agg(format('%I.%I', n.nspname, c.relname), ', ')
FROM unnest(ARRAY['fw_hourly', 'fw_daily', 'fw_ranks']::regclass[]) AS t(oid)
JOIN pg_class c ON c.oid = t.oid JOIN pg_namespace n ON n.oid = c.relnamespace
"""


async def _vacuum(conn: Any, connector: Connector, tables: str) -> None:
    """``VACUUM (ANALYZE)`` the rollups a migration just filled: an index-only scan (the tz= daily
    export's, pg_schema.py version 10) reads the heap for every row until the visibility map says
    its page is all-visible, and only VACUUM sets that; autovacuum would, but minutes later.

    ``SKIP_LOCKED``: a table someone holds a conflicting lock on is skipped, not waited for. Any
    failure (a timeout of the role's, the connection lost) only costs speed until autovacuum
    comes: logged, never raised — the migration is committed, and ``migrate`` must say so."""
    try:
        await conn.execute(f"VACUUM (ANALYZE, SKIP_LOCKED) {tables}")
    except (*UNAVAILABLE, asyncpg.PostgresError) as exc:
        failures.log.warning("VACUUM after the migration did not run (%s: %s); autovacuum will do it later",
                             type(exc).__name__, _redacted(str(exc), connector.dsn))


async def end_transaction(conn: Any) -> None:
    """What a connection needs on its way back to the pool.

    Everything this store does on a pooled connection is transaction-scoped
    (``pg_advisory_xact_lock*``, ``SET LOCAL``, cursors inside transactions), so
    ending a transaction left open is enough; asyncpg's default reset sends four
    more statements per release, and a vote releases twice (docs/performance.md).
    """
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def roll_back(conn: Any) -> None:
    """End the transaction an error left open, so that the connection goes back to
    the pool clean (asyncpg logs the release of one in a transaction as an error);
    one that cannot roll back is closed, and the pool replaces it."""
    if conn.is_in_transaction():
        try:
            await conn.execute("ROLLBACK")
        except BaseException:
            conn.terminate()
            raise
