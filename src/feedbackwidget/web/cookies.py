"""The voter cookies: a first-party one, and a partitioned (CHIPS) copy for cross-site iframes.

A vote answers with both, so their bytes are made once per shape (path, secure,
partitioned, lifetime) by Starlette itself and reused around each new token.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response

from .runtime import VOTER_COOKIE, VOTER_COOKIE_PARTITIONED, Runtime

#: What a voter token is made of (URL-safe base64 and dots): nothing ``http.cookies`` quotes.
_COOKIE_SAFE = re.compile(r"[A-Za-z0-9_.\-]{1,512}")
_PROBE = "0PROBE0TOKEN0"
_FRAMES: dict[tuple[str, bool, bool, int], list[tuple[bytes, bytes]]] = {}


def secure_context(request: Request) -> bool:
    """https, or a loopback server (browsers treat those as secure, so tests can use CHIPS)."""
    server = request.scope.get("server") or ("",)
    return request.scope.get("scheme", "http") == "https" or server[0] in ("127.0.0.1", "::1", "localhost")


def set_voter_cookie(request: Request, rt: Runtime, response: Response, token: str) -> None:
    """Hand the reader their voter token as cookies (both, in a secure context)."""
    path = (rt.prefix(request) or "") + "/"
    # https as the server saw it, or behind a TLS-terminating proxy that PUBLIC_URL names
    secure = request.scope.get("scheme", "http") == "https" or rt.settings.public_url.startswith("https://")
    shape = (path, secure, secure_context(request), rt.tokens.voter_max_age)
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


def clear_voter_cookies(request: Request, rt: Runtime, response: Response) -> None:
    path = (rt.prefix(request) or "") + "/"
    response.delete_cookie(VOTER_COOKIE, path=path)
    if secure_context(request):
        _partitioned(response, "", path, 0)


def _starlette_cookies(
    response: Response, token: str, path: str, secure: bool, partitioned: bool, max_age: int
) -> None:
    response.set_cookie(
        VOTER_COOKIE, token, max_age=max_age, path=path, secure=secure, httponly=True, samesite="lax"
    )
    if partitioned:
        _partitioned(response, token, path, max_age)


def _frames(path: str, secure: bool, partitioned: bool, max_age: int) -> list[tuple[bytes, bytes]]:
    """Starlette's Set-Cookie values for a probe token, split around it."""
    probe = Response()
    probe.raw_headers.clear()
    _starlette_cookies(probe, _PROBE, path, secure, partitioned, max_age)
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
