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
#: What the dashboard and exports group articles by (what an article is about).
GroupBy = Literal["section", "author", "tag"]
#: Where an article's metadata came from: signed by ``widget.embed()``, or read from its page.
AboutSource = Literal["embed", "page"]

# Each enumeration is spelled once, above; these are its values in order.
VOTES: tuple[Vote, ...] = get_args(Vote)
EXPORT_KINDS: tuple[ExportKind, ...] = get_args(ExportKind)
EXPORT_FORMATS: tuple[ExportFormat, ...] = get_args(ExportFormat)
ORDERS: tuple[ArticleOrder, ...] = get_args(ArticleOrder)
REFUSAL_KINDS: tuple[RefusalKind, ...] = get_args(RefusalKind)
GROUP_BYS: tuple[GroupBy, ...] = get_args(GroupBy)

#: An article id is an opaque string of 1..256 characters without control characters.
ArticleId = str
#: A voter pseudonym: a keyed hash of the voter's random id. Never an address.
VoterKey = str

MAX_ARTICLE_ID = 256
MAX_TITLE = 300
MAX_VERSION = 64
MAX_REASON_TEXT = 500
#: Longest section, author or tag name kept (characters), and how many authors and tags.
MAX_LABEL = 200
MAX_AUTHORS = 20
MAX_TAGS = 50


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
class About:
    """What one article is about: its section, authors, tags and publication time.

    Names are plain text (escaped wherever shown); ``authors`` and ``tags`` keep the
    order they were given in, without repeats.
    """

    section: str | None = None
    authors: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    published_at: dt.datetime | None = None
    #: The page's own headline (schema.org ``headline``), when read from the page.
    headline: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.section or self.authors or self.tags or self.published_at or self.headline)


@dataclass(frozen=True, slots=True)
class AboutFilter:
    """Articles of one section, one author and one tag (each None: any)."""

    section: str | None = None
    author: str | None = None
    tag: str | None = None

    def __bool__(self) -> bool:
        return not (self.section is None and self.author is None and self.tag is None)


@dataclass(frozen=True, slots=True)
class Pruned:
    """What one retention sweep removed: history ``events`` deleted, per-day ``refusals`` rows
    deleted, and free ``reason_texts`` cleared from current votes (their reason codes stay)."""

    events: int = 0
    refusals: int = 0
    reason_texts: int = 0
