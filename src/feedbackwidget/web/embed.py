"""The iframe embed page (first cut; the widget issue owns this module)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from ..errors import FeedbackError
from ..sentiment import sentiment_object
from ..types import Tally
from .bodies import article_id as valid_article_id
from .runtime import runtime_of


def render_embed(
    request: Request,
    article_id: str,
    *,
    error: FeedbackError | None = None,
    status_code: int = 200,
    sentiment: dict[str, Any] | None = None,
) -> Response:
    rt = runtime_of(request)
    html = rt.templates.get_template("embed.html").render(
        prefix=rt.prefix(request),
        article_id=article_id,
        sentiment=sentiment or sentiment_object(Tally(article_id)),
        error=error,
        sitekey=rt.settings.hcaptcha_sitekey or "",
    )
    return HTMLResponse(html, status_code, headers={"Cache-Control": "no-store"})


async def embed_page(request: Request) -> Response:
    rt = runtime_of(request)
    aid = valid_article_id(request.path_params["article_id"])
    tally = await rt.store.tally(aid)
    reader = rt.reader(request)
    mine = await rt.store.vote_of(aid, rt.voter_key(reader.voter_id)) if reader else None
    return render_embed(request, aid, sentiment=sentiment_object(tally, mine))


ROUTES = [Route("/embed/{article_id:path}", embed_page, methods=["GET", "HEAD"])]
