"""``GET /api/v1/openapi.json``: an OpenAPI 3.1 description of every route of the widget.

Written by hand, next to the route table, from what the handlers answer: the
contract's JSON error (``{"error", "detail"}``) for every refusal, the HTML a
browser gets where a page answers (the embed page's form post, the
dashboard), the exact media types. ``tests/web/test_openapi.py`` compares its
paths and methods with :data:`~feedbackwidget.web.routes.ROUTES`, and a
schemathesis run against a live server holds the server to it.

``HEAD`` is not listed: every ``GET`` route answers it too, as HTTP says.
Servers are relative (``servers: [{"url": "."}]``), so the description is
true under any mount prefix.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import version
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..export_query import MEDIA_TYPES
from ..metrics import CONTENT_TYPE as METRICS_TYPE
from ..types import EXPORT_FORMATS, EXPORT_KINDS, MAX_ARTICLE_ID, MAX_TITLE, MAX_VERSION, ORDERS, VOTES
from .admin_session import SESSION_COOKIE
from .context import VOTER_COOKIE, VOTER_HEADER
from .responses import json_bytes

Json = dict[str, Any]
#: Every error code of the contract (and ``internal_error``, which no input should produce).
ERROR_CODES = [
    "invalid_request", "captcha_required", "captcha_failed", "forbidden_origin", "unauthorized", "not_found",
    "method_not_allowed", "payload_too_large", "unsupported_media_type", "rate_limited", "captcha_unavailable",
    "store_unavailable", "internal_error",
]
_ERROR_TEXT = {
    400: "Malformed request (`invalid_request`, `captcha_required`).",
    401: "Missing or wrong token (`unauthorized`).",
    403: "Refused: `forbidden_origin`, or `captcha_failed` for a vote.",
    404: "`not_found`.",
    413: "Body over the limit, chunked bodies included (`payload_too_large`).",
    415: "Body neither JSON nor a form (`unsupported_media_type`).",
    429: "Too many attempts from this address (`rate_limited`); see `Retry-After`.",
    503: "`store_unavailable` or `captcha_unavailable`; nothing was stored.",
}
HTML = {"text/html": {"schema": {"type": "string"}}}


def _ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: Json) -> Json:
    return {"application/json": {"schema": schema}}


def _errors(*statuses: int, html: bool = False) -> Json:
    """Error answers by status: the contract's JSON, or also an HTML page (``html``)."""
    answers: Json = {}
    for status in statuses:
        content = {**_json(_ref("Error")), **(HTML if html else {})}
        answer: Json = {"description": _ERROR_TEXT[status], "content": content}
        if status == 429:
            answer["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}}
        answers[str(status)] = answer
    return answers


def _ok(content: Json, description: str = "OK") -> Json:
    return {"description": description, "content": content}


def _redirect(description: str) -> Json:
    return {"description": description, "headers": {"Location": {"schema": {"type": "string"}}}}


ARTICLE_PARAM: Json = {
    "name": "article_id", "in": "path", "required": True, "description": "The article id, percent-encoded.",
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_ARTICLE_ID},
}
LANG_PARAM: Json = {"name": "lang", "in": "query", "required": False, "description": "A BCP 47 language tag.",
              "schema": {"type": "string"}}
SITE_PARAM: Json = {
    "name": "site", "in": "query", "required": False,
    "description": "Several sites on one server (docs/sites.md): the site the widget's markup declares. "
                   "It must be the site the Origin belongs to; a server with one site ignores it.",
    "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,31}$"},
}
SITE_FIELD: Json = {"type": "string", "description": "The answer's site (only on a server with several sites)."}
VOTER: list[Json] = [{"voterHeader": []}, {"voterCookie": []}]
TOKEN: list[Json] = [{"exportToken": []}, {"adminSession": []}]
_NULLABLE_STR = {"type": ["string", "null"]}


