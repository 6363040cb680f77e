"""One site's view of a store that holds several (:mod:`.site_keys`).

:class:`SiteStore` is a :class:`~feedbackwidget.store.base.Store` whose article ids are the
site's own: it turns each id into the store's key on the way in, strips the site from every
key on the way out, and asks every listing, export and rollup for this site's rows only. The
service, the dashboard and the exports work on it exactly as on a single-site store, so no
rule of a vote knows about sites. A server with one site uses its store directly.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Sequence
from typing import Any

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
from . import site_keys
from .base import LocalDay, Row, Store
from .outbox import Alerts, Delivery, OutboxMessage, OutboxStatus


class SiteStore:
    """The rows of site ``site`` of ``store`` (which stays open and closed by its owner)."""

    def __init__(self, store: Store, site: str) -> None:
        self.inner = store
        self.site = site

    # -- keys -----------------------------------------------------------------------------

    def key(self, article_id: ArticleId) -> str:
        return site_keys.key(self.site, article_id)

    def bare(self, stored: str) -> ArticleId:
        site, article_id = site_keys.split(stored)
        if site != self.site:  # a query that forgot its site: never hand another site's row out
            raise LookupError(f"a row of site {site!r} reached site {self.site!r}")
        return article_id

    def _own(self, site: str | None) -> str:
        """This view's site: a caller may name it, never another."""
        if site is not None and site != self.site:
            raise ValueError(f"site {self.site!r}'s store was asked for site {site!r}")
        return self.site

    def _rows(self, rows: Sequence[Row]) -> list[Row]:
        return [{**row, "article_id": self.bare(row["article_id"])} if "article_id" in row else row for row in rows]

    async def _batches(self, batches: AsyncIterator[Sequence[Row]]) -> AsyncIterator[Sequence[Row]]:
        async for batch in batches:
            yield self._rows(batch)

    def _tally(self, tally: Tally) -> Tally:
        return dataclasses.replace(tally, article_id=self.bare(tally.article_id))

    def _summary(self, summary: ArticleSummary) -> ArticleSummary:
        return dataclasses.replace(summary, article_id=self.bare(summary.article_id))

    # -- life and identity: the owner's ----------------------------------------------------

    async def open(self) -> None:
        """Nothing: the shared store is opened once by the runtime."""

    async def close(self) -> None:
        """Nothing: the shared store is closed once by the runtime."""

    async def ping(self) -> None:
        await self.inner.ping()

    async def secret(self) -> bytes:
        return await self.inner.secret()

    async def take(self, key: str, now: float | None, count: int, period: float) -> float:
        return await self.inner.take(key, now, count, period)

    # -- votes ----------------------------------------------------------------------------

    async def cast(self, cast: Cast, alerts: Alerts | None = None) -> CastResult:
        result = await self.inner.cast(dataclasses.replace(cast, article_id=self.key(cast.article_id)), alerts)
        return dataclasses.replace(result, tally=self._tally(result.tally))

    async def withdraw(self, article_id: ArticleId, voter: VoterKey, at: dt.datetime) -> Tally | None:
        tally = await self.inner.withdraw(self.key(article_id), voter, at)
        return None if tally is None else self._tally(tally)

    async def erase(self, voter: VoterKey, at: dt.datetime) -> list[ArticleId]:
        # Pseudonyms are per site (VoteService.voter_key), so only this site's votes match.
        return [self.bare(k) for k in await self.inner.erase(voter, at)]

    async def tally(self, article_id: ArticleId) -> Tally:
        return self._tally(await self.inner.tally(self.key(article_id)))

    async def vote_of(self, article_id: ArticleId, voter: VoterKey) -> Vote | None:
        return await self.inner.vote_of(self.key(article_id), voter)

    async def set_reason(
        self, article_id: ArticleId, voter: VoterKey, reason: str, text: str | None, at: dt.datetime
    ) -> bool:
        return await self.inner.set_reason(self.key(article_id), voter, reason, text, at)

    async def add_refusals(self, rows: Sequence[Row]) -> None:
        await self.inner.add_refusals([{**row, "article_id": self.key(row["article_id"])} for row in rows])

    # -- reads of one article ------------------------------------------------------------

    async def versions(self, article_id: ArticleId) -> list[Row]:
        return await self.inner.versions(self.key(article_id))

    async def article(self, article_id: ArticleId) -> ArticleSummary | None:
        found = await self.inner.article(self.key(article_id))
        return None if found is None else self._summary(found)

    async def reason_texts(self, article_id: ArticleId, limit: int) -> list[Row]:
        return await self.inner.reason_texts(self.key(article_id), limit)

    async def set_about(
        self, article_id: ArticleId, about: About | None, source: AboutSource, at: dt.datetime,
        url: str | None = None,
    ) -> bool:
        return await self.inner.set_about(self.key(article_id), about, source, at, url)

    async def about(self, article_id: ArticleId) -> About | None:
        return await self.inner.about(self.key(article_id))

    async def about_checked(self, article_id: ArticleId) -> dt.datetime | None:
        return await self.inner.about_checked(self.key(article_id))

    async def daily_of(
        self, article_ids: Sequence[ArticleId], start: dt.date, end: dt.date, size: int = 1
    ) -> list[Row]:
        return self._rows(await self.inner.daily_of([self.key(a) for a in article_ids], start, end, size))

    # -- reads of the site ----------------------------------------------------------------

    async def articles(
        self, order: ArticleOrder, limit: int, offset: int, after: ArticleId | None = None, *, site: str | None = None
    ) -> list[ArticleSummary]:
        found = await self.inner.articles(
            order, limit, offset, None if after is None else self.key(after), site=self._own(site))
        return [self._summary(s) for s in found]

    def export(
        self,
        kind: ExportKind,
        *,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        after: int | None = None,
        site: str | None = None,
    ) -> AsyncIterator[Sequence[Row]]:
        return self._batches(self.inner.export(kind, since=since, until=until, after=after, site=self._own(site)))

    def export_text(self, kind: ExportKind, fmt: ExportFormat, **_: Any) -> AsyncIterator[bytes] | None:
        """None: the database's own lines carry keys, not this site's ids, so rows are encoded."""
        return None

    async def daily(
        self, article_id: ArticleId | None, since: dt.datetime | None, until: dt.datetime | None,
        *, site: str | None = None,
    ) -> list[Row]:
        key = None if article_id is None else self.key(article_id)
        return self._rows(await self.inner.daily(key, since, until, site=self._own(site)))

    async def site_totals(self, *, site: str | None = None) -> Tally:
        return await self.inner.site_totals(site=self._own(site))

    async def sites(self) -> list[str]:
        return await self.inner.sites()

    async def site_daily(self, start: dt.date, end: dt.date, *, site: str | None = None) -> list[Row]:
        return await self.inner.site_daily(start, end, site=self._own(site))

    async def local_daily(
        self, days: Sequence[LocalDay], size: int, *, site: str | None = None
    ) -> AsyncIterator[Sequence[Row]]:
        async for batch in self.inner.local_daily(days, size, site=self._own(site)):
            yield self._rows(batch)

    async def counts_between(
        self, since: dt.datetime, until: dt.datetime, *, site: str | None = None
    ) -> list[Row]:
        return self._rows(await self.inner.counts_between(since, until, site=self._own(site)))

    async def reasons(
        self, article_id: ArticleId | None, since: dt.datetime | None, until: dt.datetime | None,
        *, site: str | None = None,
    ) -> list[Row]:
        key = None if article_id is None else self.key(article_id)
        return self._rows(await self.inner.reasons(key, since, until, site=self._own(site)))

    async def refusals(
        self, article_id: ArticleId | None, since: dt.datetime | None, until: dt.datetime | None,
        *, site: str | None = None,
    ) -> list[Row]:
        key = None if article_id is None else self.key(article_id)
        return self._rows(await self.inner.refusals(key, since, until, site=self._own(site)))

    async def groups(
        self, by: GroupBy, where: AboutFilter | None = None, limit: int = 100, *, site: str | None = None
    ) -> list[Row]:
        return await self.inner.groups(by, where, limit, site=self._own(site))

    async def group_daily(
        self, by: GroupBy, name: str, start: dt.date, end: dt.date, *, site: str | None = None
    ) -> list[Row]:
        return await self.inner.group_daily(by, name, start, end, site=self._own(site))

    async def groups_daily(
        self, by: GroupBy, names: Sequence[str], start: dt.date, end: dt.date, *, site: str | None = None
    ) -> list[Row]:
        return await self.inner.groups_daily(by, names, start, end, site=self._own(site))

    async def attention(
        self, min_votes: int, since: dt.datetime, *, below: float = 0.5, limit: int = 20,
        where: AboutFilter | None = None, site: str | None = None,
    ) -> list[Row]:
        return self._rows(await self.inner.attention(
            min_votes, since, below=below, limit=limit, where=where, site=self._own(site)))

    def export_articles(
        self, since: dt.datetime | None, until: dt.datetime | None, where: AboutFilter | None,
        *, site: str | None = None,
    ) -> AsyncIterator[Sequence[Row]]:
        return self._batches(self.inner.export_articles(since, until, where, site=self._own(site)))

    # -- the server's own: retention and the webhook outbox are not per site ---------------

    async def prune(self, **kwargs: Any) -> Pruned | None:
        return await self.inner.prune(**kwargs)

    async def enqueue(self, messages: Sequence[OutboxMessage]) -> int:
        return await self.inner.enqueue(messages)

    async def outbox_due(self) -> bool:
        return await self.inner.outbox_due()

    async def claim(self, owner: str, limit: int, lease: float) -> list[Delivery]:
        return await self.inner.claim(owner, limit, lease)

    async def settle(self, *args: Any, **kwargs: Any) -> Any:
        return await self.inner.settle(*args, **kwargs)

    async def outbox_status(self, limit: int) -> OutboxStatus:
        return await self.inner.outbox_status(limit)


__all__ = ["SiteStore"]
