"""What an export is asked for: its kind, format, time range, filters and site, parsed from
query parameters or CLI options into an :class:`ExportQuery` (InvalidRequest when malformed),
and the columns each kind has. :mod:`feedbackwidget.export` makes the bytes."""

from __future__ import annotations

import datetime as dt
import importlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import validate
from .errors import InvalidRequest
from .store.base import EXPORT_COLUMNS
from .types import EXPORT_FORMATS, EXPORT_KINDS, AboutFilter, ExportFormat, ExportKind

MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "ndjson": "application/x-ndjson",
    "parquet": "application/vnd.apache.parquet",
}
FORMATS, KINDS = EXPORT_FORMATS, EXPORT_KINDS

_TZ_NAME = re.compile(r"^[A-Za-z0-9_+\-]{1,32}(/[A-Za-z0-9_+\-]{1,32}){0,3}$")
_MAX_TIME_TEXT = 64


# -- parsing -----------------------------------------------------------------------------

def parse_time(value: str, field: str, tz: dt.tzinfo = dt.UTC) -> dt.datetime:
    """An ISO 8601 date or date-time as an aware UTC datetime.

    A date means midnight. A value without an offset is read in ``tz`` (UTC
    unless given); one outside the years 1900-2999 is kept at their bounds
    (:data:`EARLIEST`, :data:`LATEST`). Anything else raises :class:`InvalidRequest`
    naming ``field``.
    """
    text = value.strip()
    problem = (
        f"{field} must be an ISO 8601 date or date-time in UTC, "
        "such as 2026-01-31 or 2026-01-31T12:00:00Z"
    )
    if not text or len(text) > _MAX_TIME_TEXT or not text.isascii():
        raise InvalidRequest(problem)
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(problem) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    try:
        moment = parsed.astimezone(dt.UTC)
    except OverflowError:  # a local time in year 1 or 9999 whose UTC time is past the calendar
        return EARLIEST if parsed.year < validate.YEARS[0] else LATEST
    # No vote is outside validate.YEARS: a time beyond them (since=0001-01-01 for "from the
    # start") selects what its bound does, and leaves room for a day's arithmetic either side.
    return min(max(moment, EARLIEST), LATEST)


#: The bounds :func:`parse_time` keeps times within.
EARLIEST = dt.datetime(validate.YEARS[0], 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(validate.YEARS[1] + 1, 1, 1, tzinfo=dt.UTC)


def parse_tz(value: str) -> ZoneInfo:
    """An IANA time zone name such as ``Europe/Paris``; InvalidRequest otherwise."""
    name = value.strip()
    problem = "tz must be an IANA time zone name such as Europe/Paris"
    if not _TZ_NAME.fullmatch(name) or ".." in name:
        raise InvalidRequest(problem)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidRequest(problem) from None


#: ``ExportQuery.site`` for an export of every site of a store, each row saying whose it is.
ALL_SITES = "*"


@dataclass(frozen=True, slots=True)
class ExportQuery:
    """A validated export request (from query parameters or CLI options)."""

    kind: ExportKind = "votes"
    format: ExportFormat = "csv"
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    after: int | None = None
    tz: ZoneInfo | None = None
    #: Articles of one section, author or tag (kind=articles only).
    about: AboutFilter | None = None
    #: On a server with several sites: the site exported, written as a last column, ``site``,
    #: of every row (a file keeps saying whose it is once it is merged with another site's);
    #: :data:`ALL_SITES` for every site of the store (the CLI's export without ``--site``).
    site: str | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> ExportQuery:
        """Parse ``format, kind, since, until, after, tz``; InvalidRequest when malformed."""
        fmt = params.get("format", "csv")
        if fmt not in FORMATS:
            raise InvalidRequest("format must be csv, ndjson or parquet")
        if fmt == "parquet":
            parquet_encoder()  # refuse now, before any byte, when pyarrow is missing
        kind = params.get("kind", "votes")
        if kind not in KINDS:
            raise InvalidRequest("kind must be votes, events, articles, daily or reasons")
        tz = None
        if params.get("tz"):
            if kind != "daily":
                raise InvalidRequest("tz applies to kind=daily only")
            tz = parse_tz(params["tz"])
        zone: dt.tzinfo = tz or dt.UTC
        since = parse_time(params["since"], "since", zone) if params.get("since") else None
        until = parse_time(params["until"], "until", zone) if params.get("until") else None
        after = None
        if params.get("after"):
            if kind != "events":
                raise InvalidRequest("after applies to kind=events only")
            raw = params["after"].strip()
            if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
                raise InvalidRequest("after must be an event_id (a non-negative integer)")
            after = int(raw)
        return cls(kind, fmt, since, until, after, tz, about_filter(params, kind))

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]

    @property
    def filename(self) -> str:
        site = f"{self.site}-" if self.site and self.site != ALL_SITES else ""
        return f"feedbackwidget-{site}{self.kind}.{self.format}"

    @property
    def columns(self) -> tuple[str, ...]:
        return columns(self.kind, self.site is not None)


def columns(kind: ExportKind, site: bool = False) -> tuple[str, ...]:
    """The columns of an export kind (EXPORT_COLUMNS), with ``site`` last when asked for."""
    return (*EXPORT_COLUMNS[kind], "site") if site else EXPORT_COLUMNS[kind]


def about_filter(params: Mapping[str, str], kind: str = "articles") -> AboutFilter | None:
    """``section``, ``author`` and ``tag`` parameters (each one exact name), or None when none is given."""
    where = AboutFilter(
        section=validate.label(params.get("section") or None, "section"),
        author=validate.label(params.get("author") or None, "author"),
        tag=validate.label(params.get("tag") or None, "tag"),
    )
    if not where:
        return None
    if kind != "articles":
        raise InvalidRequest("section, author and tag apply to kind=articles only")
    return where


def parquet_encoder() -> Any:
    """The module :mod:`feedbackwidget.export_parquet`; InvalidRequest when pyarrow is not installed.

    Imported here, on demand, because pyarrow is an optional extra (and a large import)."""
    try:
        return importlib.import_module("feedbackwidget.export_parquet")
    except ImportError:
        raise InvalidRequest(
            "format=parquet needs pyarrow, which this installation lacks (pip install 'feedbackwidget[parquet]')"
        ) from None
