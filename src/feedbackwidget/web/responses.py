"""Small, fast response helpers: ready bytes and raw headers (errors: ``web/errors.py``)."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


class Prepared(Response):
    """A response built from ready bytes and raw headers.

    Starlette's ``Response.__init__`` renders the content and rebuilds the header
    list on every call; the hot paths already hold both, so this skips that work.
    It is a full :class:`Response` otherwise (``set_cookie``, ``headers``).
    """

    def __init__(self, body: bytes, status_code: int, raw_headers: list[tuple[bytes, bytes]]) -> None:
        self.status_code = status_code
        self.body = body
        self.background = None
        self.raw_headers = raw_headers


def raw_headers(
    headers: dict[str, str] | None, body: bytes, status: int, media_type: bytes
) -> list[tuple[bytes, bytes]]:
    """The header list Starlette's ``Response`` would build: given headers first (lower-cased
    names), then Content-Length and Content-Type unless given."""
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()] if headers else []
    names = {name for name, _ in raw} if raw else ()
    if b"content-length" not in names and not (status < 200 or status in (204, 304)):
        raw.append((b"content-length", str(len(body)).encode()))
    if b"content-type" not in names:
        raw.append((b"content-type", media_type))
    return raw


def json_bytes(data: Any) -> bytes:
    return _dumps(data).encode()


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = _dumps(data).encode()
    return Prepared(body, status, raw_headers(headers, body, status, b"application/json"))
