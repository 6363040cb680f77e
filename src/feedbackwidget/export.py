"""Row streams to CSV (RFC 4180, formula-neutralised) and NDJSON bytes."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from .sentiment import share_up, wilson_lower
from .store.base import EXPORT_COLUMNS, Row
from .types import ExportFormat, ExportKind

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson"}


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _csv_cell(value: Any) -> Any:
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def complete(kind: ExportKind, row: Row) -> Row:
    """Add the derived columns a kind exports (share and Wilson bound for articles)."""
    if kind == "articles":
        up, down = int(row["up"]), int(row["down"])
        row = {**row, "total": up + down, "share_up": share_up(up, down), "wilson_lower": wilson_lower(up, up + down)}
    return row


def encode_csv(kind: ExportKind, batches: Iterable[Sequence[Row]], header: bool = True) -> Iterable[bytes]:
    columns = EXPORT_COLUMNS[kind]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if header:
        writer.writerow(columns)
    for batch in batches:
        for row in batch:
            full = complete(kind, row)
            writer.writerow([_csv_cell(full.get(c)) for c in columns])
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()


def encode_ndjson(kind: ExportKind, batch: Sequence[Row]) -> bytes:
    columns = EXPORT_COLUMNS[kind]
    lines = []
    for row in batch:
        full = complete(kind, row)
        lines.append(json.dumps({c: _plain(full.get(c)) for c in columns}, ensure_ascii=False, separators=(",", ":")))
    return ("\n".join(lines) + "\n").encode() if lines else b""


async def stream(kind: ExportKind, fmt: ExportFormat, batches: AsyncIterator[Sequence[Row]]) -> AsyncIterator[bytes]:
    """Encode an async stream of row batches, one chunk per batch."""
    if fmt == "csv":
        yield next(iter(encode_csv(kind, [], header=True)))
        async for batch in batches:
            for chunk in encode_csv(kind, [batch], header=False):
                yield chunk
    else:
        async for batch in batches:
            chunk = encode_ndjson(kind, batch)
            if chunk:
                yield chunk
