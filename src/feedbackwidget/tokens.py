"""Every signed token of the package, in one place: one key ring, one salt per purpose.

* voter tokens identify a reader: a random id, signed and timestamped. They
  are re-issued when verified by a fallback key or past half their life.
* embed tokens carry the title and revision ``widget.embed()`` vouches for.
* dashboard sessions carry a nonce and a keyed fingerprint of the export token;
  sign-out form tokens are bound to one session.
* pseudonyms: what the store and the exports see instead of the voter id — a
  keyed hash under a per-installation secret kept in the database, which no
  token contains, so a token cannot be matched to export rows.

Key order is itsdangerous' own: ``SECRET_KEY`` signs, ``SECRET_KEY_FALLBACKS``
still verify. Timestamps are judged with :data:`CLOCK_SKEW` of slack in both
directions, so a token signed by a server whose clock runs ahead is still
accepted by one that runs behind (itsdangerous alone refuses any token dated
in its future).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadData, TimestampSigner, URLSafeSerializer

log = logging.getLogger("feedbackwidget")

VOTER_SALT = "feedbackwidget.voter"
EMBED_SALT = "feedbackwidget.embed"
SESSION_SALT = "feedbackwidget.admin-session"
#: Voter tokens live for one year (the contract allows at most 400 days).
VOTER_MAX_AGE = 365 * 86400
#: Dashboard sessions live for one working day.
SESSION_MAX_AGE = 8 * 3600
#: How far apart the clocks of the servers of one site may be, in seconds, either way.
CLOCK_SKEW = 300
_MAX_TOKEN = 512
_VOTER_ID = re.compile(r"[A-Za-z0-9_-]{22}")
#: At most one "clocks disagree" log line per this many seconds.
_SKEW_LOG_EVERY = 60.0


@dataclass(frozen=True, slots=True)
class VoterToken:
    voter_id: str
    #: A fresh token to hand back to the reader, or None when theirs is still good.
    reissue: str | None
    #: The token as presented (what verified).
    token: str = ""

    @property
    def current(self) -> str:
        """The token the reader should keep from now on."""
        return self.reissue or self.token


@dataclass(frozen=True, slots=True)
class _Verified:
    value: bytes
    age: float
    #: Verified by a fallback key rather than the current one.
    by_fallback: bool


class _TimedPurpose:
    """Timestamped signatures for one purpose (salt) under the key ring."""

    def __init__(self, keys: Sequence[str], salt: str, clock: Callable[[], float]) -> None:
        class _Signer(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(clock())

        # The voter id is already URL-safe base64, so a timestamp signer is all a token needs:
        # no JSON, no compression attempt.
        self._current = _Signer(keys[-1], salt=salt)
        self._all = _Signer(list(keys), salt=salt) if len(keys) > 1 else None
        self._clock = clock
        self._salt = salt
        self._logged = -_SKEW_LOG_EVERY

    def sign(self, value: str) -> str:
        return self._current.sign(value).decode("ascii")

    def verify(self, token: str, max_age: float) -> _Verified | None:
        """The signed value and its age in seconds, or None (bad signature, too old, or dated
        further in the future than two servers' clocks can disagree)."""
        by_fallback = False
        try:
            value, signed_at = self._current.unsign(token, return_timestamp=True)
        except BadData:
            if self._all is None:
                return None
            try:
                value, signed_at = self._all.unsign(token, return_timestamp=True)
            except BadData:
                return None
            by_fallback = True
        age = self._clock() - signed_at.timestamp()
        if age < -CLOCK_SKEW:
            self._log_skew(-age)
            return None
        if age > max_age + CLOCK_SKEW:
            return None
        return _Verified(value, max(age, 0.0), by_fallback)

    def _log_skew(self, ahead: float) -> None:
        now = time.monotonic()
        if now - self._logged >= _SKEW_LOG_EVERY:
            self._logged = now
            log.warning(
                "a %s token is dated %.0f s in this server's future: the servers' clocks disagree by more "
                "than %d s (run NTP on every server); the token was refused",
                self._salt.rpartition(".")[2], ahead, CLOCK_SKEW,
            )


class Tokens:
    """Signs with ``secret_key`` and verifies with it and every key of ``fallbacks``.

    ``clock`` gives the time in seconds since the epoch (injected by tests).
    """

    def __init__(
        self,
        secret_key: str,
        fallbacks: Sequence[str] = (),
        *,
        voter_max_age: int = VOTER_MAX_AGE,
        session_max_age: int = SESSION_MAX_AGE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # itsdangerous' order: oldest first, the signing key last.
        keys = [*reversed(fallbacks), secret_key]
        self.voter_max_age = voter_max_age
        self.session_max_age = session_max_age
        self._keys = keys
        self._voter = _TimedPurpose(keys, VOTER_SALT, clock)
        self._session = _TimedPurpose(keys, SESSION_SALT, clock)
        self._embed = URLSafeSerializer(keys, salt=EMBED_SALT)

    # -- voter ------------------------------------------------------------

    def new_voter(self) -> tuple[str, str]:
        """A fresh (token, voter_id)."""
        voter_id = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
        return self._voter.sign(voter_id), voter_id

    def voter(self, token: str | None) -> VoterToken | None:
        """The reader a token names, or None for a missing, foreign, tampered or expired one."""
        if not token or len(token) > _MAX_TOKEN:
            return None
        verified = self._voter.verify(token, self.voter_max_age)
        if verified is None:
            return None
        voter_id = verified.value.decode("ascii", "replace")
        if not _VOTER_ID.fullmatch(voter_id):
            return None
        stale = verified.by_fallback or verified.age > self.voter_max_age / 2
        return VoterToken(voter_id, self._voter.sign(voter_id) if stale else None, token)

    # -- embed --------------------------------------------------------------

    def sign_embed(
        self, article_id: str, title: str | None, version: str | None, about: dict[str, Any] | None = None
    ) -> str:
        """The signature ``widget.embed()`` puts on its markup: the article, its title and revision,
        and (when given) what it is about, as a small dict of plain JSON values."""
        payload: list[Any] = [article_id, title, version]
        if about:
            payload.append(about)
        return str(self._embed.dumps(payload))

    def embed_payload(self, token: str | None, article_id: str) -> list[Any] | None:
        """What ``widget.embed()`` signed for ``article_id``: ``[article_id, title, version]`` and,
        when it said what the article is about, that dict fourth; None when not ours for it."""
        if not token or len(token) > 4096:
            return None
        try:
            payload: Any = self._embed.loads(token)
        except BadData:
            return None
        if (
            isinstance(payload, list)
            and len(payload) in (3, 4)
            and payload[0] == article_id
            and all(v is None or isinstance(v, str) for v in payload[1:3])
            and (len(payload) == 3 or isinstance(payload[3], dict))
        ):
            return payload
        return None

    def embed(self, token: str | None, article_id: str) -> tuple[str | None, str | None] | None:
        """(title, version) vouched for ``article_id``, or None when not signed by us for it."""
        payload = self.embed_payload(token, article_id)
        return None if payload is None else (payload[1], payload[2])

    def embed_about(self, token: str | None, article_id: str) -> dict[str, Any] | None:
        """What ``widget.embed()`` vouched ``article_id`` is about (the dict it signed), or None
        when the token is not ours for this article or carries nothing about it."""
        payload = self.embed_payload(token, article_id)
        return payload[3] if payload is not None and len(payload) == 4 else None

    # -- dashboard sessions -----------------------------------------------------

    def new_session(self, export_token: str) -> str:
        """A signed session value for the current export token: a random nonce and a keyed
        fingerprint of the token (the cookie is readable, so never the token itself)."""
        nonce = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
        return self._session.sign(f"{nonce}.{self._mark(self._keys[-1], export_token)}")

    def session(self, value: str | None, export_token: str | None) -> str | None:
        """The session's nonce when ``value`` is a valid, unexpired session for the current
        export token (changing the token ends every session); else None."""
        if not value or export_token is None or len(value) > _MAX_TOKEN:
            return None
        verified = self._session.verify(value, self.session_max_age)
        if verified is None:
            return None
        nonce, _, mark = verified.value.decode("ascii", "replace").partition(".")
        if not nonce or not any(hmac.compare_digest(mark, self._mark(k, export_token)) for k in self._keys):
            return None
        return nonce

    def form_token(self, nonce: str) -> str:
        """The sign-out form token bound to one session (HMAC of its nonce)."""
        return self._form_token(self._keys[-1], nonce)

    def form_token_ok(self, given: str | None, nonce: str) -> bool:
        """Whether ``given`` is the form token of session ``nonce`` under any key (constant time)."""
        if not given:
            return False
        return any(hmac.compare_digest(given.encode(), self._form_token(k, nonce).encode()) for k in self._keys)

    @staticmethod
    def _mark(key: str, export_token: str) -> str:
        return hmac.new(key.encode(), b"admin-token\x00" + export_token.encode(), hashlib.sha256).hexdigest()[:32]

    @staticmethod
    def _form_token(key: str, nonce: str) -> str:
        return hmac.new(key.encode(), b"admin-logout\x00" + nonce.encode(), hashlib.sha256).hexdigest()


def pseudonym(secret: bytes, voter_id: str) -> str:
    """The voter as the store and exports know them: a keyed hash of the id."""
    return hmac.digest(secret, b"voter:" + voter_id.encode(), "sha256").hex()[:32]


def client_key(secret: bytes, address: str | None) -> str:
    """A keyed hash of the client address for rate limiting; IPv6 grouped by /64."""
    if not address:
        group = "unknown"
    else:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            group = address
        else:
            if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
                ip = ip.ipv4_mapped
            if isinstance(ip, ipaddress.IPv6Address):
                group = str(ipaddress.ip_network(f"{ip}/64", strict=False))
            else:
                group = str(ip)
    return hmac.digest(secret, b"client:" + group.encode(), "sha256").hex()[:32]


def same_secret(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison of a presented secret with the configured one."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())
