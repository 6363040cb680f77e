"""Why not? An optional reason (and free text) a reader attaches to their "No".

Off unless ``REASONS`` is set. No captcha: the reason joins a vote that was
already verified, and only its owner (by voter token) can attach one.
"""

from __future__ import annotations

import unicodedata

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import InvalidRequest, NotFound
from ..types import MAX_REASON_TEXT
from .api import require_reader
from .bodies import article_id as valid_article_id
from .bodies import media_type, parse, read_body
from .responses import json_response
from .runtime import runtime_of


def _text(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_REASON_TEXT:
        raise InvalidRequest(f"text must be at most {MAX_REASON_TEXT} characters.")
    if any(unicodedata.category(ch) in ("Cc", "Cs") and ch != "\n" for ch in value):
        raise InvalidRequest("text must not contain control characters.")
    return value.strip() or None


async def give_reason(request: Request) -> Response:
    rt = runtime_of(request)
    voter, headers = require_reader(request, rt)
    settings = rt.settings
    data = parse(await read_body(request, limit=4096), media_type(request))
    aid = valid_article_id(data.get("article_id"))
    if not settings.reasons:
        raise InvalidRequest("This site does not ask for reasons.")
    reason = data.get("reason")
    if reason not in settings.reasons:
        raise InvalidRequest(f"reason must be one of: {', '.join(settings.reasons)}.")
    text = _text(data.get("text"))
    if text is not None and not settings.reason_text:
        raise InvalidRequest("This site does not take free text with a reason.")
    if not await rt.store.set_reason(aid, voter, reason, text, rt.clock()):
        raise NotFound('You have no "No" vote on this article to give a reason for.')
    return json_response({"article_id": aid, "reason": reason, "text": text}, headers=headers)


ROUTES = [Route("/api/v1/reasons", give_reason, methods=["POST"])]