def _schemas() -> Json:
    sentiment: Json = {
        "type": "object",
        "required": ["article_id", "up", "down", "total", "share_up", "wilson_lower", "your_vote"],
        "properties": {
            "article_id": {"type": "string"},
            "up": {"type": "integer", "minimum": 0},
            "down": {"type": "integer", "minimum": 0},
            "total": {"type": "integer", "minimum": 0},
            "share_up": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
            "wilson_lower": {"type": "number", "minimum": 0, "maximum": 1},
            "wilson_upper": {"type": "number", "minimum": 0, "maximum": 1},
            "bayesian_average": {"type": "number", "minimum": 0, "maximum": 1},
            "enough_votes": {"type": "boolean"},
            "your_vote": {"enum": [*VOTES, None]},
            "voter": {"type": "string", "description": "A re-issued voter token, to keep from now on."},
            "lang": {"type": "string"},
            "dir": {"enum": ["ltr", "rtl"]},
            "messages": {"type": "object"},
            "site": SITE_FIELD,
        },
    }
    vote_fields = {
        "article_id": ARTICLE_PARAM["schema"],
        "vote": {"enum": list(VOTES)},
        "title": {"type": "string", "maxLength": MAX_TITLE},
        "version": {"type": "string", "maxLength": MAX_VERSION},
        "signed": {"type": "string", "description": "The signature `widget.embed()` put on title and version."},
        "return_to": {"type": "string", "description": "Form posts: where to go back to (own or allowed origin)."},
        "url": {"type": "string", "maxLength": 2048,
                "description": "The page the vote was cast on (http(s)); its JSON-LD may be read (docs/analytics.md)."},
    }
    listed = {**sentiment, "properties": {**sentiment["properties"], "title": _NULLABLE_STR,
                                          "first_vote_at": _NULLABLE_STR, "last_vote_at": _NULLABLE_STR}}
    return {
        "Error": {
            "type": "object", "required": ["error", "detail"],
            "properties": {"error": {"enum": ERROR_CODES}, "detail": {"type": "string"}},
        },
        "Sentiment": sentiment,
        "VoteRequest": {
            "type": "object", "required": ["article_id", "vote", "captcha_token"],
            "properties": {**vote_fields, "captcha_token": {"type": "string"}},
        },
        "VoteForm": {
            "type": "object", "required": ["article_id", "vote", "h-captcha-response"],
            "properties": {**vote_fields, "h-captcha-response": {"type": "string"}},
        },
        "Voted": {
            "type": "object", "required": ["article_id", "vote", "changed", "voter", "sentiment"],
            "properties": {"article_id": {"type": "string"}, "vote": {"enum": list(VOTES)},
                           "changed": {"type": "boolean"}, "voter": {"type": "string"},
                           "sentiment": _ref("Sentiment"), "site": SITE_FIELD},
        },
        "Withdrawn": {
            "type": "object", "required": ["article_id", "vote", "changed", "sentiment"],
            "properties": {"article_id": {"type": "string"}, "vote": {"type": "null"},
                           "changed": {"const": True}, "sentiment": _ref("Sentiment"), "site": SITE_FIELD},
        },
        "Erased": {
            "type": "object", "required": ["erased", "article_ids"],
            "properties": {"erased": {"type": "integer", "minimum": 0},
                           "article_ids": {"type": "array", "items": {"type": "string"}}},
        },
        "SentimentRequest": {
            "type": "object", "required": ["article_id"],
            "properties": {"article_id": ARTICLE_PARAM["schema"], "voter": {"type": "string"},
                           "lang": {"type": "string"}},
        },
        "ReasonRequest": {
            "type": "object", "required": ["article_id", "reason"],
            "properties": {"article_id": ARTICLE_PARAM["schema"], "reason": {"type": "string"},
                           "text": {"type": "string", "maxLength": 500}},
        },
        "Reason": {
            "type": "object", "required": ["article_id", "reason", "text"],
            "properties": {"article_id": {"type": "string"}, "reason": {"type": "string"}, "text": _NULLABLE_STR},
        },
        "ArticleList": {
            "type": "object", "required": ["order", "limit", "offset", "articles"],
            "properties": {"order": {"enum": list(ORDERS)}, "limit": {"type": "integer"},
                           "offset": {"type": "integer"}, "articles": {"type": "array", "items": listed},
                           "after": _NULLABLE_STR, "next_after": _NULLABLE_STR},
        },
        "Health": {
            "type": "object", "required": ["status"],
            "properties": {"status": {"enum": ["ok", "degraded", "unavailable"]}, "error": {"enum": ERROR_CODES},
                           "detail": {"type": "string"}},
        },
    }


