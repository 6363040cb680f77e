"""hCaptcha siteverify client: pooled, bounded in time, failing closed.

The provider's wire details are data (:class:`Provider`), so a compatible
service is a different instance, not different code. Tokens are single-use,
so a verification is never retried automatically.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

from .config_values import matches_host
from .errors import CaptchaFailed, CaptchaUnavailable
from .metrics import OFF, Metrics

log = logging.getLogger("feedbackwidget.captcha")

#: Error codes that mean *our* configuration or request is wrong, not the reader's answer
#: (hCaptcha's siteverify documentation). They are the publisher's to fix: the reader is
#: told the service is unavailable, and the refusal is not counted as an abuse attempt.
#: ``bad-request`` is not among them: a client can provoke it with a malformed answer.
CONFIG_ERRORS = frozenset(
    {
        "missing-input-secret",
        "invalid-input-secret",
        "sitekey-secret-mismatch",
        "invalid-sitekey",
        "missing-remoteip",
        "invalid-remoteip",
        "not-using-dummy-passcode",
        "not-using-dummy-secret",
    }
)
#: Which setting each configuration error points at.
_CULPRITS = {
    "missing-input-secret": "FEEDBACKWIDGET_HCAPTCHA_SECRET",
    "invalid-input-secret": "FEEDBACKWIDGET_HCAPTCHA_SECRET",
    "sitekey-secret-mismatch": "FEEDBACKWIDGET_HCAPTCHA_SITEKEY / FEEDBACKWIDGET_HCAPTCHA_SECRET",
    "invalid-sitekey": "FEEDBACKWIDGET_HCAPTCHA_SITEKEY",
    "not-using-dummy-passcode": "FEEDBACKWIDGET_HCAPTCHA_SITEKEY (a test key with a real answer, or the reverse)",
    "not-using-dummy-secret": "FEEDBACKWIDGET_HCAPTCHA_SECRET (a test key with a real answer, or the reverse)",
}
#: At most one "our configuration is wrong" log line per this many seconds.
_LOG_EVERY = 60.0
_MAX_ANSWER = 64 * 1024
_NOT_CONFIGURED = "hCaptcha is not configured: set FEEDBACKWIDGET_HCAPTCHA_SITEKEY and FEEDBACKWIDGET_HCAPTCHA_SECRET"
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
        self,
        provider: Provider,
        *,
        session: aiohttp.ClientSession | None = None,
        connections: int = 1024,
        metrics: Metrics = OFF,
    ) -> None:
        self.provider = provider
        self._metrics = metrics
        self._session = session
        self._own_session = session is None
        self._connections = connections
        self._timeout = aiohttp.ClientTimeout(total=provider.timeout)
        #: Why votes cannot be verified right now because of our own configuration, or None.
        self.trouble: str | None = None if provider.secret and provider.sitekey else _NOT_CONFIGURED
        self._logged = -_LOG_EVERY
        self._suppressed = 0

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
        """Return when the answer is good; raise CaptchaFailed or CaptchaUnavailable. Each call
        that reached siteverify is timed and counted by outcome in the metrics."""
        start = time.perf_counter()
        outcome = "unavailable"
        try:
            await self._verify(token, remote_ip)
            outcome = "success"
        except CaptchaFailed:
            outcome = "failed"
            raise
        finally:
            if self._metrics.enabled and self.provider.secret and self.provider.sitekey:
                self._metrics.siteverify(outcome, time.perf_counter() - start)

    async def _verify(self, token: str, remote_ip: str | None) -> None:
        p = self.provider
        if not p.secret or not p.sitekey:
            raise CaptchaUnavailable("The captcha is not configured on this server; nothing was stored.",
                                     cause="not-configured")
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
        ours = sorted(CONFIG_ERRORS.intersection(codes))
        if ours:
            self._misconfigured(ours)
        if not answer["success"] or codes:  # success with error codes is not a success we understand
            raise CaptchaFailed()
        self.trouble = None
        allowed = self.provider.allowed_hostnames
        if allowed:
            hostname = answer.get("hostname")
            if not isinstance(hostname, str) or not matches_host(hostname, allowed):
                raise CaptchaFailed("The captcha was solved on a site this server does not serve.")

    def _misconfigured(self, codes: list[str]) -> None:
        """Siteverify says our configuration is wrong: the publisher's problem, said loudly to
        the operator (at most once a minute), shown by /healthz, and a 503 for the reader."""
        culprit = next((_CULPRITS[c] for c in codes if c in _CULPRITS), "the hCaptcha settings")
        self.trouble = f"siteverify rejected this server's configuration ({', '.join(codes)}): check {culprit}"
        self._suppressed += 1
        now = time.monotonic()
        if now - self._logged >= _LOG_EVERY:
            more = f" ({self._suppressed - 1} more since the last line)" if self._suppressed > 1 else ""
            log.error("%s; every vote is refused with 503 until it is fixed%s", self.trouble, more)
            self._logged, self._suppressed = now, 0
        raise CaptchaUnavailable("The captcha is misconfigured on this server; nothing was stored.", cause=codes[0])


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
