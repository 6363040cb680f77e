"""The HTTP boundary's view of one request, built once: where the reader sees us, whether
their page's origin may call, the CORS headers to answer with, and who they are.

Handlers read everything about the caller from here and hand the service a
plain :class:`~feedbackwidget.service.Caller`; nothing below the boundary looks
at headers or cookies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.types import Scope

from ..service import Caller
from ..tokens import VoterToken
from .origin import client_address, cors_headers, origin_status
from .public import PublicView, public_view

if TYPE_CHECKING:
    from .runtime import Runtime

VOTER_COOKIE = "feedbackwidget_voter"
# The same token as a partitioned (CHIPS) cookie: the only kind a cross-site /embed iframe may
# keep when the browser blocks third-party cookies and storage. Needs a secure context.
VOTER_COOKIE_PARTITIONED = "feedbackwidget_voter_p"
VOTER_HEADER = "x-feedback-voter"
_KEY = "feedbackwidget.context"


class RequestContext:
    """One request as the boundary sees it (see :func:`context`). Each part is worked out on
    first use: an anonymous tally read, the busiest request, needs none of them."""

    __slots__ = ("_origin", "_public", "_reader", "_reader_known", "request", "runtime")

    def __init__(self, request: Request, runtime: Runtime) -> None:
        self.request = request
        self.runtime = runtime
        self._public: PublicView | None = None
        self._origin: str | None = None
        self._reader: VoterToken | None = None
        self._reader_known = False

    @property
    def public(self) -> PublicView:
        """Where the reader sees us: prefix, https, secure context, cross-site."""
        if self._public is None:
            self._public = public_view(self.request, self.runtime.settings)
        return self._public

    @property
    def origin(self) -> str:
        """'none' (no Origin: not a browser), 'own', 'listed', 'any' (ALLOWED_ORIGINS has *), 'forbidden'."""
        if self._origin is None:
            self._origin = origin_status(self.request, self.runtime.settings)
        return self._origin

    @property
    def cors(self) -> dict[str, str]:
        """CORS answer headers for an allowed caller (none for our own origin or a refused one)."""
        return cors_headers(self.request, self.origin)

    @property
    def reader(self) -> VoterToken | None:
        """The reader's voter token: the first of header, cookie and partitioned cookie that
        verifies (a stale or foreign header must not hide a good cookie). Requests with neither
        a voter header nor any cookie — most page views — cost nothing here."""
        if not self._reader_known:
            self._reader_known = True
            if may_name_a_reader(self.request.scope):
                cookies = self.request.cookies
                self._reader = self.runtime.service.reader(
                    self.request.headers.get(VOTER_HEADER),
                    cookies.get(VOTER_COOKIE),
                    cookies.get(VOTER_COOKIE_PARTITIONED),
                )
        return self._reader

    @property
    def caller(self) -> Caller:
        return Caller(self.origin != "forbidden", self.reader, client_address(self.request))


def may_name_a_reader(scope: Scope) -> bool:
    """Whether the request carries a voter header or any cookie: without either (most page
    views) there is no reader to look for, and no context needs building."""
    return any(name in (b"cookie", b"x-feedback-voter") for name, _ in scope["headers"])


def context(request: Request) -> RequestContext:
    """This request's context, made on first use and kept in its scope."""
    scope = request.scope
    found: RequestContext | None = scope.get(_KEY)
    if found is None:
        found = scope[_KEY] = RequestContext(request, scope["feedbackwidget"])
    return found
