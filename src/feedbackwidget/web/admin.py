"""The dashboard at ``/admin``: sign-in, articles table, one page per article.

Authorisation is the export token, shown either as ``Authorization: Bearer``
or once through the sign-in form, which then sets a signed, expiring,
HttpOnly, SameSite=Strict session cookie scoped to the mount prefix. The same
cookie authorises the dashboard's export links (:func:`is_authorised` is what
the export and listing routes call). Without an export token the dashboard is
disabled. Sign-in and sign-out refuse foreign ``Origin`` headers; sign-out
also needs a form token derived from the session.
"""

from __future__ import annotations

import hashlib
from functools import cache
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from ..errors import FeedbackError, ForbiddenOrigin, InvalidRequest, NotFound, RateLimited, Unauthorized
from ..i18n import static_dir
from . import admin_feedback as feedback
from . import admin_groups as groups_view
from . import admin_views as views
from .admin_session import SESSION_COOKIE, SESSION_MAX_AGE, SESSION_SALT
from .admin_webhooks import webhooks_context
from .context import context
from .errors import error_response
from .origin import client_address, origin_status
from .public import BASE_ROOT
from .runtime import Runtime, runtime_of

_MAX_FORM = 4096

CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; "
       "form-action 'self'; frame-ancestors 'none'")
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # "no-referrer" would turn Origin into "null" on POST
    "Cache-Control": "no-store",
    "Vary": "Authorization, Cookie, Accept",
}


def _runtime(request: Request) -> Runtime:
    return runtime_of(request)


def _prefix(request: Request) -> str:
    """Where the dashboard's links start: the mount's prefix and, with several sites, the
    site's ``/sites/ID``, so that every link, form and export of a page stays on its site."""
    return context(request).public.prefix + _runtime(request).site_path


def _switcher(request: Request) -> list[dict[str, Any]]:
    """The sites this request's token or session may read, for the site switcher (several
    sites only): each with its title, its dashboard's address and whether it is this one."""
    runtime = _runtime(request)
    if not runtime.sites.named:
        return []
    bearer, cookie, base = _bearer(request), request.cookies.get(SESSION_COOKIE), context(request).public.prefix
    return [
        {"id": other.site.id, "title": other.site.title, "href": f"{base}{other.site_path}/admin",
         "current": other is runtime}
        for other in runtime.shared.runtimes.values()
        if other.service.authorised(bearer, cookie) is not None
    ]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def is_authorised(request: Request) -> bool:
    """Whether the request carries a token of its site (bearer) or a valid dashboard session:
    the site's own tokens or the server's EXPORT_TOKEN. Always False when none is configured."""
    return _runtime(request).service.authorised(_bearer(request), request.cookies.get(SESSION_COOKIE)) is not None


def _session_nonce(request: Request) -> str | None:
    """The dashboard session's nonce when its cookie may read the request's site."""
    return _runtime(request).service.authorised(None, request.cookies.get(SESSION_COOKIE))


def _sees_the_server(request: Request) -> bool:
    """Whether the request may see what is the server's, not one site's (webhook deliveries):
    always with one site; with several, only with the server's EXPORT_TOKEN."""
    runtime = _runtime(request)
    if not runtime.sites.named:
        return True
    found = runtime.service.authorised(_bearer(request), request.cookies.get(SESSION_COOKIE),
                                       runtime.sites.server_tokens)
    return found is not None


def _enabled(request: Request) -> bool:
    return bool(_runtime(request).service.dashboard_tokens)


def _others(request: Request) -> list[Runtime]:
    """The server's other sites (none with one site)."""
    runtime = _runtime(request)
    return [o for o in runtime.shared.runtimes.values() if o is not runtime] if runtime.sites.named else []


def _opened_elsewhere(request: Request, token: str | None = None) -> Runtime | None:
    """The first other site that ``token`` (or else the request's bearer token or session)
    opens: where a sign-in or a visit to another site's dashboard is sent instead."""
    bearer = token if token is not None else _bearer(request)
    cookie = None if token is not None else request.cookies.get(SESSION_COOKIE)
    return next((o for o in _others(request) if o.service.authorised(bearer, cookie) is not None), None)


