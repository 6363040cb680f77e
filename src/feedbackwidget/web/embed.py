"""``GET /embed/{article_id}``: the server-rendered widget for an ``<iframe>``.

The page is a real ``<form method="post">`` (question, Yes/No, tally) in the reader's
language; ``widget.js`` enhances that same form in place (captcha, fetch, live updates), so
the page always shows one set of buttons. Without JavaScript it says plainly that voting
needs it. Its CSP allows only the widget's own origin and the captcha's, and
``frame-ancestors`` only the publisher origins in ALLOWED_ORIGINS — with several sites, those of
the site the URL names (``?site=``), so a page may frame only its own site's widget.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from .. import i18n, validate
from ..config import Settings
from ..errors import FeedbackError
from .assets import captcha_sources
from .context import context
from .errors import status_of


def content_security_policy(settings: Settings) -> str:
    captcha = captcha_sources(settings.hcaptcha_js_url)
    origins = settings.allowed_origins
    ancestors = "*" if "*" in origins else " ".join(["'self'", *origins])
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src 'self' {captcha}",
            f"style-src 'self' {captcha}",
            f"connect-src 'self' {captcha}",
            f"frame-src {captcha}",
            f"img-src 'self' data: {captcha}",
            "form-action 'self'",
            "base-uri 'none'",
            f"frame-ancestors {ancestors}",
        ]
    )


def render_embed(
    request: Request,
    article_id: str,
    *,
    error: FeedbackError | None = None,
    status_code: int = 200,
    sentiment: dict[str, Any] | None = None,
) -> Response:
    """The embed page; ``error`` (a refused form vote) is shown in the reader's language.

    Without ``sentiment`` the page shows no numbers (never a tally the server did not just
    read) and the script loads them.
    """
    ctx = context(request)
    rt = ctx.runtime
    # The page's language, else its site's, else the reader's.
    lang = i18n.negotiate(request.query_params.get("lang") or rt.site.lang, request.headers.get("accept-language"))
    m = i18n.messages(lang)
    mine = sentiment.get("your_vote") if sentiment else None
    tally = ""
    if sentiment:
        tally = m["tally"].replace("{up}", str(sentiment["up"])).replace("{down}", str(sentiment["down"]))
    status_key = i18n.error_key(error.code, status_of(error)) if error else ""
    status = m[status_key] if error else ""
    html = rt.templates.get_template("embed.html").render(
        prefix=ctx.public.prefix,
        article_id=article_id,
        lang=lang,
        dir=m["dir"],
        m=m,
        mine=mine,
        tally=tally,
        status=status,
        status_key=status_key,
        form=True,
        site=rt.site.id if rt.sites.named else None,
        messages_json=json.dumps(i18n.client_messages(lang), ensure_ascii=False, separators=(",", ":")),
        sentiment_json=json.dumps(sentiment, separators=(",", ":")) if sentiment else None,
    )
    headers = {
        "Cache-Control": "no-store",
        "Content-Security-Policy": content_security_policy(rt.settings),
        "Referrer-Policy": "same-origin",  # "no-referrer" would make the form post say Origin: null
        "X-Content-Type-Options": "nosniff",
    }
    return HTMLResponse(html, status_code, headers=headers)


async def embed_page(request: Request) -> Response:
    ctx = context(request)
    service = ctx.runtime.service
    aid = validate.article_id(request.path_params["article_id"])
    tally, mine = await service.tally(aid), await service.own_vote(aid, ctx.reader)
    return render_embed(request, aid, sentiment=service.sentiment(tally, mine))


ROUTES = [Route("/embed/{article_id:path}", embed_page, methods=["GET", "HEAD"])]
