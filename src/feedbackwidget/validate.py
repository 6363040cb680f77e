"""One validator per value a reader, a publisher or an editor hands us.

Every entry point — the vote and reason APIs, the tally, the embed page,
``widget.embed()``, withdrawal, the dashboard, the CLI — validates a value with
the function here, so a value accepted at one entry point means the same at all
the others. Each raises :class:`~feedbackwidget.errors.InvalidRequest` with a
sentence a client can show; none knows about HTTP.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import CaptchaRequired, InvalidRequest
from .types import MAX_ARTICLE_ID, MAX_REASON_TEXT, MAX_TITLE, MAX_VERSION, VOTES, Vote

MAX_CAPTCHA_TOKEN = 8192
MAX_SIGNED = 4096
MAX_RETURN_TO = 2048
#: Longest language tag looked at (BCP 47 tags in practice stay far below).
MAX_LANG = 35

#: Unicode's control characters (category Cc) and surrogates (Cs), as one character class.
_UNCLEAN = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
#: The same, but a line feed is allowed (free text).
_UNCLEAN_TEXT = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def clean(value: str) -> bool:
    """True when ``value`` has no control character and no lone surrogate."""
    return _UNCLEAN.search(value) is None


def article_id(value: Any) -> str:
    """An article id: 1 to 256 characters, none of them a control character or a lone surrogate."""
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_ARTICLE_ID or not clean(value):
        raise InvalidRequest(f"article_id must be 1 to {MAX_ARTICLE_ID} characters without control characters.")
    return value


def vote(value: Any) -> Vote:
    if value == "up":
        return "up"
    if value == "down":
        return "down"
    raise InvalidRequest(f"vote must be one of: {', '.join(repr(v) for v in VOTES)}.")


def _optional_text(name: str, value: Any, limit: int) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > limit or not clean(value):
        raise InvalidRequest(f"{name} must be text of at most {limit} characters without control characters.")
    return value


def title(value: Any) -> str | None:
    """An article's title: at most 300 characters; empty means none."""
    return _optional_text("title", value, MAX_TITLE)


def version(value: Any) -> str | None:
    """An article's revision: at most 64 characters; empty means none."""
    return _optional_text("version", value, MAX_VERSION)


def signed(value: Any) -> str | None:
    """The signature ``widget.embed()`` put on the markup (checked by the token module)."""
    return _optional_text("signed", value, MAX_SIGNED)


def return_to(value: Any) -> str | None:
    return _optional_text("return_to", value, MAX_RETURN_TO)


def lang(value: Any) -> str | None:
    """A language tag as a client sent it (negotiated later); anything else is no preference."""
    if not isinstance(value, str) or not value:
        return None
    return value[:MAX_LANG]


def captcha_token(value: Any) -> str:
    if value is None or value == "":
        raise CaptchaRequired()
    if not isinstance(value, str) or len(value) > MAX_CAPTCHA_TOKEN or not clean(value):
        raise InvalidRequest("captcha_token must be the text the captcha gave.")
    return value


def reason(value: Any, allowed: tuple[str, ...]) -> str:
    if not allowed:
        raise InvalidRequest("This site does not ask for reasons.")
    if not isinstance(value, str) or value not in allowed:
        raise InvalidRequest(f"reason must be one of: {', '.join(allowed)}.")
    return value


def reason_text(value: Any, allowed: bool) -> str | None:
    """Free text with a reason: at most 500 characters, line feeds allowed; blank means none."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_REASON_TEXT:
        raise InvalidRequest(f"text must be at most {MAX_REASON_TEXT} characters.")
    if _UNCLEAN_TEXT.search(value) is not None:
        raise InvalidRequest("text must not contain control characters.")
    text = value.strip() or None
    if text is not None and not allowed:
        raise InvalidRequest("This site does not take free text with a reason.")
    return text