def _dashboard_of(request: Request, runtime: Runtime) -> str:
    return context(request).public.prefix + runtime.site_path + "/admin"


# -- responses ------------------------------------------------------------------------------

def _error(exc: FeedbackError, headers: dict[str, str] | None = None) -> Response:
    return error_response(exc, headers)


def _page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    env = _runtime(request).templates
    prefix = _prefix(request)
    html = env.get_template(template).render(prefix=prefix, sites=_switcher(request), **context)
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _refuse(request: Request, problem: str | None = None, status: int = 401) -> Response:
    """Unauthorised: the sign-in form for browsers, the JSON error for everything else."""
    challenge = {"WWW-Authenticate": 'Bearer realm="feedbackwidget"'}
    if _wants_html(request) or request.method == "POST":
        response = _page(request, "admin/login.html", status=status, problem=problem)
        response.headers.update(challenge)
        return response
    return _error(Unauthorized(), challenge)


def _disabled() -> Response:
    return _error(Unauthorized("The dashboard is disabled: no export token is configured."))


def _own_origin(request: Request) -> bool:
    """True when the request has no ``Origin`` or it is this server's own origin.

    Allowed publisher origins may vote, but never sign in or out.
    """
    return origin_status(request, _runtime(request).settings) in ("none", "own")


