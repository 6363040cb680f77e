"""The store interface every backend implements.

A store keeps facts, not rules: the web layer decides *whether* a vote may be
cast; the store applies it atomically (current vote + event + counters in one
transaction) and answers questions about what is stored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ..types import (
    About,
    AboutFilter,
    AboutSource,
    ArticleId,
    ArticleOrder,
    ArticleSummary,
    Cast,
    CastResult,
    ExportFormat,
    ExportKind,
    GroupBy,
    Pruned,
    Tally,
    Vote,
    VoterKey,
)
from .outbox import Alerts, Outbox

#: One exported row: column name -> value (str, int, float, datetime, date or None).
Row = dict[str, Any]

EXPORT_COLUMNS: dict[str, tuple[str, ...]] = {
    "votes": ("article_id", "vote", "voter", "created_at", "updated_at", "article_version"),
    "events": ("event_id", "at", "article_id", "voter", "action", "vote", "article_version"),
    "articles": (
        "article_id", "title", "up", "down", "total", "share_up", "wilson_lower", "first_vote_at", "last_vote_at",
        # What the article is about (after the contract's columns): names as lists, a time.
        "section", "authors", "tags", "published_at",
    ),
    "daily": ("day", "article_id", "up", "down"),
    # Not in the contract's list: reasons given after a "No" (off unless REASONS is set).
    "reasons": ("article_id", "voter", "reason", "reason_text", "updated_at", "article_version"),
}


#: The kinds a store may encode itself (:class:`TextExport`): the long ones, one row per vote or event.
TEXT_KINDS: tuple[str, ...] = ("votes", "events", "reasons")
#: What their columns hold besides text: times, integers, and words that CHECK constraints
#: keep to a few lowercase letters (nothing to quote, escape or neutralise).
TIME_COLUMNS = frozenset({"created_at", "updated_at", "at"})
INTEGER_COLUMNS = frozenset({"event_id"})
WORD_COLUMNS = frozenset({"vote", "action"})


@dataclass(frozen=True, slots=True)
class LocalDay:
    """One local day of a ``tz=`` daily export (or the part of it in the range) as UTC times:
    its whole hours ``[first, last)`` (aligned; ``first == last``: none), read from the hour
    rollup, and the parts of hours at its ends ``parts`` (each a non-empty ``(since, until)``),
    read from the events. Built by ``rollups.local_day_ranges``; ``votes`` (0: unknown) is the
    site's votes on the UTC days it touches, an upper bound of its rows, which sizes the store's
    queries (``local_sql.chunks``)."""

    day: dt.date
    first: dt.datetime
    last: dt.datetime
    parts: tuple[tuple[dt.datetime, dt.datetime], ...] = ()
    votes: int = 0


@runtime_checkable
class TextExport(Protocol):
    """Optional: a store that writes export lines itself, in the database, rather than as rows.

    ``export_text`` returns the CSV (without its header row) or NDJSON bytes of
    what :meth:`Store.export` would give for the same arguments, one chunk per
    batch, byte for byte what ``export.stream`` makes of those rows; or None
    when it cannot promise that for this kind and format (the caller then
    encodes rows). Only :data:`TEXT_KINDS` are ever asked for.
    """

    def export_text(
        self,
        kind: ExportKind,
        fmt: ExportFormat,
        *,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        after: int | None = None,
        site: str | None = None,
    ) -> AsyncIterator[bytes] | None: ...


@runtime_checkable
class LocalDailyText(Protocol):
    """Optional: a store that writes the lines of a ``tz=`` daily export itself, in the database.

    ``local_daily_text`` returns the CSV (without its header row) or NDJSON bytes of what
    :meth:`Store.local_daily` gives for the same days (site None), one chunk per batch, byte for
    byte what ``export.encode_daily`` makes of those rows; or None when it cannot promise that.
    """

    def local_daily_text(
        self, days: Sequence[LocalDay], fmt: ExportFormat, size: int
    ) -> AsyncIterator[bytes] | None: ...


class RateTaker(Protocol):
    """Anything that keeps GCRA rate-limit state: a store, or Redis (see :meth:`Store.take`)."""

    async def take(self, key: str, now: float | None, count: int, period: float) -> float: ...


def gcra_start(tat: float | None, now: float, period: float) -> float:
    """Where the next GCRA emission starts: the stored theoretical arrival time ``tat``, or
    ``now`` when there is none or it has passed (the generic cell rate algorithm, ITU-T I.371).

    One addition for clocks that disagree: no process can have stored a ``tat`` more than
    ``period`` ahead of its own clock, so one further ahead of *this* clock was written by a
    process whose clock runs ahead, and is read as absent — otherwise this server would refuse
    the address for as long as the clocks are apart (minutes), not for the limit's own wait.
    PostgreSQL and Redis keep the time themselves (``now=None``), so there it only matters to
    callers that pass their own ``now``; SQLite's processes share their host's clock. Every
    backend applies this same rule (SQLite and PostgreSQL in SQL, Redis in Lua).
    """
    if tat is None or tat < now or tat > now + period:
        return now
    return tat


class Store(Outbox, Protocol):
    """Asynchronous storage of votes, their history and per-article counters, and the
    webhook outbox (:class:`~feedbackwidget.store.outbox.Outbox`).

    One store holds every site's articles, each under its key (store/site_keys.py): article
    ids here are those keys. The reads that answer for many articles take ``site``: None
    for every site (the sum over sites where they sum), or a site id for that site's keys only.

    Every method raises :class:`~feedbackwidget.errors.StoreUnavailable` when the
    database does not answer; a write that raises has changed nothing.
    """

    async def open(self) -> None:
        """Connect and migrate to the newest schema (refusing a newer one)."""

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the database answers now."""

    async def secret(self) -> bytes:
        """A random per-installation key, created once, used for pseudonyms."""

    async def cast(self, cast: Cast, alerts: Alerts | None = None) -> CastResult:
        """Put the reader's vote; a repeat is a no-op (``changed=False``). The messages
        ``alerts`` returns for the result are written in the same transaction."""

    async def withdraw(self, article_id: ArticleId, voter: VoterKey, at: dt.datetime) -> Tally | None:
        """Remove the reader's vote; None when there was none (nothing changes)."""

    async def erase(self, voter: VoterKey, at: dt.datetime) -> list[ArticleId]:
        """Remove all of a reader's votes; returns the articles touched."""

    async def tally(self, article_id: ArticleId) -> Tally: ...

    async def vote_of(self, article_id: ArticleId, voter: VoterKey) -> Vote | None: ...

    async def articles(
        self, order: ArticleOrder, limit: int, offset: int, after: ArticleId | None = None, *,
        site: str | None = None,
    ) -> list[ArticleSummary]:
        """One page of articles in ``order``, served by an index: ``offset`` rows skipped, or (keyset)
        starting just after article ``after``'s place in that order (none when it is unknown).
        A site other than the default one has indexes of its own (store/site_sql.py)."""

    def export(
        self,
        kind: ExportKind,
        *,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        after: int | None = None,
        site: str | None = None,
    ) -> AsyncIterator[Sequence[Row]]:
        """Batches of rows, streamed with flat memory; see EXPORT_COLUMNS.

        For ``articles`` the store yields ``article_id, title, up, down,
        first_vote_at, last_vote_at``; ``export.complete`` derives the rest.
        ``since``/``until`` filter by time (inclusive/exclusive): ``updated_at``
        for votes, ``at`` for events, ``last_vote_at`` for articles, the day for
        daily. ``after`` applies to events only.
        """
        ...

    async def daily(
        self, article_id: ArticleId | None, since: dt.datetime | None, until: dt.datetime | None, *,
        site: str | None = None,
    ) -> list[Row]:
        """Rows ``day, article_id, up, down`` (UTC days): votes cast or changed to each value that
        day, counted from events at ``since <= at < until``. Whole days come from the rollups; a
        day the range covers only in part, from its events (store/rollups.py)."""

    # -- rollups: what pages read instead of the event history (store/*rollups.py) --------

    async def site_totals(self, *, site: str | None = None) -> Tally:
        """The site's current up and down votes (``article_id`` ""): the Bayesian prior's input.
        Kept per site with the data; ``site=None`` sums every site."""

    async def sites(self) -> list[str]:
        """The ids of the sites whose articles the store counts votes of (one row of the
        site-wide totals each, ``default`` for bare keys), sorted."""

    async def site_daily(self, start: dt.date, end: dt.date, *, site: str | None = None) -> list[Row]:
        """Rows ``day, up, down`` for UTC days ``start <= day < end`` with any vote, all the site's
        articles summed (kept per site with the data; ``site=None``: every site's)."""

    async def daily_of(
        self, article_ids: Sequence[ArticleId], start: dt.date, end: dt.date, size: int = 1
    ) -> list[Row]:
        """Rows ``day, article_id, up, down`` of these articles for UTC days ``start <= day < end``,
        ordered by day then article id (days without votes have no row). With ``size`` > 1 each
        row sums ``size`` consecutive days from ``start`` on, and ``day`` is the first of them
        (a sparkline of two years needs ~100 points, not 730)."""

    async def counts_between(self, since: dt.datetime, until: dt.datetime, *, site: str | None = None) -> list[Row]:
        """Rows ``article_id, up, down``: votes cast or changed to each value at ``since <= at < until``
        (one local day of a ``tz=`` export), by article id, articles with none left out: whole UTC
        hours from the hour rollup, the partial hours at either end from their events."""

    def local_daily(
        self, days: Sequence[LocalDay], size: int, *, site: str | None = None
    ) -> AsyncIterator[Sequence[Row]]:
        """Rows ``day, article_id, up, down`` for each of ``days`` (in order, none overlapping): votes
        cast or changed to each value in its hours, ordered by day then article id, articles with none
        left out, in batches of about ``size`` rows; one snapshot, memory bounded by a batch (and the
        database's sort of a few weeks), however long the range. What a ``tz=`` daily export reads."""
        ...

    async def versions(self, article_id: ArticleId) -> list[Row]:
        """Current votes of one article split by revision: ``article_version, up, down``."""

    async def article(self, article_id: ArticleId) -> ArticleSummary | None:
        """One article's title, counts and first/last vote; None when it has none."""

    async def set_reason(
        self, article_id: ArticleId, voter: VoterKey, reason: str, text: str | None, at: dt.datetime
    ) -> bool:
        """Attach a reason to the reader's current "down" vote; False when there is none.
        A vote changed to "up" loses its reason."""

    async def reasons(
        self, article_id: ArticleId | None, since: dt.datetime | None, until: dt.datetime | None, *,
        site: str | None = None,
    ) -> list[Row]:
        """Rows ``article_id, reason, count`` over current votes (``updated_at`` in range)."""

    async def reason_texts(self, article_id: ArticleId, limit: int) -> list[Row]:
        """Rows ``updated_at, reason, reason_text``, newest first, non-empty texts only."""

    async def add_refusals(self, rows: Sequence[Row]) -> None:
        """Add aggregated refusal counts (rows ``day, article_id, kind, count``) in one transaction.
        Counts for an article without any vote ever go to its site's own key (``site_keys.key(site, "")``:
        ``""`` for the default site)."""

    async def refusals(
        self, article_id: ArticleId | None, since: dt.datetime | None, until: dt.datetime | None, *,
        site: str | None = None,
    ) -> list[Row]:
        """Rows ``day, article_id, kind, count`` ordered by day, article_id, kind."""

    async def take(self, key: str, now: float | None, count: int, period: float) -> float:
        """Rate limit (GCRA, see :func:`gcra_start`): record one attempt for ``key``.

        Returns 0.0 when allowed, else the seconds to wait. State is shared by
        every process using the same database. ``key`` is already a keyed hash.
        ``now`` (seconds since the epoch) is for tests; None means the clock of
        whoever keeps the state — PostgreSQL's for the PostgreSQL store, so app
        servers whose clocks disagree still share one limit; the host's for
        SQLite, whose processes all run on the host that holds the file.
        """

    # -- what each article is about (store/about_sql.py and the two backends' *_about.py) ------

    async def set_about(
        self, article_id: ArticleId, about: About | None, source: AboutSource, at: dt.datetime,
        url: str | None = None,
    ) -> bool:
        """Record what ``article_id`` is about, as ``source`` says (``embed``: signed by
        ``widget.embed()``; ``page``: read from ``url``). A page never replaces signed values;
        ``about`` None (the page said nothing usable) only records that the page was read.
        A headline fills an empty title. True when the article's metadata changed."""

    async def about(self, article_id: ArticleId) -> About | None:
        """What the article is about, or None when nothing is known."""

    async def about_checked(self, article_id: ArticleId) -> dt.datetime | None:
        """When the article's page was last read (by any server), or None."""

    async def groups(
        self, by: GroupBy, where: AboutFilter | None = None, limit: int = 100, *, site: str | None = None
    ) -> list[Row]:
        """Rows ``name, articles, up, down, last_vote_at`` per section, author or tag of the
        articles ``where`` selects (current votes), most votes first, at most ``limit``."""

    async def group_daily(
        self, by: GroupBy, name: str, start: dt.date, end: dt.date, *, site: str | None = None
    ) -> list[Row]:
        """Rows ``day, up, down`` of one group's articles for UTC days ``start <= day < end``
        (votes cast or changed to each value that day; days without votes have no row)."""

    async def groups_daily(
        self, by: GroupBy, names: Sequence[str], start: dt.date, end: dt.date, *, site: str | None = None
    ) -> list[Row]:
        """Rows ``name, day, up, down`` of several groups at once (see :meth:`group_daily`), by name
        then day: one pass over the range's history, for the dashboard's sparklines."""

    async def attention(
        self, min_votes: int, since: dt.datetime, *, below: float = 0.5, limit: int = 20,
        where: AboutFilter | None = None, site: str | None = None,
    ) -> list[Row]:
        """Articles that need attention: at least ``min_votes`` votes, voted on or published since
        ``since``, a 95% Wilson upper bound of the share of "Yes" under ``below``; rows
        ``article_id, title, up, down, first_vote_at, last_vote_at, section, published_at``,
        lowest upper bound first."""

    def export_articles(
        self, since: dt.datetime | None, until: dt.datetime | None, where: AboutFilter | None, *,
        site: str | None = None,
    ) -> AsyncIterator[Sequence[Row]]:
        """The ``articles`` export's rows with ``section, published_at, authors, tags`` (tuples),
        filtered like :meth:`export` and by ``where``; by article id."""
        ...
    async def prune(
        self,
        *,
        events_before: dt.datetime | None,
        refusals_before: dt.date | None,
        reason_texts_before: dt.datetime | None,
        now: dt.datetime,
        every: float = 0.0,
    ) -> Pruned | None:
        """Remove what a retention policy no longer keeps (None for a kind it keeps for ever):
        history events older than ``events_before`` — always a first run of event ids, never
        an event at or after the cut-off —, per-day refusal rows of days before
        ``refusals_before``, and the free text of reasons on votes last changed before
        ``reason_texts_before``. Current votes and counters are never touched.

        One sweep per ``every`` seconds for all processes on the database: a sweep first
        claims the turn (the time of the last sweep, kept in the store, under a lock no two
        processes hold at once) and returns None, removing nothing, when another process
        swept less than ``every`` seconds before ``now`` or is claiming right now. Deletions
        run in short transactions of a bounded number of rows, so votes keep flowing.
        """
