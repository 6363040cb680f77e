"""Dashboard sessions: signed, expiring cookie values and the sign-out form token.

A session value is itsdangerous-signed (newest ``SECRET_KEY`` signs, fallbacks
still verify) with its own salt, so no other token of the package can stand in
for it. It carries a random nonce and a keyed fingerprint of the export token:
changing ``EXPORT_TOKEN`` ends every session, and the cookie (readable, not
encrypted) never reveals the token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import cast

from itsdangerous import BadData, URLSafeTimedSerializer

from ..config import Settings

SESSION_COOKIE = "feedbackwidget_admin"
SESSION_SALT = "feedbackwidget.admin-session"
SESSION_MAX_AGE = 8 * 3600


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    # itsdangerous signs with the last key and verifies with every key.
    keys = [*settings.secret_key_fallbacks, settings.secret_key]
    return URLSafeTimedSerializer(keys, salt=SESSION_SALT)


def _token_mark(key: str, token: str) -> str:
    """A fingerprint of the export token, so changing the token ends every session.

    The cookie is signed, not encrypted, so it carries this keyed hash, never the token.
    """
    digest = hmac.new(key.encode(), b"admin-token\x00" + token.encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


def new_session(settings: Settings) -> str:
    """A signed session value for the current export token."""
    assert settings.export_token is not None
    mark = _token_mark(settings.secret_key, settings.export_token)
    payload = {"n": secrets.token_urlsafe(16), "m": mark}
    return _serializer(settings).dumps(payload)


def read_session(settings: Settings, value: str | None) -> str | None:
    """The session's nonce when ``value`` is a valid, unexpired session; else None."""
    if not value or settings.export_token is None or len(value) > 512:
        return None
    try:
        payload = _serializer(settings).loads(value, max_age=SESSION_MAX_AGE)
    except BadData:  # bad signature, expired, or a payload that is not ours
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("n"), str):
        return None
    mark = str(payload.get("m", ""))
    keys = (settings.secret_key, *settings.secret_key_fallbacks)
    if not any(hmac.compare_digest(mark, _token_mark(k, settings.export_token)) for k in keys):
        return None
    return cast(str, payload["n"])


def form_token(settings: Settings, nonce: str) -> str:
    """The sign-out form token bound to one session."""
    return hmac.new(settings.secret_key.encode(), b"admin-logout\x00" + nonce.encode(),
                    hashlib.sha256).hexdigest()
