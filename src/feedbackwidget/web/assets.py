"""The widget's browser assets (first cut; the widget issue owns this module)."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib import resources
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def static_dir() -> Path:
    """``feedbackwidget/static`` in a wheel; the repository's ``static/`` in a source checkout."""
    packaged = Path(str(resources.files("feedbackwidget"))) / "static"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "static"


@lru_cache(maxsize=8)
def _asset(name: str) -> tuple[bytes, str]:
    body = (static_dir() / name).read_bytes()
    return body, '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


async def widget_js(request: Request) -> Response:
    body, etag = _asset("widget.js")
    headers = {"ETag": etag, "Cache-Control": "public, max-age=3600, stale-while-revalidate=86400"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)


ROUTES = [Route("/widget.js", widget_js, methods=["GET", "HEAD"])]
