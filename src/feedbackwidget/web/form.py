"""The embed page's own form post: a vote from a page without our script's help.

The same vote as the JSON API (``service.cast``), answered as a browser
navigation expects: ``303`` back to the article's embed page (or to a
``return_to`` on our own or an allowed origin — never an open redirect), and a
refused vote rendered on that page with the reason, not as JSON. A forbidden
origin gets the JSON error: a foreign page gets no page of ours.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..errors import FeedbackError, ForbiddenOrigin, RateLimited
from .bodies import read_fields
from .context import RequestContext, context
from .cookies import set_voter_cookie
from .embed import render_embed
from .errors import status_of
from .origin import is_allowed, own_origins


async def form_vote(request: Request) -> Response:
    ctx = context(request)
    fields: dict[str, Any] = {}

    async def read() -> dict[str, Any]:
        fields.update(await read_fields(request))
        return fields

    try:
        voted = await ctx.runtime.service.cast(ctx.caller, read)
    except ForbiddenOrigin:
        raise
    except FeedbackError as error:
        article = fields.get("article_id")
        page = render_embed(request, article if isinstance(article, str) else "", error=error,
                            status_code=status_of(error))
        if isinstance(error, RateLimited):
            page.headers["Retry-After"] = str(error.retry_after)
        return page
    response = RedirectResponse(_return_to(ctx, voted.return_to, voted.article_id), 303)
    set_voter_cookie(ctx.public, response, voted.token)
    return response


def _return_to(ctx: RequestContext, wanted: str | None, article_id: str) -> str:
    fallback = f"{ctx.public.prefix}{ctx.runtime.site_path}/embed/{quote(article_id, safe='')}"  # on its site
    if not wanted or "\\" in wanted or any(ord(c) < 32 for c in wanted):
        return fallback
    parts = urlsplit(wanted)
    if not parts.scheme and not parts.netloc and wanted.startswith("/") and not wanted.startswith("//"):
        return wanted
    origin = f"{parts.scheme}://{parts.netloc.lower()}"
    settings = ctx.runtime.settings
    if parts.scheme in ("http", "https") and (
        origin in own_origins(ctx.request, settings) or is_allowed(origin, settings)
    ):
        return wanted
    return fallback



