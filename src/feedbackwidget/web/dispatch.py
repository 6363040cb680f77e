"""The HTTP boundary's front door: one request in, one response out, errors mapped once.

CORS preflights are answered here; the hot routes are called directly
(:mod:`feedbackwidget.web.routes`); everything else goes through Starlette's
router. Whatever a handler raises becomes the contract's JSON error in
:meth:`Dispatcher.__call__` (``web/errors.py`` has the table), with the CORS
headers an allowed page needs to read it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Router
from starlette.types import Message, Receive, Scope, Send

from ..errors import FeedbackError, ForbiddenOrigin
from .context import context
from .errors import error_response, problem
from .origin import preflight_headers
from .public import route_path
from .routes import FAST, ROUTES, Endpoint


class Dispatcher:
    """Serves HTTP requests whose scope already holds the runtime (``scope["feedbackwidget"]``)."""

    def __init__(self) -> None:
        self.router = Router(routes=ROUTES)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method == "OPTIONS":
            await self._preflight(scope, receive, send)
            return
        found = FAST.match(method, route_path(scope))
        if found is not None:
            scope["path_params"] = {**scope.get("path_params", {}), **found[1]}
            scope.setdefault("router", self.router)
            scope["endpoint"] = found[0]
            await self._direct(found[0], scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.router(scope, receive, watch)
        except Exception as exc:
            error = problem(exc, scope.get("path"))
            if not started:
                await _answer(error, scope, receive, send)

    async def _direct(self, endpoint: Endpoint, scope: Scope, receive: Receive, send: Send) -> None:
        """Call an endpoint without the router's per-request wrappers (exception handler
        lookup, send interception), which cost more than these endpoints do."""
        try:
            response = await endpoint(Request(scope, receive, send))
        except Exception as exc:  # nothing was sent yet
            await _answer(problem(exc, scope.get("path")), scope, receive, send)
            return
        try:
            await response(scope, receive, send)
        except Exception as exc:  # the response had started: nothing more can be said
            problem(exc, scope.get("path"))

    async def _preflight(self, scope: Scope, receive: Receive, send: Send) -> None:
        ctx = context(Request(scope, receive))
        if ctx.origin == "forbidden":
            await error_response(ForbiddenOrigin())(scope, receive, send)
            return
        await Response(status_code=204, headers=preflight_headers(ctx.request, ctx.origin))(scope, receive, send)


async def _answer(error: FeedbackError, scope: Scope, receive: Receive, send: Send) -> None:
    """The error as JSON; an allowed cross-origin page gets the CORS headers to read it."""
    headers = {} if isinstance(error, ForbiddenOrigin) else context(Request(scope, receive)).cors
    await error_response(error, headers)(scope, receive, send)
