"""Reading request bodies: bounded while streaming, strictly decoded, never a 500.

What the fields mean is the service's business (``feedbackwidget.validate``);
here a body becomes a flat dict, or a domain error.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from ..errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType

MAX_BODY = 16 * 1024


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()) or len(declared) > 19:
            raise InvalidRequest("Content-Length is not a number.")
        if int(declared) > limit:
            raise PayloadTooLarge(f"The body is larger than {limit} bytes.")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The body is larger than {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def is_form(request: Request) -> bool:
    return media_type(request) == "application/x-www-form-urlencoded"


def parse(body: bytes, kind: str) -> dict[str, Any]:
    """Decode a JSON or form body into a flat dict; InvalidRequest or UnsupportedMediaType otherwise.

    A form's ``h-captcha-response`` (what hCaptcha's widget names its answer) is also
    ``captcha_token``, the JSON API's name for it.
    """
    if kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json")):
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            raise InvalidRequest("The body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise InvalidRequest("The body must be a JSON object.")
        return data
    if kind == "application/x-www-form-urlencoded":
        try:
            text = body.decode("utf-8")
            pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=32, errors="strict")
        except (UnicodeDecodeError, ValueError):
            raise InvalidRequest("The form is not valid UTF-8 URL-encoded data.") from None
        form: dict[str, Any] = {}
        for key, value in pairs:
            form.setdefault(key, value)
        form.setdefault("captcha_token", form.get("h-captcha-response"))
        return form
    raise UnsupportedMediaType()


async def read_fields(request: Request, limit: int = MAX_BODY, *, plain_is_json: bool = False) -> dict[str, Any]:
    """The body's fields; ``plain_is_json`` reads ``text/plain`` (and no type) as JSON, which is
    how a CORS-simple request (no preflight) carries it."""
    body = await read_body(request, limit)
    kind = media_type(request)
    if plain_is_json and kind in ("text/plain", ""):
        kind = "application/json"
    return parse(body, kind)
