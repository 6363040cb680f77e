"""The widget's browser assets, configured at serve time, and its stylesheets.

The scripts are terser builds of ``static/src/`` (``static/build/``): ``/widget.js`` is the
first view on publisher pages, ``/embed.js`` the same code for the ``/embed`` page,
``/widget-actions.js?lang=`` what a reader needs once they press something (captcha, votes,
withdrawals, their messages in that language) and ``/widget-reasons.js?lang=`` the "why not?"
picker. Each has one placeholder replaced here by a JSON object: for ``widget.js`` the
stylesheet, the widget's markup (``templates/_widget.html`` rendered without strings) and two
English fallback strings; the captcha's site key and script URL travel only with the actions
module, so a first view carries nothing it does not use. The reader's own first-view strings
arrive with the tally, so no reader downloads languages they do not read.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

import jinja2
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import i18n
from .responses import Prepared, raw_headers
from .runtime import runtime_of

PLACEHOLDER = "__FEEDBACKWIDGET_CONFIG__"
ACTIONS_PLACEHOLDER = "__FEEDBACKWIDGET_ACTIONS__"
REASONS_PLACEHOLDER = "__FEEDBACKWIDGET_REASONS__"
CACHE_CONTROL = "public, max-age=3600, stale-while-revalidate=86400"
HCAPTCHA_SOURCES = "https://hcaptcha.com https://*.hcaptcha.com"


@dataclass(frozen=True, slots=True)
class _Variant:
    """One encoding of an asset: its ETag and ready header lists for 200 and 304."""

    body: bytes
    etag: str
    full: tuple[tuple[bytes, bytes], ...]
    not_modified: tuple[tuple[bytes, bytes], ...]


@dataclass(frozen=True, slots=True)
class Asset:
    """One served file, plain and gzipped, with strong ETags for both; every header
    is computed once, when the asset is built."""

    plain: _Variant
    gzipped: _Variant

    @classmethod
    def of(cls, body: bytes, media_type: str, *, cors: bool = False) -> Asset:
        digest = hashlib.sha256(body).hexdigest()[:20]

        def variant(content: bytes, zipped: bool) -> _Variant:
            etag = f'"{digest}{"-gz" if zipped else ""}"'
            headers = {
                "ETag": etag,
                "Cache-Control": CACHE_CONTROL,
                "Vary": "Accept-Encoding",
                "X-Content-Type-Options": "nosniff",
                "Cross-Origin-Resource-Policy": "cross-origin",
            }
            if cors:  # a module script imported by publisher pages of other origins
                headers["Access-Control-Allow-Origin"] = "*"
            not_modified = raw_headers(headers, b"", 304, media_type.encode())
            if zipped:
                headers["Content-Encoding"] = "gzip"
            full = raw_headers(headers, content, 200, media_type.encode())
            return _Variant(content, etag, tuple(full), tuple(not_modified))

        return cls(variant(body, False), variant(gzip.compress(body, 9, mtime=0), True))

    def response(self, request: Request) -> Response:
        zipped = "gzip" in request.headers.get("accept-encoding", "").lower()
        chosen = self.gzipped if zipped else self.plain
        if chosen.etag in request.headers.get("if-none-match", ""):
            return Prepared(b"", 304, list(chosen.not_modified))
        return Prepared(chosen.body, 200, list(chosen.full))


def captcha_sources(js_url: str) -> str:
    """The CSP sources the captcha needs: hCaptcha's documented hosts, or the origin of a
    stand-in configured through HCAPTCHA_JS_URL."""
    parts = urlsplit(js_url)
    host = (parts.hostname or "").lower()
    if host == "hcaptcha.com" or host.endswith(".hcaptcha.com"):
        return HCAPTCHA_SOURCES
    return f"{parts.scheme}://{parts.netloc}"


def _text(name: str) -> str:
    return (i18n.static_dir() / name).read_text(encoding="utf-8")


def minify_css(css: str) -> str:
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    return re.sub(r"\s*\n\s*", "", css).strip()


def skeleton(templates: jinja2.Environment) -> str:
    """The widget's markup without strings (the script fills them in from the catalogue),
    with the quotes dropped from attribute values that HTML allows unquoted: every byte here
    is in every reader's first view."""
    html = templates.get_template("_widget.html").render(m={}, form=False, mine=None, tally="", status="")
    html = re.sub(r">\s+<", "><", html).strip()
    return re.sub(r'="([^"\s=<>`\']+)"', r"=\1", html)


