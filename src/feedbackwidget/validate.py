"""One validator per value a reader, a publisher or an editor hands us.

Every entry point — the vote and reason APIs, the tally, the embed page,
``widget.embed()``, withdrawal, the dashboard, the CLI — validates a value with
the function here, so a value accepted at one entry point means the same at all
the others. Each raises :class:`~feedbackwidget.errors.InvalidRequest` with a
sentence a client can show; none knows about HTTP.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any, TypeGuard
from urllib.parse import urlsplit, urlunsplit

from .errors import CaptchaRequired, InvalidRequest
from .types import (
    MAX_ARTICLE_ID,
    MAX_AUTHORS,
    MAX_LABEL,
    MAX_REASON_TEXT,
    MAX_TAGS,
    MAX_TITLE,
    MAX_VERSION,
    VOTES,
    Vote,
)

MAX_CAPTCHA_TOKEN = 8192
MAX_SIGNED = 4096
MAX_RETURN_TO = 2048
#: Longest language tag looked at (BCP 47 tags in practice stay far below).
MAX_LANG = 35
MAX_PAGE_URL = 2048
#: Years a date the product handles falls in: a publication time outside them is a typo or a
#: placeholder, and no vote can be outside them (votes carry the server's clock).
YEARS = (1900, 2999)
#: Runs of white space inside a name (a line break in JSON-LD, two spaces in a CMS field) are one space.
_SPACES = re.compile(r"\s+")

#: Unicode's control characters (category Cc) and surrogates (Cs), as one character class.
_UNCLEAN = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
#: The same, but a line feed is allowed (free text).
_UNCLEAN_TEXT = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def clean(value: str) -> bool:
    """True when ``value`` has no control character and no lone surrogate."""
    return _UNCLEAN.search(value) is None


def is_article_id(value: Any) -> TypeGuard[str]:
    """True when ``value`` is an article id: 1 to 256 characters, none of them a control character
    or a lone surrogate."""
    return isinstance(value, str) and 1 <= len(value) <= MAX_ARTICLE_ID and clean(value)


def article_id(value: Any) -> str:
    """An article id (:func:`is_article_id`), or :class:`InvalidRequest`."""
    if not is_article_id(value):
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


# -- what an article is about (widget.embed() and the page's JSON-LD) --------------------------

def label(value: Any, name: str = "name") -> str | None:
    """One section, author or tag name: text of at most 200 characters without control characters,
    white space runs made one space; blank means none."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"{name} must be text.")
    text = _SPACES.sub(" ", value).strip()
    if not text:
        return None
    if len(text) > MAX_LABEL or not clean(text):
        raise InvalidRequest(f"{name} must be at most {MAX_LABEL} characters without control characters.")
    return text


def section(value: Any) -> str | None:
    """An article's section (``articleSection``): one name, see :func:`label`."""
    return label(value, "section")


def _names(value: Any, name: str, limit: int) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Iterable) or isinstance(value, bytes | dict):
        raise InvalidRequest(f"{name} must be a list of names.")
    found = [label(item, name) for item in value]
    names = tuple(dict.fromkeys(n for n in found if n is not None))
    if len(names) > limit:
        raise InvalidRequest(f"{name} must hold at most {limit} names.")
    return names


def authors(value: Any) -> tuple[str, ...]:
    """An article's authors: a name or a list of at most 20, each as :func:`label`; repeats dropped."""
    return _names(value, "authors", MAX_AUTHORS)


def tags(value: Any) -> tuple[str, ...]:
    """An article's tags (``keywords``): a name or a list of at most 50, each as :func:`label`."""
    return _names(value, "tags", MAX_TAGS)


def published_at(value: Any) -> dt.datetime | None:
    """When an article was published: an aware datetime, or ISO 8601 text (a date means midnight
    UTC; a time without an offset is read as UTC), years 1900 to 2999; returned in UTC."""
    if value is None or value == "":
        return None
    problem = "published_at must be an ISO 8601 date or date-time, such as 2026-11-30T08:00:00+01:00."
    if isinstance(value, str):
        text = value.strip()
        if len(text) > 64 or not text.isascii():
            raise InvalidRequest(problem)
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            raise InvalidRequest(problem) from None
    elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if not isinstance(value, dt.datetime):
        raise InvalidRequest(problem)
    moment: dt.datetime = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    try:
        moment = moment.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        raise InvalidRequest(problem) from None
    if not YEARS[0] <= moment.year <= YEARS[1]:
        raise InvalidRequest(problem)
    return moment


def page_url(value: Any) -> str | None:
    """The address of the page that shows an article: an absolute http(s) URL of at most 2048
    characters, returned without its fragment; empty means none. (Whether the server may fetch
    it is decided by the metadata reader, against the allowed origins.)"""
    text = _optional_text("url", value, MAX_PAGE_URL)
    if text is None:
        return None
    try:
        parts = urlsplit(text.strip())
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise InvalidRequest("url must be an absolute http(s) URL.") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or not text.isascii():
        raise InvalidRequest("url must be an absolute http(s) URL.")
    return urlunsplit((parts.scheme.lower(), parts.netloc, parts.path or "/", parts.query, ""))
