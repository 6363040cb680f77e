"""Dashboard sessions as the dashboard sees them: the cookie's name and life.

Signing, verifying and the sign-out form token live with every other token in
:mod:`feedbackwidget.tokens` (one key ring, one salt per purpose, clock skew
tolerated): a session signed on one server is good on every other server of
the site, and changing ``EXPORT_TOKEN`` ends every session.
"""

from __future__ import annotations

from ..tokens import SESSION_MAX_AGE, SESSION_SALT

SESSION_COOKIE = "feedbackwidget_admin"

__all__ = ["SESSION_COOKIE", "SESSION_MAX_AGE", "SESSION_SALT"]