def _literal(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")


def _fill(name: str, placeholder: str, config: Mapping[str, object], *, cors: bool = False) -> Asset:
    source = _text(name)
    if placeholder not in source:
        raise RuntimeError(f"static/{name} lacks its configuration placeholder; rebuild it (static/build)")
    body = source.replace(placeholder, _literal(config), 1).encode()
    return Asset.of(body, "text/javascript; charset=utf-8", cors=cors)


def _fallback() -> dict[str, str]:
    english = i18n.messages("en")
    return {"error": english["network"], "retry": english["retry"]}


@lru_cache(maxsize=4)
def widget_script(templates: jinja2.Environment, sites: bool = False) -> Asset:
    """``/widget.js``: the first view on publisher pages; ``sites``: the build that knows sites
    (``site=`` on its requests, ``site`` in its events), which a server given sites serves —
    a server with one site sends none of those bytes."""
    config = {"css": minify_css(_text("widget.css")), "html": skeleton(templates), "m": _fallback()}
    return _fill("widget-sites.js" if sites else "widget.js", PLACEHOLDER, config)


@lru_cache(maxsize=1)
def embed_script() -> Asset:
    """``/embed.js``: the same code for the ``/embed`` page, which has its own markup and styles."""
    return _fill("embed.js", PLACEHOLDER, {"m": _fallback()})


@lru_cache(maxsize=64)
def actions_module(lang: str, sitekey: str, js_url: str, why: bool) -> Asset:
    """What a reader needs once they press something (an ES module), with one language's strings."""
    config = {"sitekey": sitekey, "captcha": js_url, "why": int(why),
              "css": minify_css(_text("widget-actions.css")), "m": i18n.action_messages(lang)}
    return _fill("widget-actions.js", ACTIONS_PLACEHOLDER, config, cors=True)


@lru_cache(maxsize=64)
def reasons_module(lang: str, codes: tuple[str, ...], text: bool) -> Asset:
    """The "why not?" picker (an ES module) with one language's strings."""
    config = {"css": minify_css(_text("reasons.css")), "codes": list(codes), "text": text,
              "t": i18n.reason_messages(lang, codes)}
    return _fill("widget-reasons.js", REASONS_PLACEHOLDER, config, cors=True)


@lru_cache(maxsize=4)
def stylesheet(*names: str) -> Asset:
    return Asset.of("".join(minify_css(_text(name)) for name in names).encode(), "text/css; charset=utf-8")


async def widget_js(request: Request) -> Response:
    runtime = runtime_of(request)
    return widget_script(runtime.templates, runtime.sites.named).response(request)


async def embed_js(request: Request) -> Response:
    return embed_script().response(request)


def _per_site(request: Request, response: Response) -> Response:
    """A module that holds its site's settings (sitekey, reasons): with several sites and no
    ``?site=`` the site was the Origin's, so caches must keep one answer per origin."""
    if runtime_of(request).sites.named and "site" not in request.query_params:
        response.raw_headers.append((b"vary", b"Origin"))
    return response


async def widget_actions_js(request: Request) -> Response:
    runtime = runtime_of(request)
    settings = runtime.settings
    lang = i18n.negotiate(request.query_params.get("lang") or runtime.site.lang)
    sitekey, why = settings.hcaptcha_sitekey or "", bool(settings.reasons)
    return _per_site(request, actions_module(lang, sitekey, settings.hcaptcha_js_url, why).response(request))


async def widget_reasons_js(request: Request) -> Response:
    runtime = runtime_of(request)
    settings = runtime.settings
    lang = i18n.negotiate(request.query_params.get("lang") or runtime.site.lang)
    return _per_site(request, reasons_module(lang, settings.reasons, settings.reason_text).response(request))


async def widget_css(request: Request) -> Response:
    """The whole widget stylesheet, for the ``/embed`` page (widget.js and the actions module
    carry their own parts)."""
    return stylesheet("widget.css", "widget-actions.css").response(request)


async def embed_css(request: Request) -> Response:
    return stylesheet("embed.css").response(request)


ROUTES = [
    Route("/widget.js", widget_js, methods=["GET", "HEAD"]),
    Route("/embed.js", embed_js, methods=["GET", "HEAD"]),
    Route("/widget-actions.js", widget_actions_js, methods=["GET", "HEAD"]),
    Route("/widget-reasons.js", widget_reasons_js, methods=["GET", "HEAD"]),
    Route("/widget.css", widget_css, methods=["GET", "HEAD"]),
    Route("/embed.css", embed_css, methods=["GET", "HEAD"]),
]
