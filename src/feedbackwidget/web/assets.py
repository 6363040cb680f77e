"""The widget's browser assets: ``/widget.js`` (configured at serve time) and its stylesheets.

``static/widget.js`` is the terser build of ``static/src/widget.js``. It contains one
placeholder, ``__FEEDBACKWIDGET_CONFIG__``, replaced here by a JSON object with the captcha
site key and script URL, the stylesheet, the widget's markup (``templates/_widget.html``
rendered without strings) and two English fallback strings. The reader's own language
arrives with the tally, so no reader downloads languages they do not read.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
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
    """The widget's markup without strings (the script fills them in from the catalogue)."""
    html = templates.get_template("_widget.html").render(m={}, form=False, mine=None, tally="", status="")
    return re.sub(r">\s+<", "><", html).strip()


def _literal(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")


@lru_cache(maxsize=16)
def widget_script(sitekey: str, js_url: str, templates: jinja2.Environment, why: bool = False) -> Asset:
    english = i18n.messages("en")
    config = {
        "why": int(why),
        "sitekey": sitekey,
        "captcha": js_url,
        "css": minify_css(_text("widget.css")),
        "html": skeleton(templates),
        "m": {"error": english["network"], "retry": english["retry"]},
    }
    source = _text("widget.js")
    if PLACEHOLDER not in source:
        raise RuntimeError("static/widget.js lacks its configuration placeholder; rebuild it")
    return Asset.of(source.replace(PLACEHOLDER, _literal(config), 1).encode(), "text/javascript; charset=utf-8")


@lru_cache(maxsize=64)
def reasons_module(lang: str, codes: tuple[str, ...], text: bool) -> Asset:
    """The "why not?" picker (an ES module) with one language's strings."""
    config = {"css": minify_css(_text("reasons.css")), "codes": list(codes), "text": text,
              "t": i18n.reason_messages(lang, codes)}
    source = _text("widget-reasons.js").replace(REASONS_PLACEHOLDER, _literal(config), 1)
    return Asset.of(source.encode(), "text/javascript; charset=utf-8", cors=True)


@lru_cache(maxsize=4)
def stylesheet(name: str) -> Asset:
    return Asset.of(minify_css(_text(name)).encode(), "text/css; charset=utf-8")


async def widget_js(request: Request) -> Response:
    rt = runtime_of(request)
    settings = rt.settings
    sitekey, why = settings.hcaptcha_sitekey or "", bool(settings.reasons)
    return widget_script(sitekey, settings.hcaptcha_js_url, rt.templates, why).response(request)


async def widget_reasons_js(request: Request) -> Response:
    settings = runtime_of(request).settings
    lang = i18n.negotiate(request.query_params.get("lang"))
    return reasons_module(lang, settings.reasons, settings.reason_text).response(request)


async def widget_css(request: Request) -> Response:
    return stylesheet("widget.css").response(request)


async def embed_css(request: Request) -> Response:
    return stylesheet("embed.css").response(request)


ROUTES = [
    Route("/widget.js", widget_js, methods=["GET", "HEAD"]),
    Route("/widget-reasons.js", widget_reasons_js, methods=["GET", "HEAD"]),
    Route("/widget.css", widget_css, methods=["GET", "HEAD"]),
    Route("/embed.css", embed_css, methods=["GET", "HEAD"]),
]
