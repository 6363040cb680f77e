"""Everything one event loop needs to serve requests, opened and closed together.

The store's connections, the siteverify client's session and the limiter's
Redis connection are bound to the event loop that opened them; the service
built on them (:class:`~feedbackwidget.service.VoteService`) is what the
handlers call.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import aiohttp
import jinja2
from starlette.requests import Request

from ..captcha import CaptchaVerifier, Provider
from ..config import Settings
from ..errors import StoreUnavailable
from ..limiter import Limiter
from ..metadata import keeper_for
from ..metrics import OFF, Metrics
from ..retention import Policy, Sweeper
from ..service import VoteService
from ..store import Store
from ..tokens import Tokens
from ..webhooks import Worker


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
        self.templates = templates
        self.limiter = limiter
        #: Figures for GET /metrics: recorded only when someone may read them (METRICS_TOKEN).
        self.metrics = Metrics() if settings.metrics_token else OFF
        self.verifier = CaptchaVerifier(
            Provider(
                verify_url=settings.hcaptcha_verify_url,
                secret=settings.hcaptcha_secret,
                sitekey=settings.hcaptcha_sitekey,
                timeout=settings.hcaptcha_timeout,
                allowed_hostnames=settings.allowed_hostnames,
            ),
            session=http_session,
            metrics=self.metrics,
        )
        self._secret: bytes | None = None
        #: Webhook deliveries of this event loop (None when no WEBHOOK_URLS are set).
        self.webhooks = Worker(settings, store, clock, metrics=self.metrics) if settings.webhook_urls else None
        self.about = keeper_for(settings, store, clock)
        self.service = VoteService(
            settings, store, tokens, self.verifier, limiter, clock=clock, secret=self.secret, webhooks=self.webhooks,
            metrics=self.metrics, about=self.about,
        )
        #: Retention in the background (a no-op without RETAIN_* settings); one server per interval sweeps.
        self.sweeper = Sweeper(store, Policy.from_settings(settings), clock)

    async def open(self) -> None:
        await self.store.open()
        try:
            self._secret = await self.store.secret()
            await self.verifier.open()
            await self.limiter.open()
            if self.webhooks is not None:
                await self.webhooks.start()
            await self.about.start()
            self.sweeper.start()
        except BaseException:
            await self.store.close()
            raise
        self.metrics.worker(+1)

    async def close(self) -> None:
        self.metrics.worker(-1)
        await self.sweeper.stop()
        if self.webhooks is not None:
            await self.webhooks.stop()
        await self.service.refusals.stop()  # writes what is left
        await self.about.stop()
        await self.limiter.close()
        await self.verifier.close()
        await self.store.close()

    def secret(self) -> bytes:
        """The per-installation key the store keeps (for pseudonyms and rate-limit keys)."""
        if self._secret is None:
            raise StoreUnavailable("The vote store has not been opened.")
        return self._secret


def runtime_of(request: Request) -> Runtime:
    rt: Runtime = request.scope["feedbackwidget"]
    return rt
