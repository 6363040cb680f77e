"""The PostgreSQL store's exports: each read in one repeatable-read snapshot, in batches; events
only up to the high-water mark no transaction in flight can still add below (the event cursor:
postgres.py's module docstring and ``_event_high_water``). Mixed into
:class:`~feedbackwidget.store.postgres.PostgresStore`."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, TypeVar

from ..types import ExportFormat, ExportKind
from . import pg_queries as q
from .base import TEXT_KINDS, Row
from .pg_pooler import Connector, snapshot_batches

_EXPORT_BATCH = 1000
T = TypeVar("T")


class PgExports:
    """The export methods; PostgresStore provides the plumbing (connections, the connector)."""

    _connector: Connector

    @contextlib.asynccontextmanager
    async def _connection(self, single: bool = True) -> AsyncIterator[Any]:
        raise NotImplementedError
        yield

    async def _event_high_water(self, conn: Any) -> int:
        raise NotImplementedError

    def daily_export(
        self, since: dt.datetime | None, until: dt.datetime | None, site: str | None = None
    ) -> AsyncIterator[Sequence[Row]]:
        raise NotImplementedError

    def export(
        self, kind: ExportKind, *, since: dt.datetime | None = None, until: dt.datetime | None = None,
        after: int | None = None, site: str | None = None,
    ) -> AsyncIterator[Sequence[Row]]:
        if kind == "daily":  # from the rollups (pg_rollups.py)
            return self.daily_export(since, until, site)
        return self._export(kind, lambda high: q.export_query(kind, since, until, after, high, site))

    def export_text(
        self, kind: ExportKind, fmt: ExportFormat, *, since: dt.datetime | None = None,
        until: dt.datetime | None = None, after: int | None = None, site: str | None = None,
    ) -> AsyncIterator[bytes] | None:  # see TextExport
        if kind not in TEXT_KINDS:
            return None
        return self._export(kind, lambda high: q.text_query(kind, fmt, since, until, after, high, site))

    async def _export(self, kind: ExportKind, query: Callable[[int | None], q.Query[T]]) -> AsyncIterator[T]:
        """Batches of an export read in one repeatable-read snapshot, each turned into what the query says."""
        async with self._connection(single=False) as conn:
            sql, params, convert = query(await self._event_high_water(conn) if kind == "events" else None)
            async for records in snapshot_batches(conn, self._connector, sql, params, _EXPORT_BATCH):
                yield convert(records)
