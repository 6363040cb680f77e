"""Signed tokens (itsdangerous), one salt per purpose, with key rotation.

* voter tokens identify a reader: a random id, signed and timestamped. They
  are re-issued when verified by a fallback key or past half their life.
* embed tokens carry the title and revision ``widget.embed()`` vouches for.
* pseudonyms: what the store and the exports see instead of the voter id — a
  keyed hash under a per-installation secret kept in the database, which no
  token contains, so a token cannot be matched to export rows.
"""

from __future__ import annotations

import base64
import hmac
import ipaddress
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadData, TimestampSigner, URLSafeSerializer

VOTER_SALT = "feedbackwidget.voter"
EMBED_SALT = "feedbackwidget.embed"
#: Voter tokens live for one year (the contract allows at most 400 days).
VOTER_MAX_AGE = 365 * 86400
_MAX_TOKEN = 512
_VOTER_ID = re.compile(r"[A-Za-z0-9_-]{22}")


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


class Tokens:
    """Signs and verifies tokens with ``secret_key``; also accepts ``fallbacks``."""

    def __init__(
        self,
        secret_key: str,
        fallbacks: Sequence[str] = (),
        *,
        voter_max_age: int = VOTER_MAX_AGE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        class _Signer(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(clock())

        self.voter_max_age = voter_max_age
        keys = [secret_key, *fallbacks]
        # The voter id is already URL-safe base64, so a timestamp signer is all a token needs:
        # no JSON, no compression attempt (measured: 5 µs per token instead of 83 µs).
        self._voter = [_Signer(k, salt=VOTER_SALT) for k in keys]
        self._embed = [URLSafeSerializer(k, salt=EMBED_SALT) for k in keys]
        self._clock = clock

    # -- voter ------------------------------------------------------------

    def new_voter(self) -> tuple[str, str]:
        """A fresh (token, voter_id)."""
        voter_id = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
        return self._sign(voter_id), voter_id

    def _sign(self, voter_id: str) -> str:
        return self._voter[0].sign(voter_id).decode("ascii")

    def voter(self, token: str | None) -> VoterToken | None:
        """The reader a token names, or None for a missing, foreign, tampered or expired one."""
        if not token or len(token) > _MAX_TOKEN:
            return None
        for index, signer in enumerate(self._voter):
            try:
                value, signed_at = signer.unsign(token, max_age=self.voter_max_age, return_timestamp=True)
            except BadData:
                continue
            voter_id = value.decode("ascii", "replace")
            if not _VOTER_ID.fullmatch(voter_id):
                return None
            age = self._clock() - signed_at.timestamp()
            stale = index > 0 or age > self.voter_max_age / 2
            return VoterToken(voter_id, self._sign(voter_id) if stale else None, token)
        return None

    # -- embed --------------------------------------------------------------

    def sign_embed(self, article_id: str, title: str | None, version: str | None) -> str:
        return str(self._embed[0].dumps([article_id, title, version]))

    def embed(self, token: str | None, article_id: str) -> tuple[str | None, str | None] | None:
        """(title, version) vouched for ``article_id``, or None when not signed by us for it."""
        if not token or len(token) > 4096:
            return None
        for serializer in self._embed:
            try:
                payload: Any = serializer.loads(token)
            except BadData:
                continue
            if (
                isinstance(payload, list)
                and len(payload) == 3
                and payload[0] == article_id
                and all(v is None or isinstance(v, str) for v in payload[1:])
            ):
                return payload[1], payload[2]
            return None
        return None


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
