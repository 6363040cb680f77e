"""Domain errors. One root; each subclass carries its public code and its context.

No HTTP here: ``web/errors.py`` is the one table from an error to a status and
the contract's JSON body. The CLI turns the same errors into one line.
"""

from __future__ import annotations


class FeedbackError(Exception):
    """Root of every error the package raises on purpose; ``code`` is the contract's error code."""

    code = "invalid_request"
    default_detail = "The request is not valid."

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or self.default_detail
        super().__init__(self.detail)


class ConfigError(FeedbackError):
    """A setting is missing or malformed. ``variable`` names the environment variable."""

    code = "config_error"

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        # One line whatever the value held (values are quoted with repr by the parsers).
        super().__init__(f"{variable}: {' '.join(problem.split())}")


class InvalidRequest(FeedbackError):
    code = "invalid_request"


class CaptchaRequired(FeedbackError):
    code = "captcha_required"
    default_detail = "A captcha answer is required to vote."


class CaptchaFailed(FeedbackError):
    code = "captcha_failed"
    default_detail = "The captcha could not be verified; please try again."


class CaptchaUnavailable(FeedbackError):
    """Siteverify could not give an answer we can use; ``cause`` names why when it is our own
    configuration (a siteverify error code, or ``not-configured``)."""

    code = "captcha_unavailable"
    default_detail = "The captcha service is not answering; nothing was stored. Please retry."

    def __init__(self, detail: str | None = None, *, cause: str | None = None) -> None:
        self.cause = cause
        super().__init__(detail)


class ForbiddenOrigin(FeedbackError):
    code = "forbidden_origin"
    default_detail = "Requests from this origin are not allowed."


class Unauthorized(FeedbackError):
    code = "unauthorized"
    default_detail = "A valid token is required."


class NotFound(FeedbackError):
    code = "not_found"
    default_detail = "Nothing is here."


class MethodNotAllowed(FeedbackError):
    code = "method_not_allowed"
    default_detail = "This method is not allowed here."


class PayloadTooLarge(FeedbackError):
    code = "payload_too_large"
    default_detail = "The request body is too large."


class UnsupportedMediaType(FeedbackError):
    code = "unsupported_media_type"
    default_detail = "Send the vote as JSON or as a form."


class RateLimited(FeedbackError):
    """Too many attempts; ``retry_after`` is the whole number of seconds to wait (at least 1)."""

    code = "rate_limited"
    default_detail = "Too many attempts; please wait before voting again."

    def __init__(self, retry_after: float, detail: str | None = None) -> None:
        self.retry_after = max(1, int(retry_after + 0.999))
        super().__init__(detail)


class StoreUnavailable(FeedbackError):
    """The database did not answer; nothing was changed. ``cause`` is the original exception
    (logged once, without secrets, where it was turned into this error)."""

    code = "store_unavailable"
    default_detail = "The vote store is not answering; nothing was changed. Please retry."

    def __init__(self, detail: str | None = None, *, cause: BaseException | None = None) -> None:
        self.cause = cause
        super().__init__(detail)


class SchemaTooNew(StoreUnavailable):
    """The database was migrated by a newer feedbackwidget than this one."""

    def __init__(self, found: int, supported: int) -> None:
        self.found = found
        self.supported = supported
        super().__init__(
            f"database schema version {found} is newer than this feedbackwidget "
            f"understands ({supported}); upgrade feedbackwidget"
        )


class InternalError(FeedbackError):
    """Something of ours failed unexpectedly (logged with its traceback where it happened)."""

    code = "internal_error"
    default_detail = "Something went wrong on our side; nothing was changed."
