"""Where readers' browsers see this server: one decision per request, used by every URL,
redirect, cookie and origin check the widget emits.

* The **prefix** is PUBLIC_URL's path when it has one (whether or not the proxy in front
  strips it: :func:`claim_prefix` moves an unstripped prefix into ``root_path``), else the
  mount path Starlette gives (``root_path``). Never the ``Host`` header.
* The browser speaks **https** to us when this server saw https (a trusted proxy's
  ``X-Forwarded-Proto`` included) or PUBLIC_URL says https (a TLS-terminating proxy that
  is not trusted for forwarded headers).
* A **secure context** — https, or a loopback host, which browsers treat as secure — is
  where a browser accepts ``Secure`` cookies, and so the partitioned (CHIPS) voter cookie.
* A request is **cross-site** when Fetch Metadata says so (``Sec-Fetch-Site: cross-site``),
  or when the widget says it runs in a frame under another site (``X-Feedback-Frame:
  cross-site``: requests from an iframe to its own origin are same-origin to Fetch Metadata,
  yet the browser files their cookies as third-party). There, cookies other than
  partitioned ones are rejected by the browser, so none are sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.types import Scope

from ..config import Settings

FRAME_HEADER = "x-feedback-frame"
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})


@dataclass(frozen=True, slots=True)
class PublicView:
    """How this request's reader reaches us."""

    #: "" at the root, else "/path" (no trailing slash).
    prefix: str
    #: The reader's browser speaks https to us.
    https: bool
    #: The browser accepts Secure and partitioned cookies from us.
    secure_context: bool
    #: The request comes from a context under another site (third-party).
    cross_site: bool

    @property
    def cookie_path(self) -> str:
        """``/prefix`` (RFC 6265 path-match: also ``/prefix/…``, never ``/prefixfoo``), or ``/``."""
        return self.prefix or "/"


#: Paths below ``/sites/ID`` are site ID's (web/runtime.py; the dashboard's links keep it).
SITE_PATH = "/sites/"
#: Where the scope keeps the mount's own root path when a site's segment was added to it.
BASE_ROOT = "feedbackwidget.base_root"


def route_path(scope: Scope) -> str:
    """The path below the mount point, as Starlette's router computes it."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if not root_path or not path.startswith(root_path):
        return path
    if path == root_path:
        return ""
    if path[len(root_path)] == "/":
        return path[len(root_path):]
    return path


def claim_prefix(scope: Scope, settings: Settings) -> Scope:
    """``scope`` with PUBLIC_URL's path moved into ``root_path`` when the proxy in front did
    not strip it (``/feedback/embed/x`` served standalone), so routes match either way."""
    prefix = settings.public.prefix
    if not prefix:
        return scope
    root: str = scope.get("root_path", "")
    if root.endswith(prefix):
        return scope
    path: str = scope["path"]
    below = path[len(root):] if root and path.startswith(root) else path
    if below == prefix or below.startswith(prefix + "/"):
        return {**scope, "root_path": root + prefix}
    return scope


def public_view(request: Request, settings: Settings) -> PublicView:
    scope = request.scope
    cached: PublicView | None = scope.get("feedbackwidget.public")
    if cached is not None:
        return cached
    https = scope.get("scheme", "http") == "https" or settings.public_url.startswith("https://")
    host = request.headers.get("host", "").lower()
    hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    headers = request.headers
    view = PublicView(
        # The mount's own prefix: a site's /sites/ID segment (web/runtime.py) is not part of it,
        # so the dashboard's session cookie holds for every site its token may read.
        prefix=settings.public.prefix or str(scope.get(BASE_ROOT, scope.get("root_path", ""))).rstrip("/"),
        https=https,
        secure_context=https or hostname in _LOOPBACK_HOSTS or hostname.startswith("127."),
        cross_site=headers.get("sec-fetch-site") == "cross-site" or headers.get(FRAME_HEADER) == "cross-site",
    )
    scope["feedbackwidget.public"] = view
    return view
