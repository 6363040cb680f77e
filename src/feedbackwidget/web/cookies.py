"""The voter cookies: a first-party one, and a partitioned (CHIPS) copy for cross-site iframes.

Which of them a response carries is decided by :func:`~feedbackwidget.web.public.public_view`:
only the partitioned one in a cross-site context (a browser rejects the other there, and
Firefox says so in the console), only the first-party one outside a secure context. Their
bytes are made once per shape (path, secure, which cookies, lifetime) by Starlette itself
and reused around each new token.
"""

from __future__ import annotations

import re

from starlette.responses import Response

from ..tokens import VOTER_MAX_AGE
from .context import VOTER_COOKIE, VOTER_COOKIE_PARTITIONED
from .public import PublicView

#: What a voter token is made of (URL-safe base64 and dots): nothing ``http.cookies`` quotes.
_COOKIE_SAFE = re.compile(r"[A-Za-z0-9_.\-]{1,512}")
_PROBE = "0PROBE0TOKEN0"
_FRAMES: dict[tuple[str, bool, bool, bool, int], list[tuple[bytes, bytes]]] = {}


def set_voter_cookie(view: PublicView, response: Response, token: str, max_age: int = VOTER_MAX_AGE) -> None:
    """Hand the reader their voter token as the cookies their browser can keep here: the
    first-party one unless the request is cross-site, the partitioned one in a secure context."""
    shape = (view.cookie_path, view.https, not view.cross_site, view.secure_context, max_age)
    if _COOKIE_SAFE.fullmatch(token) is None:  # never one of our tokens: let Starlette quote it
        _starlette_cookies(response, token, *shape)
        return
    frames = _FRAMES.get(shape)
    if frames is None:
        if len(_FRAMES) >= 64:  # paths come from mounts: a handful per process
            _FRAMES.clear()
        frames = _FRAMES[shape] = _frames(*shape)
    raw = token.encode()
    response.raw_headers.extend((b"set-cookie", before + raw + after) for before, after in frames)


def clear_voter_cookies(view: PublicView, response: Response) -> None:
    if not view.cross_site:
        response.delete_cookie(VOTER_COOKIE, path=view.cookie_path, secure=view.https, httponly=True, samesite="lax")
    if view.secure_context:
        _partitioned(response, "", view.cookie_path, 0)


def _starlette_cookies(
    response: Response, token: str, path: str, secure: bool, first_party: bool, partitioned: bool, max_age: int
) -> None:
    if first_party:
        response.set_cookie(
            VOTER_COOKIE, token, max_age=max_age, path=path, secure=secure, httponly=True, samesite="lax"
        )
    if partitioned:
        _partitioned(response, token, path, max_age)


def _frames(path: str, secure: bool, first_party: bool, partitioned: bool, max_age: int) -> list[tuple[bytes, bytes]]:
    """Starlette's Set-Cookie values for a probe token, split around it."""
    probe = Response()
    probe.raw_headers.clear()
    _starlette_cookies(probe, _PROBE, path, secure, first_party, partitioned, max_age)
    frames = []
    for _, value in probe.raw_headers:
        before, _, after = value.partition(_PROBE.encode())
        frames.append((before, after))
    return frames


def _partitioned(response: Response, token: str, path: str, max_age: int) -> None:
    """The CHIPS copy of the voter cookie (kept per top-level site; what a cross-site iframe gets).

    Starlette's own ``partitioned=`` needs Python 3.14's http.cookies, so the attribute is
    appended to the header Starlette has just built."""
    response.set_cookie(
        VOTER_COOKIE_PARTITIONED, token, max_age=max_age, path=path, secure=True, httponly=True, samesite="none"
    )
    name, value = response.raw_headers[-1]
    response.raw_headers[-1] = (name, value + b"; Partitioned")
