"""Everything one event loop needs to serve requests, opened and closed together.

The store's connections, the siteverify clients' sessions and the limiter's Redis connection
are bound to the event loop that opened them. :class:`Shared` holds what every site of the
server shares (the store, the limiter, the metrics, webhook deliveries, retention); each site
gets a :class:`Runtime` — its settings, its view of the store, its siteverify client, its
metadata reader and the :class:`~feedbackwidget.service.VoteService` the handlers call. A
request is served by the runtime of its site (:meth:`Shared.runtime_for`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from urllib.parse import parse_qsl

import aiohttp
import jinja2
from starlette.requests import Request
from starlette.types import Scope

from ..captcha import CaptchaVerifier, Provider
from ..config import Settings
from ..errors import StoreUnavailable
from ..limiter import Limiter
from ..metadata import keeper_for
from ..metrics import OFF, Metrics
from ..retention import Policy, Sweeper
from ..service import VoteService
from ..sites import Site, Sites
from ..store import Store
from ..store.scoped import SiteStore
from ..tokens import Tokens
from ..webhooks import Worker
from .public import BASE_ROOT, SITE_PATH, route_path


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Shared:
    """The resources of one event loop that every site shares, and each site's runtime."""

    def __init__(
        self,
        settings: Settings,
        sites: Sites,
        store: Store,
        tokens: Tokens,
        templates: jinja2.Environment,
        limiter: Limiter,
        *,
        http_session: aiohttp.ClientSession | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.sites = sites
        self.store = store
        self.tokens = tokens
        self.templates = templates
        self.limiter = limiter
        self.http_session = http_session
        self.clock = clock
        #: Figures for GET /metrics: recorded only when someone may read them (METRICS_TOKEN).
        self.metrics = Metrics() if settings.metrics_token else OFF
        self._secret: bytes | None = None
        #: Webhook deliveries of this event loop (None when no WEBHOOK_URLS are set).
        self.webhooks = Worker(settings, store, clock, metrics=self.metrics) if settings.webhook_urls else None
        #: Retention in the background (a no-op without RETAIN_* settings); one server per interval sweeps.
        self.sweeper = Sweeper(store, Policy.from_settings(settings), clock)
        self.runtimes: dict[str, Runtime] = {site.id: Runtime(self, site) for site in sites}
        self.primary = self.runtimes[sites.primary.id]

    async def open(self) -> None:
        await self.store.open()
        opened: list[Runtime] = []
        try:
            self._secret = await self.store.secret()
            await self.limiter.open()
            for runtime in self.runtimes.values():
                await runtime.open()
                opened.append(runtime)
            if self.webhooks is not None:
                await self.webhooks.start()
            self.sweeper.start()
        except BaseException:
            for runtime in opened:
                await runtime.close()
            await self.store.close()
            raise
        self.metrics.worker(+1)

    async def close(self) -> None:
        self.metrics.worker(-1)
        await self.sweeper.stop()
        if self.webhooks is not None:
            await self.webhooks.stop()
        for runtime in self.runtimes.values():
            await runtime.close()
        await self.limiter.close()
        await self.store.close()

    def secret(self) -> bytes:
        """The per-installation key the store keeps (for pseudonyms and rate-limit keys)."""
        if self._secret is None:
            raise StoreUnavailable("The vote store has not been opened.")
        return self._secret

    def runtime_for(self, scope: Scope) -> tuple[Runtime | None, Scope]:
        """The runtime of the request's site and the scope to serve it with (:meth:`Sites.decide`).

        The site is the one the path names (``/sites/ID/…``: the dashboard and its exports, whose
        every link then stays on that site), else the ``site`` query parameter the widget sends,
        else the site the ``Origin`` belongs to, else the primary site. With one site every
        request is its, whatever it declares. None when the request names a site this server
        does not have.
        """
        if not self.sites.named:
            return self.primary, scope
        declared: str | None = None
        below = route_path(scope)
        if below.startswith(SITE_PATH):
            declared = below[len(SITE_PATH):].partition("/")[0]
            root = scope.get("root_path", "")
            scope = {**scope, "root_path": root + SITE_PATH + declared, BASE_ROOT: root}
        else:
            declared = _query_site(scope.get("query_string", b""))
        origin: str | None = None
        if declared is None:
            for header, raw in scope["headers"]:
                if header == b"origin":
                    origin = raw.decode("latin-1")
                    break
        site = self.sites.decide(origin, declared)
        return (None if site is None else self.runtimes[site.id]), scope


def _query_site(query: bytes) -> str | None:
    """The first non-empty ``site`` parameter of a query string, as ``parse_qsl`` gives it,
    found without parsing the rest when nothing in it is percent- or plus-encoded (the
    widget's queries: it sends one on every request of a page)."""
    if b"%" in query or b"+" in query:
        return next((value for name, value in parse_qsl(query.decode("latin-1")) if name == "site"), None)
    at = query.find(b"site=")
    while at > 0 and query[at - 1] != ord("&"):  # "…&website=x" is not it
        at = query.find(b"site=", at + 1)
    while at >= 0 and query[at + 5:at + 6] in (b"", b"&"):  # parse_qsl drops "site=" (blank)
        at = query.find(b"&site=", at + 1)
        at = at + 1 if at >= 0 else at
    return query[at + 5:].split(b"&", 1)[0].decode("latin-1") if at >= 0 else None


class Runtime:
    """One site's settings and services on one event loop (what a request's handler uses)."""

    def __init__(self, shared: Shared, site: Site) -> None:
        named = shared.sites.named
        self.shared = shared
        self.site = site
        self.sites = shared.sites
        #: The server's settings as this site sees them (origins, hCaptcha keys, vote settings).
        self.settings = site.settings(shared.settings) if named else shared.settings
        self.store: Store = SiteStore(shared.store, site.id) if named else shared.store
        self.templates = shared.templates
        self.limiter = shared.limiter
        self.metrics = shared.metrics
        self.webhooks = shared.webhooks
        settings = self.settings
        self.verifier = CaptchaVerifier(
            Provider(
                verify_url=settings.hcaptcha_verify_url,
                secret=settings.hcaptcha_secret,
                sitekey=settings.hcaptcha_sitekey,
                timeout=settings.hcaptcha_timeout,
                allowed_hostnames=settings.allowed_hostnames,
            ),
            session=shared.http_session,
            metrics=self.metrics,
        )
        self.about = keeper_for(settings, self.store, shared.clock)
        self.service = VoteService(
            settings, self.store, shared.tokens, self.verifier, self.limiter, clock=shared.clock,
            secret=shared.secret, webhooks=self.webhooks, metrics=self.metrics, about=self.about,
            site=site.id, dashboard_tokens=shared.sites.tokens_of(site), stamp_site=named,
            other_sites=tuple(s.id for s in shared.sites if s.id != site.id),
        )

    @property
    def site_path(self) -> str:
        """``/sites/ID`` below the mount when the server was given sites (the dashboard's links), else ""."""
        return SITE_PATH + self.site.id if self.sites.named else ""

    @property
    def site_field(self) -> dict[str, str]:
        """``{"site": id}`` for JSON answers when the server was given sites, else nothing."""
        return {"site": self.site.id} if self.sites.named else {}

    async def open(self) -> None:
        await self.verifier.open()
        try:
            await self.about.start()
        except BaseException:
            await self.verifier.close()
            raise

    async def close(self) -> None:
        await self.service.refusals.stop()  # writes what is left
        await self.about.stop()
        await self.verifier.close()

    def secret(self) -> bytes:
        return self.shared.secret()


def runtime_of(request: Request) -> Runtime:
    rt: Runtime = request.scope["feedbackwidget"]
    return rt
