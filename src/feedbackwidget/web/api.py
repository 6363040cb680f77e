"""The JSON API for readers: votes in, sentiment out.

Each handler parses, calls the service (``feedbackwidget.service``), and
answers; errors go up to the one table in ``web/errors.py``. The no-JavaScript
form post lives in ``web/form.py``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from .. import export, i18n, validate
from ..errors import ForbiddenOrigin, InvalidRequest, StoreUnavailable, Unauthorized
from ..tokens import VoterToken
from ..types import ORDERS, Tally
from . import admin, form
from .bodies import is_form, read_fields
from .context import RequestContext, context, may_name_a_reader
from .cookies import clear_voter_cookies, set_voter_cookie
from .responses import Prepared, json_bytes, json_response, raw_headers
from .runtime import Runtime, runtime_of

PUBLIC_TALLY_CACHE = "public, max-age=5, stale-while-revalidate=30"
_PUBLIC_TALLY_HEADERS = {"Cache-Control": PUBLIC_TALLY_CACHE, "Access-Control-Allow-Origin": "*"}


# With several sites a tally read without ?site= is the site its Origin belongs to: caches
# must keep one answer per origin.
_PUBLIC_TALLY_HEADERS_SITES = {**_PUBLIC_TALLY_HEADERS, "Vary": "Origin"}


def _public_tally_headers(runtime: Runtime) -> dict[str, str]:
    return _PUBLIC_TALLY_HEADERS_SITES if runtime.sites.named else _PUBLIC_TALLY_HEADERS


def _private(ctx: RequestContext) -> dict[str, str]:
    return {**ctx.cors, "Cache-Control": "no-store"}


async def cast_vote(request: Request) -> Response:
    if is_form(request):
        return await form.form_vote(request)
    ctx = context(request)
    voted = await ctx.runtime.service.cast(ctx.caller, partial(read_fields, request))
    body = {
        "article_id": voted.article_id,
        "vote": voted.vote,
        "changed": voted.changed,
        "voter": voted.token,
        "sentiment": ctx.runtime.service.sentiment(voted.tally, voted.vote),
        **ctx.runtime.site_field,
    }
    response = json_response(body, headers=_private(ctx))
    set_voter_cookie(ctx.public, response, voted.token)
    return response


def _with_language(body: dict[str, Any], lang: str | None) -> dict[str, Any]:
    """Add the reader's language strings when asked (``lang``), so a page view needs one request."""
    if lang:
        body.update(i18n.client_bundle(lang))
    return body


async def get_article(request: Request) -> Response:
    """Public tally; anonymous answers are CDN-cacheable, a reader's own answer is private."""
    scope = request.scope
    aid = validate.article_id(request.path_params["article_id"])
    lang = validate.lang(request.query_params.get("lang")) if scope.get("query_string") else None
    if may_name_a_reader(scope):  # the busiest request, an anonymous read, builds no context
        ctx = context(request)
        if ctx.reader is not None:  # a reader's own answer is always read fresh
            return await _own_sentiment(ctx, aid, ctx.reader, await ctx.runtime.service.tally(aid), lang)
    runtime: Runtime = scope["feedbackwidget"]
    service = runtime.service
    # The answer depends on the language only through the one it resolves to: at most one
    # cache entry per supported language, whatever a client puts in ?lang=.
    key = i18n.negotiate(lang) if lang else None
    cached = service.tallies.get(aid, key)
    if cached is not None:
        return Prepared(cached[0], 200, list(cached[1]))
    changes = service.tallies.changes
    body = json_bytes(_with_language({**service.sentiment(await service.tally(aid)), **runtime.site_field}, key))
    headers = raw_headers(_public_tally_headers(runtime), body, 200, b"application/json")
    service.tallies.put(aid, key, (body, tuple(headers)), changes)
    return Prepared(body, 200, headers)


async def _own_sentiment(
    ctx: RequestContext, aid: str, reader: VoterToken, tally: Tally, lang: str | None
) -> Response:
    service = ctx.runtime.service
    body = _with_language({**service.sentiment(tally, await service.own_vote(aid, reader)),
                           **ctx.runtime.site_field}, lang)
    if reader.reissue:
        body["voter"] = reader.reissue
    response = json_response(body, headers={**ctx.cors, "Cache-Control": "private, no-store"})
    if reader.reissue:
        set_voter_cookie(ctx.public, response, reader.reissue)
    return response


async def post_sentiment(request: Request) -> Response:
    """A reader's own view of an article as a CORS-simple request (``text/plain`` JSON body
    with the voter token), so a returning reader costs one request and no preflight."""
    ctx = context(request)
    if not ctx.caller.origin_allowed:
        raise ForbiddenOrigin()
    service = ctx.runtime.service
    data = await read_fields(request, limit=4096, plain_is_json=True)
    aid = validate.article_id(data.get("article_id"))
    token = data.get("voter")
    reader = service.reader(token if isinstance(token, str) else None) or ctx.reader
    tally, lang = await service.tally(aid), validate.lang(data.get("lang"))
    if reader is None:
        body = {**service.sentiment(tally), **ctx.runtime.site_field}
        return json_response(_with_language(body, lang), headers=_private(ctx))
    return await _own_sentiment(ctx, aid, reader, tally, lang)


