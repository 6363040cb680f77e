"""``FeedbackWidget``: the ASGI application that assembles settings, store,
captcha client, limiter and routes, and owns their life cycle."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any

import aiohttp
import jinja2
from markupsafe import Markup, escape
from starlette.types import Receive, Scope, Send

from . import validate
from .config import PREFIX, Settings
from .errors import FeedbackError, InvalidRequest, NotFound, StoreUnavailable
from .limiter import Limiter, default_limiter
from .metadata import about_to_signed
from .sites import Site, Sites, load_sites
from .store import Store, open_store
from .store.site_keys import key as site_key
from .tokens import Tokens
from .types import About
from .web.dispatch import Dispatcher
from .web.errors import error_response
from .web.public import claim_prefix
from .web.runtime import Shared, utcnow

log = logging.getLogger("feedbackwidget")


class FeedbackWidget:
    """The widget as an ASGI app: mount it under any prefix, or serve it at ``/``.

    Collaborators can be injected: ``store_factory`` builds the store (default:
    from ``settings.database_url``), ``http_session`` is an aiohttp session the
    host already owns (used for siteverify), ``clock`` gives "now" in UTC.

    ``sites`` serves several sites from this one app and store (:mod:`feedbackwidget.sites`);
    without it, ``settings.sites_file`` (``FEEDBACKWIDGET_SITES_FILE``) names a TOML file of
    them, and without that the settings are the one site, ``default``. Raises ConfigError
    for a sites configuration that cannot work (a shared origin, a repeated id, a bad value).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        store_factory: Callable[[Settings], Store] | None = None,
        limiter_factory: Callable[[Settings, Store], Limiter] | None = None,
        http_session: aiohttp.ClientSession | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        sites: Sequence[Site] | None = None,
    ) -> None:
        self.settings = settings
        if sites is None and settings.sites_file is not None:
            sites = load_sites(settings.sites_file)
        self.sites = (
            Sites.single(settings) if sites is None
            else Sites(sites, [settings.export_token], where="sites" if settings.sites_file is None
                       else f"{PREFIX}SITES_FILE")
        )
        self.tokens = Tokens(settings.secret_key, settings.secret_key_fallbacks)
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("feedbackwidget", "templates"),
            autoescape=True,
            auto_reload=False,
        )
        self._store_factory = store_factory or (lambda s: open_store(s.database_url))
        self._limiter_factory = limiter_factory or default_limiter
        self._http_session = http_session
        self._clock = clock
        self._dispatch = Dispatcher()
        # One runtime per event loop: aiohttp sessions and database pools are loop-bound.
        self._runtimes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Shared] = weakref.WeakKeyDictionary()
        self._opening: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Future[Shared]] = (
            weakref.WeakKeyDictionary()
        )
        self._keepers: dict[int, AsyncIterator[None]] = {}
        if self.sites.named and settings.allowed_origins:
            log.warning("FEEDBACKWIDGET_ALLOWED_ORIGINS is not used when sites are given: each site's "
                        "allowed_origins are")
        for site in self.sites:
            own = site.settings(settings) if self.sites.named else settings
            if not (own.hcaptcha_sitekey and own.hcaptcha_secret):
                where = f" for site {site.id!r}" if self.sites.named else ""
                log.warning("HCAPTCHA_SITEKEY/HCAPTCHA_SECRET are not set%s: every vote will be refused", where)

    # -- life cycle -------------------------------------------------------------

    def _new_runtime(self) -> Shared:
        store = self._store_factory(self.settings)
        return Shared(
            self.settings,
            self.sites,
            store,
            self.tokens,
            self.templates,
            self._limiter_factory(self.settings, store),
            http_session=self._http_session,
            clock=self._clock,
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        runtime = self._new_runtime()
        await runtime.open()
        self._runtimes[loop] = runtime
        try:
            yield
        finally:
            if self._runtimes.get(loop) is runtime:
                del self._runtimes[loop]
            await runtime.close()

    def lifespan(self, app: Any = None) -> contextlib.AbstractAsyncContextManager[None]:
        """Open the widget's resources for the life of the host app.

        Use as ``Starlette(..., lifespan=widget.lifespan)`` or enter it inside
        the host's own lifespan: ``async with widget.lifespan(app): ...``.
        """
        return self._lifespan()

    async def _runtime(self) -> Shared:
        loop = asyncio.get_running_loop()
        runtime = self._runtimes.get(loop)
        if runtime is not None:
            return runtime
        opening = self._opening.get(loop)
        if opening is None:  # first request on this loop: open once; concurrent ones wait for it
            opening = loop.create_future()
            self._opening[loop] = opening
            try:
                runtime = self._new_runtime()
                await runtime.open()
            except BaseException as exc:
                del self._opening[loop]
                opening.set_exception(exc)
                opening.exception()  # retrieved: a failed opening is retried by the next request
                raise
            self._runtimes[loop] = runtime
            del self._opening[loop]
            opening.set_result(runtime)
            await self._close_with_loop(loop, runtime)
            return runtime
        return await asyncio.shield(opening)

    async def _close_with_loop(self, loop: asyncio.AbstractEventLoop, runtime: Shared) -> None:
        """Close a lazily opened runtime when its loop shuts down.

        ``asyncio.run`` (and uvicorn, and anyio's portals) finalise every
        suspended async generator of the loop before closing it; this one's
        ``finally`` then closes the runtime on that very loop.
        """

        async def keeper() -> AsyncIterator[None]:
            try:
                yield
            finally:
                self._keepers.pop(id(loop), None)
                if self._runtimes.get(loop) is runtime:
                    del self._runtimes[loop]
                await runtime.close()

        gen = keeper()
        await anext(gen)
        self._keepers[id(loop)] = gen

    async def _lifespan_protocol(self, receive: Receive, send: Send) -> None:
        """Serve ASGI lifespan events when run standalone (e.g. by uvicorn)."""
        stack = contextlib.AsyncExitStack()
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await stack.enter_async_context(self._lifespan())
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    # Raised as Starlette's router does: servers that saw "failed" stay quiet
                    # about it (uvicorn), and those waiting for the app to end learn why.
                    raise
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await stack.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- requests ---------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan_protocol(receive, send)
            return
        if kind != "http":
            if kind == "websocket":
                await send({"type": "websocket.close", "code": 1003})
            return
        try:
            runtime = await self._runtime()
        except StoreUnavailable:  # its cause is logged where it was translated
            await error_response(StoreUnavailable())(scope, receive, send)
            return
        except Exception as exc:  # readers learn that the service is down, the log says why
            if isinstance(exc, FeedbackError):
                log.error("could not open the widget's resources: %s", exc.detail)
            else:
                log.exception("could not open the widget's resources")
            await error_response(StoreUnavailable())(scope, receive, send)
            return
        site_runtime, scope = runtime.runtime_for(claim_prefix({**scope, "app": self}, self.settings))
        if site_runtime is None:
            await error_response(NotFound("This server has no such site."))(scope, receive, send)
            return
        scope["feedbackwidget"] = site_runtime
        await self._dispatch(scope, receive, send)

    # -- server-side embedding -----------------------------------------------------

    def embed(
        self,
        article_id: str,
        *,
        title: str | None = None,
        version: str | None = None,
        lang: str | None = None,
        section: str | None = None,
        authors: str | Iterable[str] | None = None,
        tags: str | Iterable[str] | None = None,
        published_at: dt.datetime | dt.date | str | None = None,
        url: str | None = None,
        site: str | None = None,
    ) -> Markup:
        """Embed markup for a server-side template; title, version, section, authors, tags and
        publication time are signed (the server trusts them over anything a browser sends).

        ``authors``/``tags`` take a name or a list of names; ``published_at`` an aware datetime,
        a date or ISO 8601 text; ``url`` is the article page's address, where the server may read
        its JSON-LD when nothing is signed (``data-feedback-url``); ``site`` the site the article
        belongs to when the server has several (default: the primary site) — the signature holds
        for that site only, and the markup declares it (``data-feedback-site``). Every value is checked by the
        same validators as a vote's, so markup this makes is markup a vote accepts; raises
        ValueError (with the validator's sentence) otherwise.
        """
        try:
            validate.article_id(article_id)
            title, version = validate.title(title), validate.version(version)
            lang = validate.lang(lang)
            about = About(
                section=validate.section(section),
                authors=validate.authors(authors),
                tags=validate.tags(tags),
                published_at=validate.published_at(published_at),
            )
            page_url = validate.page_url(url)
        except InvalidRequest as error:
            raise ValueError(error.detail) from None
        chosen = self.sites.primary if site is None else self.sites.get(site)
        if chosen is None:
            raise ValueError(f"This server has no site {site!r}.")
        signed = self.tokens.sign_embed(site_key(chosen.id, article_id), title, version, about_to_signed(about) or None)
        attrs = [("data-feedback-article", article_id)]
        if self.sites.named:
            attrs.append(("data-feedback-site", chosen.id))
        if title is not None:
            attrs.append(("data-feedback-title", title))
        if version is not None:
            attrs.append(("data-feedback-version", version))
        if page_url is not None:
            attrs.append(("data-feedback-url", page_url))
        attrs.append(("data-feedback-signed", signed))
        lang = lang or chosen.lang  # the site's language when the page names none
        if lang:
            attrs.append(("lang", lang))
        rendered = " ".join(f'{name}="{escape(value)}"' for name, value in attrs)
        src = escape(f"{self.settings.public_url}/widget.js")
        return Markup(f'<div {rendered}></div>\n<script src="{src}" async></script>')  # noqa: S704
