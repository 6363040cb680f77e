"""Domain errors. One root; each subclass carries its public code and HTTP status.

Only the web layer turns these into responses (see ``web/errors.py``).
"""

from __future__ import annotations


class FeedbackError(Exception):
    """Root of every error the package raises on purpose."""

    code = "invalid_request"
    status = 400
    default_detail = "The request is not valid."

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or self.default_detail
        super().__init__(self.detail)


class ConfigError(FeedbackError):
    """A setting is missing or malformed. ``variable`` names the environment variable."""

    code = "config_error"
    status = 500

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        # One line whatever the value held (values are quoted with repr by the parsers).
        super().__init__(f"{variable}: {' '.join(problem.split())}")


class InvalidRequest(FeedbackError):
    code = "invalid_request"
    status = 400


class CaptchaRequired(FeedbackError):
    code = "captcha_required"
    status = 400
    default_detail = "A captcha answer is required to vote."


class CaptchaFailed(FeedbackError):
    code = "captcha_failed"
    status = 403
    default_detail = "The captcha could not be verified; please try again."


class CaptchaUnavailable(FeedbackError):
    """Siteverify could not give an answer we can use; ``cause`` names why when it is our own
    configuration (a siteverify error code, or ``not-configured``)."""

    code = "captcha_unavailable"
    status = 503
    default_detail = "The captcha service is not answering; nothing was stored. Please retry."

    def __init__(self, detail: str | None = None, *, cause: str | None = None) -> None:
        self.cause = cause
        super().__init__(detail)


class ForbiddenOrigin(FeedbackError):
    code = "forbidden_origin"
    status = 403
    default_detail = "Requests from this origin are not allowed."


class Unauthorized(FeedbackError):
    code = "unauthorized"
    status = 401
    default_detail = "A valid token is required."


class NotFound(FeedbackError):
    code = "not_found"
    status = 404
    default_detail = "Nothing is here."


class MethodNotAllowed(FeedbackError):
    code = "method_not_allowed"
    status = 405
    default_detail = "This method is not allowed here."


class PayloadTooLarge(FeedbackError):
    code = "payload_too_large"
    status = 413
    default_detail = "The request body is too large."


class UnsupportedMediaType(FeedbackError):
    code = "unsupported_media_type"
    status = 415
    default_detail = "Send the vote as JSON or as a form."


class RateLimited(FeedbackError):
    code = "rate_limited"
    status = 429
    default_detail = "Too many attempts; please wait before voting again."

    def __init__(self, retry_after: float, detail: str | None = None) -> None:
        self.retry_after = max(1, int(retry_after + 0.999))
        super().__init__(detail)


class StoreUnavailable(FeedbackError):
    code = "store_unavailable"
    status = 503
    default_detail = "The vote store is not answering; nothing was changed. Please retry."


class SchemaTooNew(FeedbackError):
    """The database was migrated by a newer feedbackwidget than this one."""

    code = "store_unavailable"
    status = 503

    def __init__(self, found: int, supported: int) -> None:
        self.found = found
        self.supported = supported
        super().__init__(
            f"database schema version {found} is newer than this feedbackwidget "
            f"understands ({supported}); upgrade feedbackwidget"
        )
