"""The JSON API: votes in, sentiment out.

A vote flows one way: origin check → body → rate limit → captcha → store →
sentiment → response. Nothing is written before the captcha says yes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from .. import export, i18n
from ..errors import (
    FeedbackError,
    ForbiddenOrigin,
    InvalidRequest,
    NotFound,
    RateLimited,
    StoreUnavailable,
    Unauthorized,
)
from ..tokens import VoterToken, client_key
from ..types import MAX_ARTICLE_ID, Cast, Tally, Vote
from . import admin, embed
from .bodies import article_id as valid_article_id
from .bodies import is_form, media_type, parse, read_body, vote_request
from .cookies import clear_voter_cookies, set_voter_cookie
from .origin import check_origin, client_address, cors_headers, is_allowed, origin_status, own_origins
from .refusals import KINDS as REFUSALS
from .responses import Prepared, error_response, json_bytes, json_response, raw_headers
from .runtime import Runtime, runtime_of

PUBLIC_TALLY_CACHE = "public, max-age=5, stale-while-revalidate=30"
_PUBLIC_TALLY_HEADERS = {"Cache-Control": PUBLIC_TALLY_CACHE, "Access-Control-Allow-Origin": "*"}




async def cast_vote(request: Request) -> Response:
    rt = runtime_of(request)
    form = is_form(request)
    data: dict[str, Any] = {}
    try:
        status = check_origin(request, rt.settings)
        body = await read_body(request)
        data = parse(body, media_type(request))
        ask = vote_request(data)
        reader = rt.reader(request)
        address = client_address(request)
        await rt.limiter.check(client_key(rt.secret, address))
        await rt.verifier.verify(ask.captcha_token, address)

        if reader is None:
            token, voter_id = rt.tokens.new_voter()
        else:
            voter_id, token = reader.voter_id, reader.current
        vouched = rt.tokens.embed(ask.signed, ask.article_id)
        title, version = vouched if vouched else (ask.title, ask.version)
        result = await rt.store.cast(
            Cast(
                article_id=ask.article_id,
                voter=rt.voter_key(voter_id),
                vote=ask.vote,
                at=rt.clock(),
                version=version,
                title=title,
                title_trusted=vouched is not None and title is not None,
            )
        )
        rt.forget(ask.article_id)
    except FeedbackError as error:
        article = data.get("article_id")
        if error.code in REFUSALS:  # counted for the abuse view; answered once the count is written
            known = isinstance(article, str) and len(article) <= MAX_ARTICLE_ID
            await rt.refusal_flusher.written(rt.refusal_flusher.count(article if known else None, error.code))
        if form and not isinstance(error, ForbiddenOrigin):  # a foreign page gets no page of ours
            page = embed.render_embed(
                request, article if isinstance(article, str) else "", error=error, status_code=error.status
            )
            if isinstance(error, RateLimited):
                page.headers["Retry-After"] = str(error.retry_after)
            return page
        headers = cors_headers(request, origin_status(request, rt.settings)) if error.code != "forbidden_origin" else {}
        return error_response(error, headers)

    if form:
        response: Response = RedirectResponse(_return_to(request, rt, ask.return_to, ask.article_id), 303)
    else:
        response = json_response(
            {
                "article_id": ask.article_id,
                "vote": ask.vote,
                "changed": result.changed,
                "voter": token,
                "sentiment": rt.sentiment(result.tally, ask.vote),
            },
            headers={**cors_headers(request, status), "Cache-Control": "no-store"},
        )
    set_voter_cookie(request, rt, response, token)
    return response


def _return_to(request: Request, rt: Runtime, wanted: str | None, article_id: str) -> str:
    fallback = f"{rt.prefix(request)}/embed/{quote(article_id, safe='')}"
    if not wanted or "\\" in wanted or any(ord(c) < 32 for c in wanted):
        return fallback
    parts = urlsplit(wanted)
    if not parts.scheme and not parts.netloc and wanted.startswith("/") and not wanted.startswith("//"):
        return wanted
    origin = f"{parts.scheme}://{parts.netloc.lower()}"
    if parts.scheme in ("http", "https") and (
        origin in own_origins(request, rt.settings) or is_allowed(origin, rt.settings)
    ):
        return wanted
    return fallback


def _with_language(request: Request, body: dict[str, Any], lang: Any) -> dict[str, Any]:
    """Add the reader's language strings when asked (``lang``), so a page view needs one request."""
    if isinstance(lang, str) and lang:
        body.update(i18n.client_bundle(lang[:35]))
    return body


def _may_name_a_reader(request: Request) -> bool:
    """False when the request has neither a voter header nor any cookie (most page views):
    then there is no token to verify, and no header or cookie object needs building."""
    return any(name in (b"cookie", b"x-feedback-voter") for name, _ in request.scope["headers"])


async def get_article(request: Request) -> Response:
    """Public tally; anonymous answers are CDN-cacheable, a reader's own answer is private."""
    rt = runtime_of(request)
    aid = valid_article_id(request.path_params["article_id"])
    reader = rt.reader(request) if _may_name_a_reader(request) else None
    if reader is not None:  # a reader's own answer is always read fresh
        tally = await rt.store.tally(aid)
        return await _own_sentiment(request, rt, aid, reader, tally, request.query_params.get("lang"))
    lang = request.query_params.get("lang") if request.scope.get("query_string") else None
    # The answer depends on the language only through the one it resolves to: at most one
    # cache entry per supported language, whatever a client puts in ?lang=.
    key = i18n.negotiate(lang[:35]) if lang else None
    cached = rt.cached_tally(aid, key)
    if cached is not None:
        return Prepared(cached[0], 200, list(cached[1]))
    changes = rt.changes
    tally = await rt.store.tally(aid)
    body = json_bytes(_with_language(request, rt.sentiment(tally), key))
    headers = raw_headers(_PUBLIC_TALLY_HEADERS, body, 200, b"application/json")
    rt.remember_tally(aid, key, body, tuple(headers), changes)
    return Prepared(body, 200, headers)


