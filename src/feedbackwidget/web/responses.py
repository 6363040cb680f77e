"""Small, fast response helpers and the one place errors become HTTP."""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import Response

from ..errors import FeedbackError, MethodNotAllowed, NotFound, RateLimited

log = logging.getLogger("feedbackwidget")

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(_dumps(data).encode(), status, headers, media_type="application/json")


def error_response(error: FeedbackError, headers: dict[str, str] | None = None) -> Response:
    headers = dict(headers or {})
    headers.setdefault("Cache-Control", "no-store")
    if isinstance(error, RateLimited):
        headers["Retry-After"] = str(error.retry_after)
    return json_response({"error": error.code, "detail": error.detail}, error.status, headers)


def from_http_exception(exc: HTTPException) -> FeedbackError:
    if exc.status_code == 404:
        return NotFound()
    if exc.status_code == 405:
        return MethodNotAllowed()
    error = FeedbackError("The request could not be handled.")
    error.status = exc.status_code if 400 <= exc.status_code < 600 else 400
    return error
