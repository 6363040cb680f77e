"""hCaptcha siteverify client: pooled, bounded in time, failing closed.

The provider's wire details are data (:class:`Provider`), so a compatible
service is a different instance, not different code. Tokens are single-use,
so a verification is never retried automatically.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

from .errors import CaptchaFailed, CaptchaUnavailable

log = logging.getLogger("feedbackwidget.captcha")

#: Error codes that mean *our* configuration is wrong, not the reader's answer.
CONFIG_ERRORS = frozenset(
    {"missing-input-secret", "invalid-input-secret", "sitekey-secret-mismatch", "invalid-sitekey"}
)
_MAX_ANSWER = 64 * 1024
_FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@dataclass(frozen=True, slots=True)
class Provider:
    verify_url: str
    secret: str | None
    sitekey: str | None
    timeout: float
    allowed_hostnames: tuple[str, ...] = ()

    def __repr__(self) -> str:  # never show the secret
        return f"Provider(verify_url={self.verify_url!r}, sitekey={self.sitekey!r}, timeout={self.timeout})"


class CaptchaVerifier:
    """Verifies captcha answers over pooled keep-alive connections for its whole life.

    Pass ``session`` to share the host's own aiohttp session; otherwise one is
    made on :meth:`open` with a connection limit sized for bursts (aiohttp's
    default of 100 would cap a 50 ms siteverify at 2,000 verifications/s).
    """

    def __init__(
        self, provider: Provider, *, session: aiohttp.ClientSession | None = None, connections: int = 1024
    ) -> None:
        self.provider = provider
        self._session = session
        self._own_session = session is None
        self._connections = connections
        self._timeout = aiohttp.ClientTimeout(total=provider.timeout)

    async def open(self) -> None:
        if self._session is not None:
            return
        connector = aiohttp.TCPConnector(limit=self._connections, limit_per_host=self._connections, ttl_dns_cache=300)
        # No cookie jar: siteverify sets none we want, and the jar costs a lookup per request.
        self._session = aiohttp.ClientSession(connector=connector, trust_env=False, cookie_jar=aiohttp.DummyCookieJar())

    async def close(self) -> None:
        if self._session is not None and self._own_session:
            await self._session.close()
        if self._own_session:
            self._session = None

    async def verify(self, token: str, remote_ip: str | None = None) -> None:
        """Return when the answer is good; raise CaptchaFailed or CaptchaUnavailable."""
        p = self.provider
        if not p.secret or not p.sitekey:
            log.error("hCaptcha is not configured (FEEDBACKWIDGET_HCAPTCHA_SITEKEY / _SECRET); refusing votes")
            raise CaptchaUnavailable("The captcha is not configured on this server; nothing was stored.")
        if self._session is None:
            await self.open()
        form = {"secret": p.secret, "response": token, "sitekey": p.sitekey}
        if remote_ip:
            form["remoteip"] = remote_ip
        # Encoded here, as aiohttp's FormData would (it builds a multipart writer per call first).
        body = urlencode(form).encode()
        assert self._session is not None
        try:
            async with self._session.post(
                p.verify_url, data=body, headers=_FORM, timeout=self._timeout, allow_redirects=False
            ) as answer:
                if answer.status != 200:
                    log.warning("siteverify answered HTTP %s", answer.status)
                    raise CaptchaUnavailable()
                body = await _read_capped(answer)
        except CaptchaUnavailable:
            raise
        except TimeoutError:
            log.warning("siteverify did not answer within %ss", p.timeout)
            raise CaptchaUnavailable() from None
        except (aiohttp.ClientError, OSError) as exc:
            log.warning("siteverify unreachable: %s", type(exc).__name__)
            raise CaptchaUnavailable() from None
        self._judge(body)

    def _judge(self, body: bytes) -> None:
        if len(body) > _MAX_ANSWER:
            raise CaptchaUnavailable()
        try:
            answer: Any = json.loads(body)
        except ValueError:
            log.warning("siteverify answered something that is not JSON")
            raise CaptchaUnavailable() from None
        if not isinstance(answer, dict) or not isinstance(answer.get("success"), bool):
            log.warning("siteverify answered JSON without a boolean 'success'")
            raise CaptchaUnavailable()
        codes = answer.get("error-codes") or []
        codes = [str(c) for c in codes] if isinstance(codes, list) else [str(codes)]
        if not answer["success"]:
            if CONFIG_ERRORS.intersection(codes):
                wrong = ",".join(sorted(CONFIG_ERRORS.intersection(codes)))
                log.error("siteverify rejected our configuration: %s", wrong)
            raise CaptchaFailed()
        if codes:  # success with error codes is not a success we understand
            raise CaptchaFailed()
        allowed = self.provider.allowed_hostnames
        if allowed:
            hostname = answer.get("hostname")
            if not isinstance(hostname, str) or hostname.lower() not in allowed:
                raise CaptchaFailed("The captcha was solved on a site this server does not serve.")


async def _read_capped(answer: aiohttp.ClientResponse) -> bytes:
    """The whole body, however many packets it comes in; CaptchaUnavailable past the cap."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in answer.content.iter_chunked(16384):
        size += len(chunk)
        if size > _MAX_ANSWER:
            log.warning("siteverify answered more than %s bytes", _MAX_ANSWER)
            raise CaptchaUnavailable()
        chunks.append(chunk)
    return b"".join(chunks)
