"""The widget's one message catalogue, shared by the script and the server-rendered page.

The strings live in ``static/i18n.json`` (one object per language). The embed script ships
only two English fallbacks. A reader receives their language's first-view strings with the
tally answer (:func:`client_bundle`), the strings of results and errors with the actions
module they load on their first press (:func:`action_messages`), and the embed page renders
them all server-side (:func:`client_messages`).
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Final

DEFAULT_LANG: Final = "en"
_TAG_RE = re.compile(r"^[A-Za-z]{2,8}")
#: Keys that only the server-rendered page uses; the script never needs them.
_SERVER_ONLY: Final = frozenset({"nojs", "dir"})
#: What a reader sees before pressing anything (the withdraw label is for a returning reader);
#: every other key the script uses comes with the actions module.
FIRST_VIEW: Final = ("question", "yes", "no", "tally", "withdraw", "disclosure", "privacy", "terms")


def static_dir() -> Path:
    """The directory holding ``widget.js`` and the catalogue.

    Inside a wheel it is ``feedbackwidget/static``; in an editable install (a source
    checkout) it is the repository's top-level ``static/``.
    """
    here = Path(__file__).resolve().parent
    packaged = here / "static"
    if packaged.is_dir():
        return packaged
    return here.parent.parent / "static"


@cache
def catalogue() -> dict[str, dict[str, str]]:
    """Every language's strings, read once per process."""
    raw = json.loads((static_dir() / "i18n.json").read_text(encoding="utf-8"))
    return {str(lang): {str(k): str(v) for k, v in strings.items()} for lang, strings in raw.items()}


def languages() -> tuple[str, ...]:
    return tuple(catalogue())


def negotiate(tag: str | None, accept_language: str | None = None) -> str:
    """The supported language for a BCP 47 ``tag`` (``ru-RU`` → ``ru``), else from an
    ``Accept-Language`` header, else English."""
    supported = catalogue()
    candidates: list[str] = []
    if tag:
        candidates.append(tag)
    if accept_language:
        weighted: list[tuple[float, int, str]] = []
        for index, part in enumerate(accept_language.split(",")[:20]):
            name, _, params = part.strip().partition(";")
            quality = 1.0
            match = re.search(r"q=([0-9.]+)", params)
            if match:
                try:
                    quality = float(match.group(1))
                except ValueError:
                    quality = 0.0
            if quality > 0:
                weighted.append((-quality, index, name.strip()))
        candidates.extend(name for _, _, name in sorted(weighted))
    for candidate in candidates:
        match = _TAG_RE.match(candidate.strip())
        if match and match.group(0).lower() in supported:
            return match.group(0).lower()
    return DEFAULT_LANG


def messages(lang: str | None) -> dict[str, str]:
    """All strings of the negotiated language (copy; safe to modify)."""
    return dict(catalogue()[negotiate(lang)])


def direction(lang: str | None) -> str:
    return catalogue()[negotiate(lang)].get("dir", "ltr")


def client_messages(lang: str | None) -> dict[str, str]:
    """Every string the embed script uses, for one language (what the ``/embed`` page hands
    it; the reason picker's strings travel with its own module, see :func:`reason_messages`)."""
    return {
        k: v for k, v in catalogue()[negotiate(lang)].items() if k not in _SERVER_ONLY and not k.startswith("reason")
    }


def first_view_messages(lang: str | None) -> dict[str, str]:
    """The strings a reader needs before pressing anything (:data:`FIRST_VIEW`)."""
    strings = catalogue()[negotiate(lang)]
    return {k: strings[k] for k in FIRST_VIEW}


def action_messages(lang: str | None) -> dict[str, str]:
    """The strings of results and errors (everything else the script uses, and the reason
    picker's thank-you), carried by the actions module."""
    strings = {k: v for k, v in client_messages(lang).items() if k not in FIRST_VIEW}
    strings["reason_thanks"] = catalogue()[negotiate(lang)]["reason_thanks"]
    return strings


def reason_label(code: str, lang: str | None = None) -> str:
    """How a reason code reads: ``reason.<code>`` in the catalogue, else the code itself."""
    strings = catalogue()[negotiate(lang)]
    return strings.get(f"reason.{code}") or catalogue()[DEFAULT_LANG].get(f"reason.{code}") or code.replace("_", " ")


def reason_messages(lang: str | None, codes: tuple[str, ...]) -> dict[str, object]:
    """Strings of the "why not?" picker for one language and the configured codes."""
    strings = catalogue()[negotiate(lang)]
    return {
        "prompt": strings["reason_prompt"],
        "text": strings["reason_text"],
        "send": strings["reason_send"],
        "labels": {code: reason_label(code, lang) for code in codes},
    }


def client_bundle(lang: str | None) -> dict[str, object]:
    """What the tally answer carries for ``?lang=``: ``lang``, ``dir`` and ``messages`` (the
    first view's strings)."""
    code = negotiate(lang)
    return {"lang": code, "dir": direction(code), "messages": first_view_messages(code)}


def error_key(code: str | None, status: int = 400) -> str:
    """The catalogue key that explains an API error to a reader (the script does the same)."""
    if status >= 500:
        return "unavailable"
    if code == "captcha_required":  # only a form posted without the script gets this
        return "nojs"
    return code if code in ("rate_limited", "captcha_failed") else "error"
