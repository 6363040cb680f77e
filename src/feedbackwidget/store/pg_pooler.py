"""Reaching PostgreSQL directly or through a connection pooler (PgBouncer and the like).

A pooler in transaction mode gives each transaction of a client connection to
whichever server connection is free; in session mode it gives a client a server
connection that other clients used before. Nothing left on a server connection
outside one transaction can be relied on there: named or cached prepared
statements, session settings (startup parameters, which PgBouncer refuses
unless told to ignore them, and ``SET``), session advisory locks, cursors.
Behind a pooler the store therefore

- caches no statements (asyncpg's ``statement_cache_size=0``: unnamed
  statements, parsed again in the same message batch as their execution);
- sends only ``application_name`` when it connects (PgBouncer passes it on) and
  sets everything else, the ``DATABASE_URL`` settings such as ``search_path``
  and its own idle-in-transaction bound, with ``set_config(…, true)`` at the
  start of each transaction: in the same round trip as ``BEGIN``, and around a
  single statement only when the URL has settings of its own;
- reads exports through a ``DECLARE``d cursor, which ends with its transaction
  (asyncpg's cursor leaves a named prepared statement on the server connection).

Its locks were already transaction-scoped (``pg_advisory_xact_lock*``). Directly,
the store keeps its fast path: prepared statements cached per connection and
the settings sent once, when the connection starts.

Detection: a pooler completes the client's start-up itself and must hand out a
cancellation key of its own (cancel requests reach the pooler, which forwards
them to whichever server connection the client is using), so the process id it
announces is not the one ``pg_backend_pid()`` reports. A TCP proxy relaying one
connection to one server connection passes the server's key through and rightly
counts as direct. ``?pooler=on`` or ``?pooler=off`` on the URL overrides the
detection; ``auto`` (the default) detects.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..errors import ConfigError

URL_VAR = "FEEDBACKWIDGET_DATABASE_URL"
APPLICATION_NAME = "feedbackwidget"
POOLER_OPTION = "pooler"
_CHOICES: dict[str, bool | None] = {
    "auto": None,
    **dict.fromkeys(("on", "true", "yes", "1", "transaction", "session"), True),  # or the pool mode it runs
    **dict.fromkeys(("off", "false", "no", "0"), False),
}

#: The query parameters asyncpg takes for the connection itself (connect_utils); it sends
#: every other one to the server as a setting when the connection starts.
CONNECTION_PARAMETERS = frozenset({
    "service", "host", "port", "dbname", "database", "user", "password", "passfile", "sslmode", "sslcert",
    "sslkey", "sslrootcert", "sslnegotiation", "sslcrl", "sslpassword", "ssl_min_protocol_version",
    "ssl_max_protocol_version", "target_session_attrs", "krbsrvname", "gsslib",
})


def literal(value: str) -> str:
    """``value`` as an SQL string literal, whatever ``standard_conforming_strings`` is."""
    if "\x00" in value:
        raise ConfigError(URL_VAR, "a setting holds a NUL character")
    quoted = value.replace("'", "''")
    return "E'" + quoted.replace("\\", "\\\\") + "'" if "\\" in value else "'" + quoted + "'"


@dataclass(frozen=True, slots=True)
class Connector:
    """How the store reaches PostgreSQL.

    ``dsn`` is the URL for asyncpg without its server settings, which are kept
    in ``settings`` (name, value pairs, in URL order; ``application_name`` is
    always the store's own). ``pooler`` is True behind a pooler, False directly
    and None until detected. ``idle_timeout`` (milliseconds) bounds how long a
    transaction left idle by a vanished client may hold its locks.
    """

    dsn: str
    settings: tuple[tuple[str, str], ...] = ()
    pooler: bool | None = None
    idle_timeout: int = 60_000

    @classmethod
    def from_url(cls, url: str, *, idle_timeout: float = 60.0) -> Connector:
        """From a ``postgresql://`` URL whose pool options are already taken out.

        Raises :class:`ConfigError` (naming ``DATABASE_URL``) for a ``pooler``
        value other than auto, on or off (also written true/false, yes/no, 1/0,
        or as the pool mode: transaction or session).
        """
        parts = urlsplit(url)
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        pooler: bool | None = None
        settings: dict[str, str] = {}
        kept: list[tuple[str, str]] = []
        for name, value in pairs:
            if name == POOLER_OPTION:
                choice = value.strip().lower()
                if choice == "statement":
                    raise ConfigError(URL_VAR, "statement pooling splits transactions: use transaction or session")
                if choice not in _CHOICES:
                    raise ConfigError(URL_VAR, f"{POOLER_OPTION} must be auto, on or off, not {value!r}")
                pooler = _CHOICES[choice]
            elif name in CONNECTION_PARAMETERS:
                kept.append((name, value))
            elif name != "application_name":
                settings.pop(name, None)  # the last one wins, as in asyncpg, and goes last
                settings[name] = value
        dsn = urlunsplit(parts._replace(query=urlencode(kept)))
        return cls(dsn, tuple(settings.items()), pooler, max(0, round(idle_timeout * 1000)))

    def detected(self, pooler: bool) -> Connector:
        """This connector with the pooler question answered (unless the URL answered it)."""
        return self if self.pooler is not None else dataclasses.replace(self, pooler=pooler)

    def _session_settings(self) -> dict[str, str]:
        return {**dict(self.settings), "idle_in_transaction_session_timeout": str(self.idle_timeout)}

    def probe_options(self) -> dict[str, Any]:
        """asyncpg connection arguments that work before anyone knows whether a pooler is there."""
        return {"server_settings": {"application_name": APPLICATION_NAME}, "statement_cache_size": 0}

    def pool_options(self) -> dict[str, Any]:
        """asyncpg connection arguments for the store's pool (the pooler question answered)."""
        if self.pooler:
            return self.probe_options()
        return {"server_settings": {**self._session_settings(), "application_name": APPLICATION_NAME}}

    def begin(self, head: str = "BEGIN", *, scoped: bool | None = None) -> str:
        """SQL, sent as one simple query, that starts a transaction with ``head``
        and, where the session does not carry the settings (behind a pooler, or
        ``scoped=True`` on a connection opened with :meth:`probe_options`), sets
        them for that transaction only."""
        if not (self.pooler if scoped is None else scoped):
            return head
        calls = ", ".join(f"set_config({literal(k)}, {literal(v)}, true)" for k, v in self._session_settings().items())
        return f"{head}; SELECT {calls}"

    @property
    def single(self) -> str | None:
        """How a single statement of the store starts: None runs it as it is (one
        statement is its own transaction); behind a pooler with URL settings, a
        transaction that sets them."""
        return self.begin() if self.pooler and self.settings else None


async def behind_pooler(conn: Any) -> bool:
    """Whether ``conn`` reaches PostgreSQL through a pooler (see the module docstring)."""
    return int(await conn.fetchval("SELECT pg_backend_pid()")) != int(conn.get_server_pid())


async def snapshot_batches(
    conn: Any, connector: Connector, sql: str, params: list[Any], size: int
) -> AsyncIterator[Any]:
    """The records of ``sql``, ``size`` at a time, read in one repeatable-read snapshot.

    The server reads the next batch while the caller handles this one. Directly
    this is asyncpg's cursor (a portal of a prepared statement); behind a pooler,
    a ``DECLARE``d cursor that ends with the transaction.
    """
    async for records in snapshot_batches_of(conn, connector, [(sql, params)], size):
        yield records


async def snapshot_batches_of(
    conn: Any, connector: Connector, queries: Iterable[tuple[str, list[Any]]], size: int, local: str = ""
) -> AsyncIterator[Any]:
    """:func:`snapshot_batches` of several queries, one after the other, in one snapshot; ``local``:
    ``SET LOCAL`` statements for that transaction (``;``-separated), if any."""
    if not connector.pooler:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            if local:
                await conn.execute(local)
            for sql, params in queries:
                cursor = await conn.cursor(sql, *params)
                async for records in _ahead(partial(cursor.fetch, size)):
                    yield records
        return
    begin = connector.begin("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    await conn.execute(f"{begin}; {local}" if local else begin)
    for sql, params in queries:
        await conn.execute(f"DECLARE fw_export NO SCROLL CURSOR FOR {sql}", *params)
        async for records in _ahead(partial(conn.fetch, f"FETCH FORWARD {size} FROM fw_export")):
            yield records
        await conn.execute("CLOSE fw_export")
    await conn.execute("COMMIT")  # left open when the caller stops early: the pool's reset rolls it back


async def _ahead(fetch: Any) -> AsyncIterator[Any]:
    """Non-empty results of ``fetch()``, the next one already requested while the caller handles this one."""
    ahead = asyncio.ensure_future(fetch())
    try:
        while records := await ahead:
            ahead = asyncio.ensure_future(fetch())
            yield records
    finally:  # the connection is free only once that fetch is over (a batch nobody reads)
        await asyncio.gather(ahead, return_exceptions=True)
