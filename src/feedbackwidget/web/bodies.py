"""Reading and validating vote bodies: bounded, strict, never a 500."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from ..errors import CaptchaRequired, InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from ..types import MAX_ARTICLE_ID, MAX_TITLE, MAX_VERSION, VOTES, Vote

MAX_BODY = 16 * 1024
MAX_CAPTCHA_TOKEN = 8192


@dataclass(frozen=True, slots=True)
class VoteRequest:
    article_id: str
    vote: Vote
    captcha_token: str
    title: str | None
    version: str | None
    signed: str | None
    return_to: str | None


#: Unicode's control characters (category Cc) and surrogates (Cs), as one character class.
_UNCLEAN = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _clean(value: str) -> bool:
    """True when there is no control character or lone surrogate in ``value``."""
    return _UNCLEAN.search(value) is None


def article_id(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_ARTICLE_ID or not _clean(value):
        raise InvalidRequest(f"article_id must be 1 to {MAX_ARTICLE_ID} characters without control characters.")
    return value


def _optional(data: dict[str, Any], name: str, limit: int) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > limit or not _clean(value):
        raise InvalidRequest(f"{name} must be text of at most {limit} characters without control characters.")
    return value


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
    """Decode a JSON or form body into a flat dict; 400/415 for anything else."""
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


def vote_request(data: dict[str, Any]) -> VoteRequest:
    aid = article_id(data.get("article_id"))
    vote = data.get("vote")
    if vote not in VOTES:
        raise InvalidRequest('vote must be "up" or "down".')
    title = _optional(data, "title", MAX_TITLE)
    version = _optional(data, "version", MAX_VERSION)
    signed = _optional(data, "signed", 4096)
    return_to = _optional(data, "return_to", 2048)
    token = data.get("captcha_token")
    if token is None or token == "":
        raise CaptchaRequired()
    if not isinstance(token, str) or len(token) > MAX_CAPTCHA_TOKEN or not _clean(token):
        raise InvalidRequest("captcha_token must be the text the captcha gave.")
    return VoteRequest(aid, vote, token, title, version, signed, return_to)
