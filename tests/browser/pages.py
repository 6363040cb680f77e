"""Publisher pages for the cross-engine suite: articles with the script widget or the iframe,
each loading the console/CSP probe (engines/probe.py) as its first script."""

from __future__ import annotations

import html

from tests.browser.engines.probe import CONSOLE_PROBE
from tests.browser.harness import ARTICLE_TEXT, Stack
from tests.browser.holding import EVENTS_HOOK

_PROBES: dict[int, str] = {}
_EVENTS: dict[int, str] = {}


def probe_url(stack: Stack) -> str:
    """The probe's URL on the publisher (registered once per publisher)."""
    key = id(stack.publisher)
    if key not in _PROBES:
        _PROBES[key] = stack.publisher.add_script(CONSOLE_PROBE)
    return _PROBES[key]


def strict_csp(stack: Stack) -> str:
    """``default-src 'none'`` plus exactly what docs/widget.md asks a publisher to allow (with
    the stand-in for hCaptcha's hosts), the probe by its full URL, and a ``report-uri``.
    ``img-src 'self'`` because Firefox checks its own favicon request against the page's
    policy; the widget loads no image, from anywhere."""
    widget, captcha = stack.widget_url, stack.fake.origin
    return (
        f"default-src 'none'; script-src {probe_url(stack)} {widget} {captcha}; connect-src {widget} {captcha}; "
        f"frame-src {captcha}; style-src {captcha}; img-src 'self'; report-uri /csp-report"
    )


def _page(stack: Stack, body: str, *, csp: str | None, head: str = "") -> str:
    document = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Article</title>'
        f'<script src="{probe_url(stack)}"></script>{head}</head>'
        f"<body><main><article>{ARTICLE_TEXT}{body}</article></main></body></html>"
    )
    return stack.publisher.add(document, {"Content-Security-Policy": csp} if csp else {})


def article_page(stack: Stack, *article_ids: str, csp: str | None = None) -> str:
    """A publisher article with one script widget per id (the contract's embed snippet)."""
    widgets = "".join(f'<div data-feedback-article="{html.escape(a)}"></div>' for a in article_ids)
    return _page(stack, widgets + f'<script src="{stack.widget_url}/widget.js" async></script>', csp=csp)


def widgets_page(stack: Stack, *elements: tuple[str, str | None]) -> str:
    """A publisher article with one script widget per (article id, the site its element
    declares or None), recording the page's ``feedbackwidget:*`` events in ``window.__fwEvents``
    (holding.EVENTS_HOOK, loaded before the widget)."""
    key = id(stack.publisher)
    if key not in _EVENTS:
        _EVENTS[key] = stack.publisher.add_script(EVENTS_HOOK)
    widgets = "".join(
        f'<div data-feedback-article="{html.escape(a)}"'
        + (f' data-feedback-site="{html.escape(site)}"' if site is not None else "")
        + "></div>"
        for a, site in elements
    )
    return _page(stack, widgets + f'<script src="{stack.widget_url}/widget.js" async></script>', csp=None,
                 head=f'<script src="{_EVENTS[key]}"></script>')


def iframe_page(stack: Stack, article_id: str) -> str:
    """A publisher article with the widget's /embed iframe (cross-site: localhost vs 127.0.0.1)."""
    frame = (
        f'<iframe src="{embed_url(stack, article_id)}" title="Reader feedback" width="520" height="190"></iframe>'
    )
    return _page(stack, frame, csp=None)


def embed_url(stack: Stack, article_id: str) -> str:
    return f"{stack.widget_url}/embed/{article_id}"
