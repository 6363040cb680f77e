"""What a vote, a withdrawal, an erasure, a reason, a tally and a dashboard sign-in *are*.

Every rule of a vote lives here, in the order a vote meets them: the caller's
origin, the body, the rate limit, the captcha, the reader's identity, the
store, the tally cache, refusal counting. The service takes plain values — a
:class:`Caller` the HTTP boundary builds once per request, validated fields —
and returns typed results; it never sees a request, and its errors carry no
HTTP status (``web/errors.py`` maps them). Changing data and the bookkeeping
that follows (dropping cached tallies, counting refusals) happen together in
the operations below, never by hand in a handler.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import export, logs, validate
from .captcha import CaptchaVerifier
from .config import Settings
from .errors import FeedbackError, ForbiddenOrigin, InvalidRequest, NotFound, Unauthorized
from .limiter import Limiter
from .metadata import AboutKeeper, about_from_signed
from .metrics import OFF, Metrics, export_records
from .refusals import KINDS as REFUSAL_KINDS
from .refusals import RefusalFlusher, Refusals
from .sentiment import sentiment_object
from .store import Store
from .store.site_keys import DEFAULT as DEFAULT_SITE
from .store.site_keys import SEP
from .store.site_keys import key as site_key
from .tally_cache import TallyCache
from .tokens import Tokens, VoterToken, client_key, pseudonym, same_secret
from .types import ArticleId, Cast, Tally, Vote
from .webhooks import Worker

#: Dashboard sign-in attempts allowed per client address (IPv6 by /64): count, period in seconds.
SIGN_IN_LIMIT = (10, 60.0)

Fields = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking, as the HTTP boundary found out once per request."""

    #: The request's ``Origin`` is absent, ours or allowed (False: refused before anything else).
    origin_allowed: bool
    #: The reader's voter token, verified; None for a first-time or unknown reader.
    reader: VoterToken | None
    #: The client address as the HTTP server reports it (for the rate limit and siteverify).
    address: str | None


@dataclass(frozen=True, slots=True)
class Voted:
    """A counted vote: what the reader now holds and what the article's tally became."""

    article_id: ArticleId
    vote: Vote
    changed: bool
    #: The voter token the reader keeps from now on (new, re-issued or theirs).
    token: str
    tally: Tally
    return_to: str | None
    #: ``cast`` (a first vote), ``changed`` (a change of mind) or ``unchanged`` (the same vote again).
    outcome: str = "cast"


