"""The one table from a domain error to an HTTP answer: status, headers, the contract's JSON.

Every handler raises domain errors (``feedbackwidget.errors``); the application
catches them in one place (``app.py``) and answers with :func:`error_response`.
Errors of the router (unknown route, wrong method) and of our own code become
domain errors first (:func:`problem`), so clients only ever see
``{"error": CODE, "detail": "…"}``.
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.responses import Response

from ..errors import (
    CaptchaFailed,
    CaptchaRequired,
    CaptchaUnavailable,
    ConfigError,
    FeedbackError,
    ForbiddenOrigin,
    InternalError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    StoreUnavailable,
    Unauthorized,
    UnsupportedMediaType,
)
from .responses import json_response

log = logging.getLogger("feedbackwidget")

#: HTTP status per error class (the most specific class found in an error's MRO wins).
STATUS: dict[type[FeedbackError], int] = {
    FeedbackError: 400,
    InvalidRequest: 400,
    CaptchaRequired: 400,
    Unauthorized: 401,
    CaptchaFailed: 403,
    ForbiddenOrigin: 403,
    NotFound: 404,
    MethodNotAllowed: 405,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    RateLimited: 429,
    ConfigError: 500,
    InternalError: 500,
    CaptchaUnavailable: 503,
    StoreUnavailable: 503,
}


def status_of(error: FeedbackError) -> int:
    for cls in type(error).__mro__:
        status = STATUS.get(cls)
        if status is not None:
            return status
    return 400


def error_response(error: FeedbackError, headers: dict[str, str] | None = None) -> Response:
    """The contract's JSON error; ``Retry-After`` for a rate limit; never cached."""
    headers = dict(headers or {})
    headers.setdefault("Cache-Control", "no-store")
    if isinstance(error, RateLimited):
        headers["Retry-After"] = str(error.retry_after)
    return json_response({"error": error.code, "detail": error.detail}, status_of(error), headers)


def problem(exc: Exception, path: object = None) -> FeedbackError:
    """What an exception from a route means for the client; one of ours is logged with its traceback."""
    if isinstance(exc, FeedbackError):
        return exc
    if isinstance(exc, HTTPException):
        if exc.status_code == 404:
            return NotFound()
        if exc.status_code == 405:
            return MethodNotAllowed()
        return InvalidRequest("The request could not be handled.")
    log.exception("unexpected error serving %s", path)
    return InternalError()