async def withdraw_vote(request: Request) -> Response:
    ctx = context(request)
    service = ctx.runtime.service
    aid = request.path_params["article_id"]
    tally = await service.withdraw(ctx.caller, aid)
    body = {"article_id": aid, "vote": None, "changed": True, "sentiment": service.sentiment(tally),
            **ctx.runtime.site_field}
    return json_response(body, headers=_private(ctx))


async def erase_voter(request: Request) -> Response:
    ctx = context(request)
    articles = await ctx.runtime.service.erase(ctx.caller)
    response = json_response({"erased": len(articles), "article_ids": articles}, headers=_private(ctx))
    clear_voter_cookies(ctx.public, response)
    return response


async def give_reason(request: Request) -> Response:
    """Why not? A reason (and free text) the reader attaches to their "No" (off unless REASONS
    is set). No captcha: it joins a vote already verified, and only its owner can attach one."""
    ctx = context(request)
    aid, reason, text = await ctx.runtime.service.give_reason(ctx.caller, partial(read_fields, request, 4096))
    return json_response({"article_id": aid, "reason": reason, "text": text}, headers=_private(ctx))


async def healthz(request: Request) -> Response:
    """``ok``; ``degraded`` (200: tallies are served, votes are not) when our own captcha
    configuration is wrong, naming the cause; ``unavailable`` (503) when the store does not answer."""
    runtime = runtime_of(request)
    try:
        trouble = await runtime.service.healthy()
        if runtime.sites.named:  # any site whose votes cannot be taken makes the server degraded
            troubles = [f"site {other.site.id}: {other.verifier.trouble}"
                        for other in runtime.shared.runtimes.values() if other.verifier.trouble]
            trouble = "; ".join(troubles) or None
    except StoreUnavailable as error:
        body = {"status": "unavailable", "error": error.code, "detail": error.detail}
        return json_response(body, 503, {"Cache-Control": "no-store"})
    if trouble is not None:
        body = {"status": "degraded", "error": "captcha_unavailable", "detail": trouble}
        return json_response(body, headers={"Cache-Control": "no-store"})
    return json_response({"status": "ok"}, headers={"Cache-Control": "no-store"})


# -- token-protected reads ---------------------------------------------------


def require_export_token(request: Request, rt: Runtime) -> None:
    """Bearer EXPORT_TOKEN (compared in constant time) or the dashboard's session cookie."""
    if not rt.service.dashboard_tokens:
        raise Unauthorized("Exports, the listing and the dashboard are disabled (no EXPORT_TOKEN is set).")
    if not admin.is_authorised(request):
        raise Unauthorized("A valid export token is required (Authorization: Bearer …).")


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19) or not low <= int(raw) <= high:
        raise InvalidRequest(f"{name} must be a whole number from {low} to {high}.")
    return int(raw)


def _choice(request: Request, name: str, choices: tuple[str, ...], default: str) -> str:
    value = request.query_params.get(name) or default
    if value not in choices:
        raise InvalidRequest(f"{name} must be one of: {', '.join(choices)}.")
    return value


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


async def list_articles(request: Request) -> Response:
    rt = runtime_of(request)
    require_export_token(request, rt)
    order = _choice(request, "order", ORDERS, "wilson")
    limit = _int(request, "limit", 50, 1, 1000)
    offset = _int(request, "offset", 0, 0, 10**9)
    # Keyset pagination: after=ARTICLE_ID starts just past that article's place in the order
    # (an index range however deep the page); offset then counts from there.
    after = validate.article_id(request.query_params["after"]) if "after" in request.query_params else None
    rows = await rt.store.articles(order, limit, offset, after)  # type: ignore[arg-type]
    items: list[dict[str, Any]] = []
    for row in rows:
        item = rt.service.sentiment(Tally(row.article_id, row.up, row.down))
        item.update(
            title=row.title,
            first_vote_at=_iso(row.first_vote_at),
            last_vote_at=_iso(row.last_vote_at),
        )
        items.append(item)
    return json_response(
        {
            "order": order, "limit": limit, "offset": offset, "after": after, "articles": items,
            "next_after": items[-1]["article_id"] if len(items) == limit else None,
        },
        headers={"Cache-Control": "no-store"},
    )


async def export_rows(request: Request) -> Response:
    rt = runtime_of(request)
    require_export_token(request, rt)
    query = rt.service.export_query(export.ExportQuery.from_params(request.query_params))
    chunks = rt.service.export(query)
    first = await anext(chunks, None)  # a store failure is still a JSON 503 here, before any byte is sent

    async def replay() -> AsyncIterator[bytes]:
        if first is not None:
            yield first
            async for chunk in chunks:
                yield chunk

    return StreamingResponse(
        replay(),
        media_type=query.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{query.filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


ROUTES = [
    Route("/api/v1/votes", cast_vote, methods=["POST"]),
    Route("/api/v1/votes/{article_id:path}", withdraw_vote, methods=["DELETE"]),
    Route("/api/v1/voters/me", erase_voter, methods=["DELETE"]),
    Route("/api/v1/sentiment", post_sentiment, methods=["POST"]),
    Route("/api/v1/reasons", give_reason, methods=["POST"]),
    Route("/api/v1/articles", list_articles, methods=["GET"]),
    Route("/api/v1/articles/{article_id:path}", get_article, methods=["GET"]),
    Route("/api/v1/export", export_rows, methods=["GET"]),
    Route("/healthz", healthz, methods=["GET"]),
]