class VoteService:
    """The operations on votes. Built by the runtime of one event loop; see module docstring."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        tokens: Tokens,
        verifier: CaptchaVerifier,
        limiter: Limiter,
        *,
        clock: Callable[[], dt.datetime],
        secret: Callable[[], bytes],
        webhooks: Worker | None = None,
        about: AboutKeeper | None = None,
        metrics: Metrics = OFF,
        site: str = DEFAULT_SITE,
        dashboard_tokens: tuple[str, ...] | None = None,
        stamp_site: bool = False,
        other_sites: tuple[str, ...] = (),
    ) -> None:
        self.settings = settings
        #: The site this service serves (store keys and pseudonyms are per site).
        self.site = site
        #: The server's other sites (markup signed for one of them is refused here).
        self.other_sites = other_sites
        #: Exports carry a ``site`` column (a server with several sites).
        self.stamp_site = stamp_site
        #: Bearer tokens that open this site's dashboard and exports (default: EXPORT_TOKEN).
        self.dashboard_tokens: tuple[str, ...] = (
            dashboard_tokens if dashboard_tokens is not None
            else (settings.export_token,) if settings.export_token else ()
        )
        self.webhooks = webhooks
        #: Takes what votes say about their articles (signed metadata, the page's address).
        self.about = about
        self.store = store
        self.tokens = tokens
        self.verifier = verifier
        self.limiter = limiter
        self.clock = clock
        self._secret = secret
        self.metrics = metrics
        self.refusals = RefusalFlusher(Refusals(), lambda rows: metrics.store("add_refusals", store.add_refusals(rows)))
        self.tallies = TallyCache(metrics=metrics)

    # -- who is asking --------------------------------------------------------------

    def reader(self, *tokens: str | None) -> VoterToken | None:
        """The first of ``tokens`` that verifies (a stale or foreign one must not hide a good one)."""
        for token in tokens:
            if token:
                reader = self.tokens.voter(token)
                if reader is not None:
                    return reader
        return None

    def voter_key(self, reader: VoterToken) -> str:
        """The reader as the store knows them: a pseudonym no token reveals, and one per site, so
        that one reader's votes on two sites of a server cannot be linked in the store or exports."""
        voter_id = reader.voter_id if self.site == DEFAULT_SITE else f"{self.site}{SEP}{reader.voter_id}"
        return pseudonym(self._secret(), voter_id)

    def client_key(self, address: str | None) -> str:
        return client_key(self._secret(), address)

    def sentiment(self, tally: Tally, mine: Vote | None = None) -> dict[str, Any]:
        """The contract's sentiment object, judged against this site's MIN_VOTES."""
        return sentiment_object(tally, mine, min_votes=self.settings.min_votes)

    # -- votes ----------------------------------------------------------------------

    async def cast(self, caller: Caller, read: Callable[[], Awaitable[Fields]]) -> Voted:
        """Cast or change the reader's vote. ``read`` gives the request's fields, and is called
        only once the caller's origin is known to be allowed (a refused origin's body is never read).

        Order: origin → fields → rate limit → captcha → store → tally cache. A refusal of one
        of :data:`~feedbackwidget.refusals.KINDS` is counted (and written) before it is raised.
        Every attempt's outcome is recorded in the metrics (``cast``, ``changed``, ``unchanged``
        or the error code).
        """
        fields: Fields = {}
        try:
            if not caller.origin_allowed:
                raise ForbiddenOrigin()
            fields = await read()
            voted = await self._cast(caller, fields)
        except FeedbackError as error:
            article = _article_or_none(fields)
            self.metrics.vote(error.code)
            logs.event("vote", article, error.code)
            if error.code in REFUSAL_KINDS:
                self.metrics.refusal(error.code)
                await self.refusals.written(self.refusals.count(article, error.code))
            raise
        self.metrics.vote(voted.outcome)
        logs.event("vote", voted.article_id, voted.outcome)
        return voted

    async def _cast(self, caller: Caller, fields: Fields) -> Voted:
        article_id = validate.article_id(fields.get("article_id"))
        vote = validate.vote(fields.get("vote"))
        title, version = validate.title(fields.get("title")), validate.version(fields.get("version"))
        signed, return_to = validate.signed(fields.get("signed")), validate.return_to(fields.get("return_to"))
        page_url = validate.page_url(fields.get("url"))
        captcha_token = validate.captcha_token(fields.get("captcha_token"))
        # Verified once, used twice. Signed for the article's store key, so markup signed for an
        # article of one site vouches for nothing on another — and is refused there, as the site
        # the server decided and the site the markup was signed for must agree.
        vouched = self.tokens.embed_payload(signed, site_key(self.site, article_id))
        if vouched is None and signed is not None and any(
            self.tokens.embed_payload(signed, site_key(other, article_id)) is not None for other in self.other_sites
        ):
            raise ForbiddenOrigin("This markup was signed for another site of this server.")
        await self.limiter.check(self.client_key(caller.address))
        await self.verifier.verify(captcha_token, caller.address)
        reader = caller.reader
        if reader is None:
            token, voter_id = self.tokens.new_voter()
            reader = VoterToken(voter_id, None, token)
        if vouched is not None:
            title, version = vouched[1], vouched[2]
        at = self.clock()
        # Webhook messages the vote causes are written in the vote's own transaction.
        alerts = self.webhooks.alerts(at) if self.webhooks is not None else None
        result = await self.metrics.store("cast", self.store.cast(
            Cast(
                article_id=article_id,
                voter=self.voter_key(reader),
                vote=vote,
                at=at,
                version=version,
                title=title,
                title_trusted=vouched is not None and title is not None,
            ),
            alerts,
        ))
        if alerts is not None and alerts.produced:
            alerts.wake()
        self.tallies.forget(article_id)
        if self.about is not None:  # hands over and goes on: the work is done in the background
            signed_about = about_from_signed(vouched[3]) if vouched is not None and len(vouched) == 4 else None
            self.about.noticed(article_id, signed_about, page_url)
        outcome = "unchanged" if not result.changed else "cast" if result.previous is None else "changed"
        return Voted(article_id, vote, result.changed, reader.current, result.tally, return_to, outcome)

    async def withdraw(self, caller: Caller, article_id: str) -> Tally:
        """Remove the reader's vote on ``article_id``; NotFound when they have none."""
        try:
            voter = self._voter(caller)
            aid = validate.article_id(article_id)
            tally = await self.metrics.store("withdraw", self.store.withdraw(aid, voter, self.clock()))
            self.tallies.forget(article_id)
            if tally is None:
                raise NotFound("You have no vote on this article.")
        except FeedbackError as error:
            self.metrics.withdrawal("withdraw", error.code)
            logs.event("withdraw", article_id, error.code)
            raise
        self.metrics.withdrawal("withdraw", "ok")
        logs.event("withdraw", article_id, "ok")
        return tally

    async def erase(self, caller: Caller) -> list[ArticleId]:
        """Remove every vote of the reader; the articles whose tallies moved."""
        try:
            articles = await self.metrics.store("erase", self.store.erase(self._voter(caller), self.clock()))
        except FeedbackError as error:
            self.metrics.withdrawal("erase", error.code)
            logs.event("erase", None, error.code)
            raise
        self.tallies.forget(*articles)
        self.metrics.withdrawal("erase", "ok")
        logs.event("erase", None, "ok")
        return articles

    async def give_reason(self, caller: Caller, read: Callable[[], Awaitable[Fields]]) -> tuple[str, str, str | None]:
        """Attach a reason (and free text) to the reader's current "No": (article, reason, text).
        ``read`` gives the request's fields once the caller is known to be the vote's owner."""
        voter = self._voter(caller)
        fields = await read()
        article_id = validate.article_id(fields.get("article_id"))
        reason = validate.reason(fields.get("reason"), self.settings.reasons)
        text = validate.reason_text(fields.get("text"), self.settings.reason_text)
        stored = self.store.set_reason(article_id, voter, reason, text, self.clock())
        if not await self.metrics.store("set_reason", stored):
            raise NotFound('You have no "No" vote on this article to give a reason for.')
        return article_id, reason, text

    def _voter(self, caller: Caller) -> str:
        if not caller.origin_allowed:
            raise ForbiddenOrigin()
        if caller.reader is None:
            raise Unauthorized("This needs your voter token (the X-Feedback-Voter header or the cookie).")
        return self.voter_key(caller.reader)

    # -- reads ----------------------------------------------------------------------

    async def tally(self, article_id: str) -> Tally:
        return await self.metrics.store("tally", self.store.tally(validate.article_id(article_id)))

    async def own_vote(self, article_id: str, reader: VoterToken | None) -> Vote | None:
        """The reader's own vote on ``article_id`` (None for no reader or no vote)."""
        if reader is None:
            return None
        return await self.metrics.store("vote_of", self.store.vote_of(article_id, self.voter_key(reader)))

    def export_query(self, query: export.ExportQuery) -> export.ExportQuery:
        """``query`` as this site exports it: with a ``site`` column when the server has several."""
        return dataclasses.replace(query, site=self.site) if self.stamp_site else query

    async def export(self, query: export.ExportQuery) -> AsyncIterator[bytes]:
        """The bytes of an export (:func:`feedbackwidget.export.encoded`), its rows counted in the
        metrics as they go out."""
        query = self.export_query(query)
        self.metrics.export(query.kind, query.format)
        header = 1 if query.format == "csv" else 0  # the CSV header line is no row
        async for chunk in export.encoded(self.store, query):
            if self.metrics.enabled:
                self.metrics.export_rows(query.kind, query.format, export_records(query.format, chunk) - header)
                header = 0
            yield chunk

    # -- the dashboard ----------------------------------------------------------------

    async def sign_in(self, address: str | None, token: str | None) -> str:
        """A dashboard session for the export token; rate limited per address like votes are
        (same address grouping, same limiter: Redis when configured)."""
        if not self.dashboard_tokens:
            raise Unauthorized("The dashboard is disabled: no export token is configured.")
        count, period = SIGN_IN_LIMIT
        await self.limiter.check("sign-in:" + self.client_key(address), count, period)
        for expected in self.dashboard_tokens:
            if same_secret(token, expected):
                return self.tokens.new_session(expected)
        raise Unauthorized("That token is not right.")

    def authorised(
        self, bearer: str | None, session: str | None, tokens: tuple[str, ...] | None = None
    ) -> str | None:
        """The dashboard session's nonce (or ``"bearer"``) when a bearer token or the session
        cookie opens this site's dashboard and exports; None otherwise (and always None when
        the site has no token). ``tokens``: these instead of the site's. Compared in constant time."""
        for expected in self.dashboard_tokens if tokens is None else tokens:
            if bearer is not None:
                if same_secret(bearer, expected):
                    return "bearer"
            else:
                nonce = self.tokens.session(session, expected)
                if nonce is not None:
                    return nonce
        return None

    async def healthy(self) -> str | None:
        """None when votes can be taken; else why not (the store's failure is raised)."""
        await self.metrics.store("ping", self.store.ping())
        return self.verifier.trouble


def _article_or_none(fields: Fields) -> str | None:
    """The refused request's article, when it named a valid one (else it counts as unknown)."""
    try:
        return validate.article_id(fields.get("article_id"))
    except InvalidRequest:
        return None
