"""Who may call: the Origin policy, CORS headers, and the client address."""

from __future__ import annotations

from starlette.requests import Request

from ..config import Settings
from ..origins import allowed as _allowed

ALLOWED_HEADERS = "Content-Type, X-Feedback-Voter"
EXPOSED_HEADERS = "Retry-After"


def _request_origin(request: Request) -> str | None:
    """The origin this request was sent to (scheme as the server saw it, Host header)."""
    host = request.headers.get("host")
    if not host:
        return None
    scheme = request.scope.get("scheme", "http")  # what request.url.scheme says, without building the URL
    return f"{scheme}://{host.lower()}"


def own_origins(request: Request, settings: Settings) -> set[str]:
    """The widget's own origin(s): PUBLIC_URL's, and the one this request was sent to."""
    origins = set()
    if settings.public.origin is not None:
        origins.add(settings.public.origin)
    sent_to = _request_origin(request)
    if sent_to is not None:
        origins.add(sent_to)
    return origins


def is_allowed(origin: str, settings: Settings) -> bool:
    """Whether ALLOWED_ORIGINS names ``origin`` (exactly or by a ``*.domain`` pattern); not ``*``."""
    return _allowed(settings.allowed_origins).names(origin)


def origin_status(request: Request, settings: Settings) -> str:
    """'none' (no Origin: not a browser), 'own', 'listed', 'any' (allowed by *), or 'forbidden'."""
    origin = request.headers.get("origin")
    if origin is None:
        return "none"
    origin = origin.strip().lower()
    if origin == "null" or not origin:
        return "forbidden"
    if origin == settings.public.origin or origin == _request_origin(request):
        return "own"
    allowed = _allowed(settings.allowed_origins)
    if allowed.names(origin):
        return "listed"
    if allowed.anyone:
        return "any"
    return "forbidden"


def cors_headers(request: Request, status: str) -> dict[str, str]:
    """CORS answer headers for an allowed caller; credentials only for named origins."""
    if status in ("own", "none", "forbidden"):
        return {}
    origin = request.headers["origin"]
    if status == "listed":
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Credentials": "true",
            "Access-Control-Expose-Headers": EXPOSED_HEADERS,
            "Vary": "Origin",
        }
    return {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": EXPOSED_HEADERS}


def preflight_headers(request: Request, status: str) -> dict[str, str]:
    headers = cors_headers(request, status)
    headers.update(
        {
            "Access-Control-Allow-Methods": "GET, POST, DELETE",
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": "86400",
        }
    )
    return headers


def client_address(request: Request) -> str | None:
    """The peer as the HTTP server reports it.

    ``feedbackwidget serve`` hands TRUSTED_PROXIES to uvicorn, which rewrites
    the peer from X-Forwarded-For only for those proxies; mounted in a host
    app, the host server's proxy settings decide.
    """
    return request.client.host if request.client else None
