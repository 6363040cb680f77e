"""Exports as Apache Parquet, for warehouses: typed columns, written in row groups as rows arrive.

Needs ``pyarrow`` (the ``parquet`` extra); :mod:`feedbackwidget.export`
imports this module only when Parquet is asked for. Columns carry their real
types — times as ``timestamp[us, tz=UTC]``, days as ``date32``, counts and
event ids as ``int64``, shares as ``double`` — and the few-valued words
(``vote``, ``action``, ``reason``) are dictionary-encoded, so pandas reads them
as categoricals; every other column is dictionary-encoded on disk by Parquet
itself where that pays. Values are the same as the CSV/NDJSON export's
(tests/test_export_parquet.py compares them kind by kind).

Memory: each store batch becomes Arrow columns at once (about a tenth of
the memory of the same rows as Python objects); they are gathered until
:data:`ROW_GROUP_ROWS` rows, then written as one row group and handed out as
bytes. At most one row group is held at a time, however long the history.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .store.base import EXPORT_COLUMNS, Row
from .types import ExportKind

#: Rows per row group: big enough for Parquet's per-group overhead and statistics to vanish,
#: small enough to hold in memory as Arrow columns (~10 MB for the widest kind).
ROW_GROUP_ROWS = 65_536

_TIME = pa.timestamp("us", tz="UTC")
_WORD = pa.dictionary(pa.int32(), pa.string())
_TYPES: dict[str, pa.DataType] = {
    "event_id": pa.int64(), "at": _TIME, "created_at": _TIME, "updated_at": _TIME,
    "first_vote_at": _TIME, "last_vote_at": _TIME, "day": pa.date32(),
    "up": pa.int64(), "down": pa.int64(), "total": pa.int64(),
    "share_up": pa.float64(), "wilson_lower": pa.float64(),
    "vote": _WORD, "action": _WORD, "reason": _WORD, "site": _WORD,
    # What an article is about (kind=articles): a time, and lists of names.
    "published_at": _TIME, "authors": pa.list_(pa.string()), "tags": pa.list_(pa.string()),
}
#: Columns that never hold null (Parquet records it; readers may rely on it).
_REQUIRED = frozenset({"event_id", "at", "article_id", "voter", "action", "created_at", "up", "down", "total", "day",
                       "site"})


def schema(kind: ExportKind, site: bool = False) -> pa.Schema:
    """The Arrow schema of one export kind: EXPORT_COLUMNS' order, typed as described above
    (with a dictionary-encoded ``site`` last when asked for: a server with several sites)."""
    names = (*EXPORT_COLUMNS[kind], "site") if site else EXPORT_COLUMNS[kind]
    return pa.schema([
        pa.field(name, _TYPES.get(name, pa.string()), nullable=name not in _REQUIRED)
        for name in names
    ])


def table(kind: ExportKind, rows: Sequence[Row], site: bool = False) -> pa.Table:
    """Rows (already :func:`~feedbackwidget.export.complete`) as a table of :func:`schema`."""
    target = schema(kind, site)
    columns = []
    for field in target:
        values = [row.get(field.name) for row in rows]
        if pa.types.is_dictionary(field.type):
            columns.append(pa.array(values, pa.string()).dictionary_encode())
        else:
            columns.append(pa.array(values, field.type))
    return pa.Table.from_arrays(columns, schema=target)


class _Drain(io.RawIOBase):
    """A write-only file that keeps what it is given until :meth:`take` hands it on."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        out, self._parts = b"".join(self._parts), []
        return out


async def encode(
    kind: ExportKind, batches: AsyncIterator[Sequence[Row]], row_group_rows: int = ROW_GROUP_ROWS,
    site: bool = False,
) -> AsyncIterator[bytes]:
    """One Parquet file as chunks: one per row group, the last with the footer.

    The first chunk leaves only once the store has answered with its first
    batch (or its end), as for the other formats. Rows must already be
    completed (the derived columns of ``articles``).
    """
    sink = _Drain()
    writer = pq.ParquetWriter(sink, schema(kind, site), compression="zstd", write_statistics=True)
    pending: list[pa.Table] = []
    held = 0
    try:
        async for batch in batches:
            if batch:
                pending.append(table(kind, batch, site))
                held += len(batch)
            if held >= row_group_rows:
                writer.write_table(pa.concat_tables(pending), row_group_size=held)
                pending, held = [], 0
                yield sink.take()
        if held:
            writer.write_table(pa.concat_tables(pending), row_group_size=held)
    finally:
        writer.close()
    yield sink.take()