def _reader_api() -> Json:
    vote_body = {"required": True, "content": {
        "application/json": {"schema": _ref("VoteRequest")},
        "application/x-www-form-urlencoded": {"schema": _ref("VoteForm")},
    }}
    small_body = {"required": True, "content": {
        "application/json": {"schema": _ref("ReasonRequest")},
        "application/x-www-form-urlencoded": {"schema": _ref("ReasonRequest")},
    }}
    return {
        "/api/v1/votes": {"post": {
            "operationId": "castVote", "summary": "Cast or change a vote (JSON), or post the embed page's form.",
            "requestBody": vote_body,
            "responses": {
                "200": _ok(_json(_ref("Voted")), "Counted (JSON body)."),
                "303": _redirect("Counted (form body): back to the embed page or an allowed `return_to`."),
                **_errors(400, 403, 413, 415, 429, 503, html=True),
            },
        }},
        "/api/v1/votes/{article_id}": {"delete": {
            "operationId": "withdrawVote", "summary": "The reader withdraws their vote.", "security": VOTER,
            "parameters": [ARTICLE_PARAM],
            "responses": {"200": _ok(_json(_ref("Withdrawn"))), **_errors(400, 401, 403, 404, 503)},
        }},
        "/api/v1/voters/me": {"delete": {
            "operationId": "eraseVoter", "summary": "The reader erases all their votes.", "security": VOTER,
            "responses": {"200": _ok(_json(_ref("Erased"))), **_errors(401, 403, 503)},
        }},
        "/api/v1/sentiment": {"post": {
            "operationId": "readOwnSentiment",
            "summary": "One article's sentiment with the reader's own vote, as a CORS-simple request.",
            "requestBody": {"required": True, "content": {
                "text/plain": {"schema": {"type": "string"}},
                "application/json": {"schema": _ref("SentimentRequest")},
            }},
            "responses": {"200": _ok(_json(_ref("Sentiment"))), **_errors(400, 403, 413, 415, 503)},
        }},
        "/api/v1/reasons": {"post": {
            "operationId": "giveReason", "summary": 'Why "No": a reason (and text) for the reader\'s "No" vote.',
            "security": VOTER, "requestBody": small_body,
            "responses": {"200": _ok(_json(_ref("Reason"))), **_errors(400, 401, 403, 404, 413, 415, 503)},
        }},
        "/api/v1/articles/{article_id}": {"get": {
            "operationId": "getArticle", "summary": "One article's sentiment (public; anonymous ones cacheable).",
            "parameters": [ARTICLE_PARAM, LANG_PARAM],
            "responses": {"200": _ok(_json(_ref("Sentiment"))), **_errors(400, 503)},
        }},
        "/healthz": {"get": {
            "operationId": "health", "summary": "Whether votes can be taken.",
            "responses": {"200": _ok(_json(_ref("Health")), "`ok`, or `degraded` (tallies served, votes refused)."),
                          "503": _ok(_json(_ref("Health")), "`unavailable`: the store does not answer.")},
        }},
    }


