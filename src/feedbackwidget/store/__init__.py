"""Storage backends behind one interface (:class:`~feedbackwidget.store.base.Store`)."""

from __future__ import annotations

from .base import EXPORT_COLUMNS, Row, Store
from .sqlite import SQLiteStore

__all__ = ["EXPORT_COLUMNS", "Row", "SQLiteStore", "Store", "open_store"]


def open_store(url: str) -> Store:
    """The store for a database URL (not yet opened)."""
    if url.startswith("sqlite:"):
        return SQLiteStore.from_url(url)
    # PostgreSQL lives behind the [postgres] extra, so its driver is imported only when chosen.
    from .postgres import PostgresStore

    return PostgresStore(url)
