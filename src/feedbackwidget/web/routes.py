"""Every route of the widget in one table, and the fast dispatch derived from it.

Most requests are page views (``widget.js``, one tally) and votes; for the
routes marked ``hot`` the dispatcher finds the endpoint with one dictionary
lookup or one prefix test instead of the router's scan, matching exactly what
the router would match and setting the same path parameters.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import admin, api, assets, embed, metrics, openapi

Endpoint = Callable[[Request], Awaitable[Response]]

def _any_character(routes: list[Route]) -> list[Route]:
    """Let a ``{name:path}`` parameter take line ends too. Starlette's pattern (``.*``) stops at
    one, which made ``/api/v1/articles/a%0Ab`` an unknown route (404) where every other control
    character is a bad article id (400, from the one validator). Found by schemathesis."""
    for route in routes:
        if ":path}" in route.path:
            route.path_regex = re.compile(route.path_regex.pattern, re.DOTALL)
    return routes


ROUTES: list[Route] = [*api.ROUTES, *assets.ROUTES, *embed.ROUTES, *admin.ROUTES, *metrics.ROUTES,
                       *openapi.ROUTES]
_any_character(ROUTES)
#: The routes every page view and vote takes: (method, path pattern).
HOT = frozenset({
    ("POST", "/api/v1/votes"),
    ("GET", "/widget.js"),
    ("GET", "/api/v1/articles/{article_id:path}"),
})


@dataclass(frozen=True, slots=True)
class _Prefixed:
    """A route whose only parameter is a trailing ``{name:path}``."""

    method: str
    prefix: str
    param: str
    endpoint: Endpoint


class FastRoutes:
    """The hot routes of :data:`ROUTES`, matched without the router."""

    def __init__(self, routes: list[Route], hot: frozenset[tuple[str, str]]) -> None:
        self.exact: dict[tuple[str, str], Endpoint] = {}
        self.prefixed: list[_Prefixed] = []
        for route in routes:
            for method in route.methods or ():
                if (method, route.path) not in hot:
                    continue
                endpoint: Endpoint = route.endpoint
                if "{" not in route.path:
                    self.exact[(method, route.path)] = endpoint
                elif route.path.endswith(":path}") and route.path.count("{") == 1:
                    prefix, _, param = route.path.partition("{")
                    self.prefixed.append(_Prefixed(method, prefix, param.split(":")[0], endpoint))
                else:
                    raise ValueError(f"no fast dispatch for {route.path}")
        missing = hot - {(m, p) for m, p in self.exact} - {(p.method, p.prefix + "{" + p.param + ":path}")
                                                             for p in self.prefixed}
        if missing:
            raise ValueError(f"hot routes not in the table: {sorted(missing)}")

    def match(self, method: str, path: str) -> tuple[Endpoint, dict[str, str]] | None:
        """The endpoint and path parameters the router would give, or None."""
        endpoint = self.exact.get((method, path))
        if endpoint is not None:
            return endpoint, {}
        for route in self.prefixed:
            if method == route.method and path.startswith(route.prefix) and len(path) > len(route.prefix):
                return route.endpoint, {route.param: path[len(route.prefix):]}
        return None


FAST = FastRoutes(ROUTES, HOT)