def _token_api() -> Json:
    def query(name: str, schema: Json, description: str) -> Json:
        return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}

    export_types = {MEDIA_TYPES[f].split(";")[0]: {"schema": {"type": "string"}} for f in EXPORT_FORMATS}
    return {
        "/api/v1/articles": {"get": {
            "operationId": "listArticles", "summary": "Many articles' sentiment.", "security": TOKEN,
            "parameters": [
                query("order", {"enum": list(ORDERS), "default": "wilson"}, "Ranking."),
                query("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}, "Page size."),
                query("offset", {"type": "integer", "minimum": 0, "maximum": 10**9, "default": 0}, "Rows to skip."),
                query("after", {"type": "string", "minLength": 1, "maxLength": 256},
                      "Keyset: start just past this article's place in the order (the last answer's next_after)."),
            ],
            "responses": {"200": _ok(_json(_ref("ArticleList"))), **_errors(400, 401, 503)},
        }},
        "/api/v1/export": {"get": {
            "operationId": "export", "summary": "A streamed export.", "security": TOKEN,
            "parameters": [
                query("format", {"enum": list(EXPORT_FORMATS), "default": "csv"}, "Encoding."),
                query("kind", {"enum": list(EXPORT_KINDS), "default": "votes"}, "What rows."),
                query("since", {"type": "string"}, "ISO 8601 date or date-time, inclusive."),
                query("until", {"type": "string"}, "ISO 8601 date or date-time, exclusive."),
                query("after", {"type": "string", "pattern": "^[0-9]{1,18}$"}, "kind=events: last event_id seen."),
                query("tz", {"type": "string"}, "kind=daily: IANA time zone of the days."),
                query("section", {"type": "string", "maxLength": 200}, "kind=articles: the articles of this section."),
                query("author", {"type": "string", "maxLength": 200}, "kind=articles: the articles of this author."),
                query("tag", {"type": "string", "maxLength": 200}, "kind=articles: the articles with this tag."),
            ],
            "responses": {"200": _ok(export_types, "The rows (an attachment)."), **_errors(400, 401, 503)},
        }},
        "/metrics": {"get": {
            "operationId": "metrics", "summary": "Prometheus text format (docs/metrics.md).",
            "security": [{"metricsToken": []}],
            "responses": {"200": _ok({METRICS_TYPE.split(";")[0]: {"schema": {"type": "string"}}}),
                          **_errors(401, 503)},
        }},
        "/api/v1/openapi.json": {"get": {
            "operationId": "openapi", "summary": "This description.",
            "responses": {"200": _ok(_json({"type": "object"}))},
        }},
    }


def _pages() -> Json:
    def asset(name: str, media: str, *, lang: bool = False) -> Json:
        return {"get": {
            "operationId": name, "summary": "A static asset (ETag; 304 for If-None-Match).",
            "parameters": [LANG_PARAM] if lang else [],
            "responses": {"200": _ok({media: {"schema": {"type": "string"}}}), "304": {"description": "Not modified."},
                          **_errors(503)},
        }}

    dashboard: Json = {
        "security": TOKEN,
        "responses": {"200": _ok(HTML), "401": _errors(401, html=True)["401"], **_errors(503)},
    }
    return {
        "/widget.js": asset("widgetScript", "text/javascript"),
        "/embed.js": asset("embedScript", "text/javascript"),
        "/widget-actions.js": asset("widgetActions", "text/javascript", lang=True),
        "/widget-reasons.js": asset("widgetReasons", "text/javascript", lang=True),
        "/widget.css": asset("widgetStyles", "text/css"),
        "/embed.css": asset("embedStyles", "text/css"),
        "/admin/admin.css": asset("adminStyles", "text/css"),
        "/embed/{article_id}": {"get": {
            "operationId": "embedPage", "summary": "The server-rendered widget for an iframe.",
            "parameters": [ARTICLE_PARAM, LANG_PARAM],
            "responses": {"200": _ok(HTML), **_errors(400, 503)},
        }},
        "/admin": {"get": {"operationId": "dashboard", "summary": "The dashboard.", **dashboard}},
        "/admin/": {"get": {"operationId": "dashboardSlash", "summary": "The dashboard.", **dashboard}},
        "/admin/webhooks": {"get": {"operationId": "dashboardWebhooks", "summary": "Recent webhook deliveries.",
                                    **dashboard}},
        "/admin/groups": {"get": {"operationId": "dashboardGroups",
                                  "summary": "Sentiment per section, author or tag; articles that need attention.",
                                  **dashboard}},
        "/admin/articles/{article_id}": {"get": {
            "operationId": "dashboardArticle", "summary": "One article on the dashboard.",
            "parameters": [ARTICLE_PARAM], **dashboard,
            "responses": {**dashboard["responses"], **_errors(400, 404)},
        }},
        "/admin/login": {
            "get": {"operationId": "signInForm", "summary": "The sign-in form (303 to /admin when signed in).",
                    "responses": {"200": _ok(HTML), "303": _redirect("Signed in already."), **_errors(401, 503)}},
            "post": {
                "operationId": "signIn", "summary": "Sign in with the export token; sets the session cookie.",
                "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {
                    "schema": {"type": "object", "properties": {"token": {"type": "string"}}}}}},
                "responses": {"303": _redirect("Signed in."), **_errors(400, 403, 503),
                              **_errors(401, 429, html=True)},
            },
        },
        "/admin/logout": {"post": {
            "operationId": "signOut", "summary": "Sign out (the form's `csrf` token when signed in).",
            "requestBody": {"required": False, "content": {"application/x-www-form-urlencoded": {
                "schema": {"type": "object", "properties": {"csrf": {"type": "string"}}}}}},
            "responses": {"303": _redirect("Signed out."), **_errors(400, 401, 403, 503)},
        }},
    }


def _with_sites(paths: Json) -> Json:
    """Every operation takes ``site`` and may answer 404 for a site the server does not have
    (the same operations are served below ``/sites/{site}``, which is how the dashboard's links
    keep their site)."""
    for item in paths.values():
        for operation in item.values():
            operation["parameters"] = [*operation.get("parameters", []), SITE_PARAM]
            operation["responses"].setdefault("404", _errors(404)["404"])
    return paths


@cache
def description() -> Json:
    """The whole OpenAPI 3.1 document."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "feedbackwidget",
            "version": version("feedbackwidget"),
            "description": '"Do you like this article?" votes. Every error is JSON `{"error": CODE, "detail": …}`.',
        },
        "servers": [{"url": ".", "description": "The widget's mount prefix."}],
        "paths": _with_sites({**_reader_api(), **_token_api(), **_pages()}),
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "exportToken": {"type": "http", "scheme": "bearer", "description": "EXPORT_TOKEN"},
                "metricsToken": {"type": "http", "scheme": "bearer", "description": "METRICS_TOKEN"},
                "adminSession": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE},
                "voterHeader": {"type": "apiKey", "in": "header", "name": VOTER_HEADER},
                "voterCookie": {"type": "apiKey", "in": "cookie", "name": VOTER_COOKIE},
            },
        },
    }


@cache
def _body() -> bytes:
    return json_bytes(description())


async def openapi(request: Request) -> Response:
    return Response(_body(), media_type="application/json", headers={"Cache-Control": "public, max-age=300"})


ROUTES = [Route("/api/v1/openapi.json", openapi, methods=["GET"])]
