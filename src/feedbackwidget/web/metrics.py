"""``GET /metrics``: the Prometheus text format, for a scraper holding ``METRICS_TOKEN``.

The figures (``feedbackwidget.metrics``) say how busy the service is and how
votes end, never who voted on what; still, they are the operator's, so the
endpoint wants its own bearer token (compared in constant time), distinct from
``EXPORT_TOKEN``, which also opens the data. Without ``METRICS_TOKEN`` nothing is
recorded and the endpoint answers 401, like exports without ``EXPORT_TOKEN``.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import Unauthorized
from ..metrics import CONTENT_TYPE, exposition
from ..tokens import same_secret
from .admin import _bearer as bearer
from .runtime import runtime_of


async def metrics(request: Request) -> Response:
    """Every metric; 401 ``unauthorized`` without the right bearer token or with none configured."""
    expected = runtime_of(request).settings.metrics_token
    if expected is None:
        raise Unauthorized("Metrics are disabled (no METRICS_TOKEN is set).")
    if not same_secret(bearer(request), expected):
        raise Unauthorized("A valid metrics token is required (Authorization: Bearer …).")
    # Under several workers this reads every worker's files: off the event loop.
    body = await run_in_threadpool(exposition)
    return Response(body, headers={"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"})


ROUTES = [Route("/metrics", metrics, methods=["GET"])]
