"""Plain value types shared by every layer. Imports nothing from the package."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal, get_args

Vote = Literal["up", "down"]
Action = Literal["cast", "change", "withdraw", "erase"]
ExportKind = Literal["votes", "events", "articles", "daily", "reasons"]
ExportFormat = Literal["csv", "ndjson", "parquet"]
ArticleOrder = Literal["wilson", "total", "recent"]
#: Refused vote attempts counted for the abuse view (the contract's error codes).
RefusalKind = Literal["captcha_required", "captcha_failed", "rate_limited", "forbidden_origin"]

# Each enumeration is spelled once, above; these are its values in order.
VOTES: tuple[Vote, ...] = get_args(Vote)
EXPORT_KINDS: tuple[ExportKind, ...] = get_args(ExportKind)
EXPORT_FORMATS: tuple[ExportFormat, ...] = get_args(ExportFormat)
ORDERS: tuple[ArticleOrder, ...] = get_args(ArticleOrder)
REFUSAL_KINDS: tuple[RefusalKind, ...] = get_args(RefusalKind)

#: An article id is an opaque string of 1..256 characters without control characters.
ArticleId = str
#: A voter pseudonym: a keyed hash of the voter's random id. Never an address.
VoterKey = str

MAX_ARTICLE_ID = 256
MAX_TITLE = 300
MAX_VERSION = 64
MAX_REASON_TEXT = 500


@dataclass(frozen=True, slots=True)
class Tally:
    """Current counts of one article."""

    article_id: ArticleId
    up: int = 0
    down: int = 0

    @property
    def total(self) -> int:
        return self.up + self.down


@dataclass(frozen=True, slots=True)
class Cast:
    """A request to the store to put one reader's vote on one article."""

    article_id: ArticleId
    voter: VoterKey
    vote: Vote
    at: dt.datetime
    version: str | None = None
    title: str | None = None
    #: True when the title was signed by ``widget.embed()`` and may replace a stored one.
    title_trusted: bool = False


@dataclass(frozen=True, slots=True)
class CastResult:
    tally: Tally
    changed: bool
    #: What the reader's vote was before this cast (None for a first vote).
    previous: Vote | None


@dataclass(frozen=True, slots=True)
class ArticleSummary:
    """One article as listed and exported."""

    article_id: ArticleId
    title: str | None
    up: int
    down: int
    first_vote_at: dt.datetime | None
    last_vote_at: dt.datetime | None

    @property
    def total(self) -> int:
        return self.up + self.down


@dataclass(frozen=True, slots=True)
class Pruned:
    """What one retention sweep removed: history ``events`` deleted, per-day ``refusals`` rows
    deleted, and free ``reason_texts`` cleared from current votes (their reason codes stay)."""

    events: int = 0
    refusals: int = 0
    reason_texts: int = 0