async def _own_sentiment(
    request: Request, rt: Runtime, aid: str, reader: VoterToken, tally: Tally, lang: Any
) -> Response:
    mine: Vote | None = await rt.store.vote_of(aid, rt.voter_key(reader.voter_id))
    body = _with_language(request, rt.sentiment(tally, mine), lang)
    status = origin_status(request, rt.settings)
    headers = {**cors_headers(request, status), "Cache-Control": "private, no-store"}
    if reader.reissue:
        body["voter"] = reader.reissue
    response = json_response(body, headers=headers)
    if reader.reissue:
        set_voter_cookie(request, rt, response, reader.reissue)
    return response


async def post_sentiment(request: Request) -> Response:
    """A reader's own view of an article as a CORS-simple request (``text/plain`` JSON body
    with the voter token), so a returning reader costs one request and no preflight."""
    rt = runtime_of(request)
    check_origin(request, rt.settings)
    body = await read_body(request, limit=4096)
    kind = media_type(request)
    data = parse(body, "application/json" if kind in ("text/plain", "") else kind)
    aid = valid_article_id(data.get("article_id"))
    token = data.get("voter")
    reader = rt.tokens.voter(token if isinstance(token, str) else None) or rt.reader(request)
    tally = await rt.store.tally(aid)
    if reader is None:
        status = origin_status(request, rt.settings)
        body_ = _with_language(request, rt.sentiment(tally), data.get("lang"))
        return json_response(body_, headers={**cors_headers(request, status), "Cache-Control": "no-store"})
    return await _own_sentiment(request, rt, aid, reader, tally, data.get("lang"))


def require_reader(request: Request, rt: Runtime) -> tuple[str, dict[str, str]]:
    status = check_origin(request, rt.settings)
    reader = rt.reader(request)
    if reader is None:
        raise Unauthorized("This needs your voter token (the X-Feedback-Voter header or the cookie).")
    return rt.voter_key(reader.voter_id), {**cors_headers(request, status), "Cache-Control": "no-store"}


async def withdraw_vote(request: Request) -> Response:
    rt = runtime_of(request)
    aid = valid_article_id(request.path_params["article_id"])
    voter, headers = require_reader(request, rt)
    tally = await rt.store.withdraw(aid, voter, rt.clock())
    rt.forget(aid)
    if tally is None:
        raise NotFound("You have no vote on this article.")
    return json_response(
        {"article_id": aid, "vote": None, "changed": True, "sentiment": rt.sentiment(tally)}, headers=headers
    )


async def erase_voter(request: Request) -> Response:
    rt = runtime_of(request)
    voter, headers = require_reader(request, rt)
    articles = await rt.store.erase(voter, rt.clock())
    rt.forget(*articles)
    response = json_response({"erased": len(articles), "article_ids": articles}, headers=headers)
    clear_voter_cookies(request, rt, response)
    return response


# -- token-protected reads ---------------------------------------------------


def require_export_token(request: Request, rt: Runtime) -> None:
    """Bearer EXPORT_TOKEN (compared in constant time) or the dashboard's session cookie."""
    if not rt.settings.export_token:
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
    order = _choice(request, "order", ("wilson", "total", "recent"), "wilson")
    limit = _int(request, "limit", 50, 1, 1000)
    offset = _int(request, "offset", 0, 0, 10**9)
    rows = await rt.store.articles(order, limit, offset)  # type: ignore[arg-type]
    items: list[dict[str, Any]] = []
    for row in rows:
        item = rt.sentiment(Tally(row.article_id, row.up, row.down))
        item.update(
            title=row.title,
            first_vote_at=_iso(row.first_vote_at),
            last_vote_at=_iso(row.last_vote_at),
        )
        items.append(item)
    return json_response(
        {"order": order, "limit": limit, "offset": offset, "articles": items}, headers={"Cache-Control": "no-store"}
    )


async def export_rows(request: Request) -> Response:
    rt = runtime_of(request)
    require_export_token(request, rt)
    query = export.ExportQuery.from_params(request.query_params)
    chunks = export.encoded(rt.store, query)
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


async def healthz(request: Request) -> Response:
    """``ok``; ``degraded`` (200: tallies are served, votes are not) when our own captcha
    configuration is wrong, naming the cause; ``unavailable`` (503) when the store does not answer."""
    rt = runtime_of(request)
    try:
        await rt.store.ping()
    except StoreUnavailable as error:
        return json_response(
            {"status": "unavailable", "error": error.code, "detail": error.detail}, 503, {"Cache-Control": "no-store"}
        )
    trouble = rt.verifier.trouble
    if trouble is not None:
        body = {"status": "degraded", "error": "captcha_unavailable", "detail": trouble}
        return json_response(body, headers={"Cache-Control": "no-store"})
    return json_response({"status": "ok"}, headers={"Cache-Control": "no-store"})


ROUTES = [
    Route("/api/v1/votes", cast_vote, methods=["POST"]),
    Route("/api/v1/votes/{article_id:path}", withdraw_vote, methods=["DELETE"]),
    Route("/api/v1/voters/me", erase_voter, methods=["DELETE"]),
    Route("/api/v1/sentiment", post_sentiment, methods=["POST"]),
    Route("/api/v1/articles", list_articles, methods=["GET"]),
    Route("/api/v1/articles/{article_id:path}", get_article, methods=["GET"]),
    Route("/api/v1/export", export_rows, methods=["GET"]),
    Route("/healthz", healthz, methods=["GET"]),
]
