"""Everything one event loop needs to serve requests, opened and closed together."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import aiohttp
import jinja2
from starlette.requests import Request

from ..captcha import CaptchaVerifier, Provider
from ..config import Settings
from ..errors import StoreUnavailable
from ..store import Store
from ..tokens import Tokens, VoterToken, pseudonym

if TYPE_CHECKING:
    from .limiter import Limiter

log = logging.getLogger("feedbackwidget")

VOTER_COOKIE = "feedbackwidget_voter"
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
        await self.limiter.close()
        await self.verifier.close()
        await self.store.close()

    @property
    def secret(self) -> bytes:
        if self._secret is None:
            raise StoreUnavailable("The vote store has not been opened.")
        return self._secret

    # -- request helpers ------------------------------------------------------

    @staticmethod
    def prefix(request: Request) -> str:
        """The mount prefix URLs emitted inside this request start with ('' at the root)."""
        return str(request.scope.get("root_path", "")).rstrip("/")

    def reader(self, request: Request) -> VoterToken | None:
        """The reader's verified voter token (header first, then cookie), if any."""
        token = request.headers.get(VOTER_HEADER) or request.cookies.get(VOTER_COOKIE)
        return self.tokens.voter(token)

    def voter_key(self, voter_id: str) -> str:
        return pseudonym(self.secret, voter_id)


def runtime_of(request: Request) -> Runtime:
    rt: Runtime = request.scope["feedbackwidget"]
    return rt
