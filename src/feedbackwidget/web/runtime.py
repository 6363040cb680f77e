"""Everything one event loop needs to serve requests, opened and closed together."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import aiohttp
import jinja2
from starlette.requests import Request

from ..captcha import CaptchaVerifier, Provider
from ..config import Settings
from ..errors import StoreUnavailable
from ..sentiment import sentiment_object
from ..store import Store
from ..tokens import Tokens, VoterToken, pseudonym
from ..types import Tally, Vote
from .public import public_view
from .refusals import RefusalFlusher, Refusals

if TYPE_CHECKING:
    from .limiter import Limiter

log = logging.getLogger("feedbackwidget")

#: How stale an anonymous tally may be (the servers of one site may each hold one).
TALLY_TTL = 1.0
#: Cached (article, language) answers per event loop at most (about 1 KiB each with a
#: language bundle); the cache is emptied when full.
TALLY_CACHE_SIZE = 20_000

VOTER_COOKIE = "feedbackwidget_voter"
# The same token as a partitioned (CHIPS) cookie: the only kind a cross-site /embed iframe may
# keep when the browser blocks third-party cookies and storage. Needs a secure context.
VOTER_COOKIE_PARTITIONED = "feedbackwidget_voter_p"
VOTER_HEADER = "x-feedback-voter"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Runtime:
    """Settings plus the live resources (store, captcha client, limiter) of one event loop."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        tokens: Tokens,
        templates: jinja2.Environment,
        limiter: Limiter,
        *,
        http_session: aiohttp.ClientSession | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.store = store
        self.tokens = tokens
        self.templates = templates
        self.limiter = limiter
        self.clock = clock
        # Refused attempts are counted in memory and written as coalesced aggregates, so a
        # flood of refusals never becomes a flood of writes; each answer waits for its write.
        self.refusals = Refusals()
        self.refusal_flusher = RefusalFlusher(self.refusals, store.add_refusals)
        self.verifier = CaptchaVerifier(
            Provider(
                verify_url=settings.hcaptcha_verify_url,
                secret=settings.hcaptcha_secret,
                sitekey=settings.hcaptcha_sitekey,
                timeout=settings.hcaptcha_timeout,
                allowed_hostnames=settings.allowed_hostnames,
            ),
            session=http_session,
        )
        self._secret: bytes | None = None
        # Anonymous tallies, ready to send: article -> lang -> (expires, body, raw headers).
        self._tallies: dict[str, dict[str | None, tuple[float, bytes, tuple[tuple[bytes, bytes], ...]]]] = {}
        self._tally_count = 0
        #: Bumped on every local change of a tally; a read that overlapped one is not cached.
        self.changes = 0

    async def open(self) -> None:
        await self.store.open()
        try:
            self._secret = await self.store.secret()
            await self.verifier.open()
            await self.limiter.open()
        except BaseException:
            await self.store.close()
            raise

    async def close(self) -> None:
        await self.refusal_flusher.stop()  # writes what is left
        await self.limiter.close()
        await self.verifier.close()
        await self.store.close()

    def sentiment(self, tally: Tally, your_vote: Vote | None = None) -> dict[str, Any]:
        """The sentiment object, judged against this site's MIN_VOTES."""
        return sentiment_object(tally, your_vote, min_votes=self.settings.min_votes)

    @property
    def secret(self) -> bytes:
        if self._secret is None:
            raise StoreUnavailable("The vote store has not been opened.")
        return self._secret

    # -- request helpers ------------------------------------------------------

    def prefix(self, request: Request) -> str:
        """The prefix URLs emitted inside this request start with ('' at the root)."""
        return public_view(request, self.settings).prefix

    def reader(self, request: Request) -> VoterToken | None:
        """The reader's voter token: the first of header, cookie and partitioned cookie that
        verifies (a stale or foreign header must not hide a good cookie)."""
        for token in (
            request.headers.get(VOTER_HEADER),
            request.cookies.get(VOTER_COOKIE),
            request.cookies.get(VOTER_COOKIE_PARTITIONED),
        ):
            if token:
                reader = self.tokens.voter(token)
                if reader is not None:
                    return reader
        return None

    def voter_key(self, voter_id: str) -> str:
        return pseudonym(self.secret, voter_id)

    # -- anonymous tally cache ----------------------------------------------------

    def cached_tally(self, article_id: str, lang: str | None) -> tuple[bytes, tuple[tuple[bytes, bytes], ...]] | None:
        """An anonymous answer at most TALLY_TTL seconds old, or None."""
        entries = self._tallies.get(article_id)
        if entries is None:
            return None
        entry = entries.get(lang)
        if entry is None or entry[0] <= time.monotonic():
            return None
        return entry[1], entry[2]

    def remember_tally(
        self, article_id: str, lang: str | None, body: bytes, headers: tuple[tuple[bytes, bytes], ...], changes: int
    ) -> None:
        """Keep an anonymous answer, unless a local change happened since its read began
        (``changes`` is the value of :attr:`changes` before the read)."""
        if changes != self.changes:
            return
        if self._tally_count >= TALLY_CACHE_SIZE:
            self._tallies.clear()
            self._tally_count = 0
        entries = self._tallies.setdefault(article_id, {})
        if lang not in entries:
            self._tally_count += 1
        entries[lang] = (time.monotonic() + TALLY_TTL, body, headers)

    def forget(self, *article_ids: str) -> None:
        """Drop cached answers of articles this server just changed: here, a change is
        visible at once; other servers see it within TALLY_TTL."""
        self.changes += 1
        for article_id in article_ids:
            entries = self._tallies.pop(article_id, None)
            if entries is not None:
                self._tally_count -= len(entries)


def runtime_of(request: Request) -> Runtime:
    rt: Runtime = request.scope["feedbackwidget"]
    return rt