async def _form(request: Request) -> dict[str, str]:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise InvalidRequest("Send the form as application/x-www-form-urlencoded.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_FORM:
            raise InvalidRequest("The form is too large.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("The form is not UTF-8.") from None
    try:
        return dict(parse_qsl(text, keep_blank_values=True, max_num_fields=10))
    except ValueError:  # more than max_num_fields fields (found by schemathesis: it was a 500)
        raise InvalidRequest("The form has too many fields.") from None


def _set_session(request: Request, response: Response, value: str) -> None:
    view = context(request).public
    response.set_cookie(SESSION_COOKIE, value, max_age=SESSION_MAX_AGE, path=view.cookie_path,
                        secure=view.https, httponly=True, samesite="strict")
    response.headers["Cache-Control"] = "no-store"


def _clear_session(request: Request, response: Response) -> None:
    view = context(request).public
    response.delete_cookie(SESSION_COOKIE, path=view.cookie_path, secure=view.https, httponly=True,
                           samesite="strict")
    response.headers["Cache-Control"] = "no-store"


# -- endpoints ------------------------------------------------------------------------------

async def login(request: Request) -> Response:
    runtime = _runtime(request)
    if not _enabled(request) and not any(o.service.dashboard_tokens for o in _others(request)):
        return _disabled()
    if request.method == "GET":
        if is_authorised(request):
            return RedirectResponse(_prefix(request) + "/admin", status_code=303)
        return _page(request, "admin/login.html", problem=None)
    if not _own_origin(request):
        return _error(ForbiddenOrigin())
    try:
        form = await _form(request)
    except FeedbackError as exc:
        return _error(exc)
    token = form.get("token")
    if runtime.service.authorised(token, None) is None:  # a token of another site signs in there
        runtime = _opened_elsewhere(request, token or "") or runtime
    try:
        session = await runtime.service.sign_in(client_address(request), token)
    except RateLimited as limited:
        refused = _page(request, "admin/login.html", status=429,
                        problem=f"Too many attempts. Try again in {limited.retry_after} seconds.")
        refused.headers["Retry-After"] = str(limited.retry_after)
        return refused
    except Unauthorized as wrong:
        return _refuse(request, wrong.detail)
    response = RedirectResponse(_dashboard_of(request, runtime), status_code=303)
    _set_session(request, response, session)
    return response


async def logout(request: Request) -> Response:
    runtime = _runtime(request)
    if not _enabled(request):
        return _disabled()
    if not _own_origin(request):
        return _error(ForbiddenOrigin())
    nonce = _session_nonce(request)
    if nonce is not None:
        try:
            form = await _form(request)
        except FeedbackError as exc:
            return _error(exc)
        if not runtime.service.tokens.form_token_ok(form.get("csrf"), nonce):
            return _error(InvalidRequest("The sign-out form has expired; reload and try again."))
    response = RedirectResponse(_prefix(request) + "/admin", status_code=303)
    _clear_session(request, response)
    return response


def _logout_token(request: Request) -> str | None:
    nonce = _session_nonce(request)
    return None if nonce is None else _runtime(request).service.tokens.form_token(nonce)


async def dashboard(request: Request) -> Response:
    runtime = _runtime(request)
    if not _enabled(request) and not _others(request):
        return _disabled()
    if not is_authorised(request):
        # A browser at the plain /admin (the primary site's) with another site's token goes to
        # that site's; /sites/ID/admin asks for one site, and API clients get the 401.
        plain = BASE_ROOT not in request.scope and _wants_html(request)
        elsewhere = _opened_elsewhere(request) if plain else None
        if elsewhere is not None:
            return RedirectResponse(_dashboard_of(request, elsewhere), status_code=303)
        return _refuse(request)
    params, prefix = dict(request.query_params), _prefix(request)
    store, settings = runtime.store, runtime.settings
    context = await views.dashboard_context(store, settings, params, prefix)
    days = context["days"]
    context["reasons"] = await feedback.reasons_context(store, settings, None, days)
    context["refusals"] = await feedback.refusals_context(store, None, days, prefix)
    context["webhooks"] = await webhooks_context(store, settings, 0) if _sees_the_server(request) else {}
    return _page(request, "admin/dashboard.html", logout_token=_logout_token(request), **context)


async def webhooks(request: Request) -> Response:
    """Recent webhook deliveries: pending, delivered, failed, with the last error of each."""
    runtime = _runtime(request)
    if not _enabled(request):
        return _disabled()
    if not is_authorised(request) or not _sees_the_server(request):
        return _refuse(request)
    context = await webhooks_context(runtime.store, runtime.settings)
    return _page(request, "admin/webhooks.html", logout_token=_logout_token(request), webhooks=context)


async def article(request: Request) -> Response:
    runtime = _runtime(request)
    if not _enabled(request):
        return _disabled()
    if not is_authorised(request):
        return _refuse(request)
    article_id = str(request.path_params["article_id"])
    params, prefix = dict(request.query_params), _prefix(request)
    store, settings = runtime.store, runtime.settings
    try:
        context = await views.article_context(store, settings, article_id, params, prefix)
    except NotFound as exc:
        return _error(exc)
    days = context["days"]
    context["reasons"] = await feedback.reasons_context(store, settings, article_id, days)
    context["refusals"] = await feedback.refusals_context(store, article_id, days, prefix)
    context["about"] = await store.about(article_id)  # section, authors, tags (admin/_about.html)
    return _page(request, "admin/article.html", logout_token=_logout_token(request), **context)


async def groups(request: Request) -> Response:
    """Sentiment per section, author or tag, and the articles that need attention."""
    runtime = _runtime(request)
    if not _enabled(request):
        return _disabled()
    if not is_authorised(request):
        return _refuse(request)
    context = await groups_view.groups_context(
        runtime.store, runtime.settings, dict(request.query_params), _prefix(request), runtime.service.clock()
    )
    return _page(request, "admin/groups.html", logout_token=_logout_token(request), **context)


@cache
def _stylesheet() -> bytes:
    return (static_dir() / "admin.css").read_bytes()


async def stylesheet(request: Request) -> Response:
    body = _stylesheet()
    etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
    headers = {"Cache-Control": "public, max-age=3600", "ETag": etag,
               "X-Content-Type-Options": "nosniff"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="text/css; charset=utf-8", headers=headers)


ROUTES: list[Route] = [
    Route("/admin", dashboard, methods=["GET", "HEAD"]),
    Route("/admin/", dashboard, methods=["GET", "HEAD"]),
    Route("/admin/login", login, methods=["GET", "HEAD", "POST"]),
    Route("/admin/logout", logout, methods=["POST"]),
    Route("/admin/admin.css", stylesheet, methods=["GET", "HEAD"]),
    Route("/admin/articles/{article_id:path}", article, methods=["GET", "HEAD"]),
    Route("/admin/webhooks", webhooks, methods=["GET", "HEAD"]),
    Route("/admin/groups", groups, methods=["GET", "HEAD"]),
]

__all__ = ["CSP", "ROUTES", "SESSION_COOKIE", "SESSION_MAX_AGE", "SESSION_SALT",
           "is_authorised"]
