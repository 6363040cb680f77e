"""What each article is about, kept up to date in the background.

Two sources, both trusted like a signed title:

* ``widget.embed(..., section=, authors=, tags=, published_at=)`` signs them into the
  markup; a vote carrying that signature hands them here (:meth:`AboutKeeper.signed`);
* the article page's own schema.org ``NewsArticle`` JSON-LD (:mod:`.jsonld`), read by
  the server from the page a vote names (``url``), under :mod:`.page_fetch`'s rules,
  at most once per article per ``interval`` (across servers: the store keeps when
  each page was last read).

Signed values win: a page read never replaces them. Nothing here is on a vote's
path: the vote hands over a job and goes on; one task per event loop does the work
from a bounded queue, and a job that finds the queue full is dropped (the next
vote on that article offers it again).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import validate
from .config import Settings
from .errors import FeedbackError, InvalidRequest
from .jsonld import read_page
from .page_fetch import FetchRefused, PageFetcher
from .store import Store
from .types import About, ArticleId

log = logging.getLogger("feedbackwidget")

#: Jobs waiting at most, and articles remembered (to skip repeats without asking the store).
QUEUE_SIZE = 256
_REMEMBERED = 10_000


def about_from_signed(payload: Mapping[str, Any] | None) -> About | None:
    """The :class:`About` a ``widget.embed()`` signature carries (None when it carries none)."""
    if not payload:
        return None
    try:
        published = payload.get("p")
        return About(
            section=validate.section(payload.get("s")),
            authors=validate.authors(payload.get("a")),
            tags=validate.tags(payload.get("t")),
            published_at=validate.published_at(published) if published else None,
        )
    except InvalidRequest:
        return None


def about_to_signed(about: About) -> dict[str, Any]:
    """The compact dict ``widget.embed()`` signs (short keys: the signature travels in markup)."""
    payload: dict[str, Any] = {}
    if about.section:
        payload["s"] = about.section
    if about.authors:
        payload["a"] = list(about.authors)
    if about.tags:
        payload["t"] = list(about.tags)
    if about.published_at:
        payload["p"] = about.published_at.isoformat()
    return payload


@dataclass(frozen=True, slots=True)
class _Job:
    article_id: ArticleId
    signed: About | None = None
    url: str | None = None


class AboutKeeper:
    """Takes what votes say about their articles and stores it, in one background task."""

    def __init__(
        self,
        store: Store,
        fetcher: PageFetcher | None,
        *,
        interval: float,
        clock: Callable[[], dt.datetime],
        queue_size: int = QUEUE_SIZE,
        own_pages: str | None = None,
    ) -> None:
        self.store = store
        #: Where this widget's own /embed pages live (a vote from an iframe names one): never read.
        self.own_pages = own_pages
        self.fetcher = fetcher
        self.interval = interval
        self.clock = clock
        self.dropped = 0
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(queue_size)
        self._signed: collections.OrderedDict[ArticleId, About] = collections.OrderedDict()
        self._tried: collections.OrderedDict[ArticleId, float] = collections.OrderedDict()
        self._task: asyncio.Task[None] | None = None

    # -- from the vote's path: never waits ------------------------------------------

    def noticed(self, article_id: ArticleId, signed: About | None, url: str | None) -> None:
        """A vote on ``article_id`` was counted, with these signed metadata and page address."""
        if signed is not None:
            if self._signed.get(article_id) != signed:
                self._offer(_Job(article_id, signed=signed))
            return
        if url is None or self.fetcher is None or not self.fetcher.may_fetch(url):
            return
        if self.own_pages and url.startswith(self.own_pages):
            return
        tried = self._tried.get(article_id)
        if tried is not None and time.monotonic() - tried < self.interval:
            return
        self._remember(self._tried, article_id, time.monotonic())
        self._offer(_Job(article_id, url=url))

    def _offer(self, job: _Job) -> None:
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            self.dropped += 1
            if job.url is not None:
                self._tried.pop(job.article_id, None)  # not tried after all: the next vote offers it again

    @staticmethod
    def _remember(memory: collections.OrderedDict[ArticleId, Any], key: ArticleId, value: Any) -> None:
        memory[key] = value
        memory.move_to_end(key)
        while len(memory) > _REMEMBERED:
            memory.popitem(last=False)

    # -- the background task ------------------------------------------------------------

    async def start(self) -> None:
        if self.fetcher is not None:
            await self.fetcher.open()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="feedbackwidget-about")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.fetcher is not None:
            await self.fetcher.close()

    async def _run(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                await self._do(job)
            except FeedbackError as error:  # the store is down: this job is lost, the next vote offers it again
                log.warning("could not store what article metadata said: %s", error.detail)
            except Exception:
                log.exception("article metadata: unexpected failure")
            finally:
                self._queue.task_done()

    async def _do(self, job: _Job) -> None:
        if job.signed is not None:
            await self.store.set_about(job.article_id, job.signed, "embed", self.clock())
            self._remember(self._signed, job.article_id, job.signed)
            return
        assert job.url is not None and self.fetcher is not None
        checked = await self.store.about_checked(job.article_id)
        now = self.clock()
        if checked is not None and (now - checked).total_seconds() < self.interval:
            return  # another server (or this one, before a restart) read it lately
        about = await self.read(job.article_id, job.url)
        await self.store.set_about(job.article_id, about, "page", now, url=job.url)

    async def read(self, article_id: ArticleId, url: str) -> About | None:
        """What the page at ``url`` says ``article_id`` is about (None: refused, unreadable, silent)."""
        assert self.fetcher is not None
        try:
            html = await self.fetcher.fetch(url)
        except FetchRefused as why:
            log.info("article metadata: did not read %s: %s", url, why)
            return None
        # Parsing a page of up to a few MB in pure Python takes a while: not on the event loop.
        return await asyncio.to_thread(read_page, html, article_id, url)

    async def idle(self) -> None:
        """Wait until every job handed over so far is done (for shutdown and tests)."""
        await self._queue.join()


def fetch_origins(settings: Settings) -> tuple[str, ...]:
    """The origins whose pages may be read: the allowed origins (exact ones: not ``*`` nor a
    wildcard) and ``PUBLIC_URL``'s origin."""
    found = [o for o in settings.allowed_origins if "*" not in o]
    if settings.public.origin:
        found.append(settings.public.origin)
    return tuple(dict.fromkeys(found))


def keeper_for(settings: Settings, store: Store, clock: Callable[[], dt.datetime]) -> AboutKeeper:
    """The keeper a widget runs: reading pages only when METADATA_FETCH is on and some origin may be read."""
    origins = fetch_origins(settings)
    fetcher = None
    if settings.metadata_fetch and origins:
        fetcher = PageFetcher(
            origins,
            private_networks=settings.metadata_private_networks,
            timeout=settings.metadata_timeout,
            max_bytes=settings.metadata_max_bytes,
        )
    own = f"{settings.public.origin}{settings.public.prefix}/embed/" if settings.public.origin else None
    return AboutKeeper(store, fetcher, interval=settings.metadata_interval, clock=clock, own_pages=own)
