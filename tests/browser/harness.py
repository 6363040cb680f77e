"""The browser tests' parts: the publisher site, the recorded widget server, readers, and helpers to find a widget; the fixtures that build them are in conftest.py."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import threading
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from feedbackwidget import Settings
from feedbackwidget.fakecaptcha import FakeHCaptcha
from tests.helpers import EXPORT_TOKEN

ROOT = Path(__file__).resolve().parents[2]

AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # localhost must reach the IPv4 loopback where the publisher listens
    "--host-resolver-rules=MAP localhost 127.0.0.1",
]

VIOLATIONS_HOOK = """
document.addEventListener('securitypolicyviolation', (e) => {
  (window.__cspViolations = window.__cspViolations || []).push(e.violatedDirective + ' ' + e.blockedURI);
}, true);
"""

def chromium_path() -> str | None:
    for candidate in (os.environ.get("FEEDBACKWIDGET_TEST_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and Path(candidate).exists():
            return candidate
    return None

def proxy_args(port: int) -> list[str]:
    return [f"--proxy-server=http://127.0.0.1:{port}"]  # loopback is never proxied

class Recorder:
    """ASGI wrapper that writes down every HTTP request the widget server receives
    (``log``), the names of the cookies each one carried (``cookies``, same order) and each
    one answered (``answered``, in the order the answers were sent).

    ``hold(method, path)`` keeps the next answers to such requests (already computed by the
    app) from leaving until the returned event is set: a slow network, on cue."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.log: list[tuple[str, str, str]] = []
        self.cookies: list[tuple[str, str, frozenset[str]]] = []
        self.answered: list[tuple[str, str]] = []
        self.holds: dict[tuple[str, str], threading.Event] = {}

    def hold(self, method: str, path: str) -> threading.Event:
        release = self.holds[(method, path)] = threading.Event()
        return release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        key = (scope["method"], scope["path"])
        self.log.append((*key, scope["query_string"].decode("latin-1")))
        header = b"; ".join(v for k, v in scope["headers"] if k == b"cookie").decode("latin-1")
        names = frozenset(p.split("=", 1)[0].strip() for p in header.split(";") if "=" in p)
        self.cookies.append((*key, names))
        release = self.holds.get(key)

        async def answer(message: Message) -> None:
            if release is not None and message["type"] == "http.response.start":
                await asyncio.to_thread(release.wait, 30)
            await send(message)

        await self.app(scope, receive, answer)
        self.answered.append(key)

class Publisher:
    """A news site on another site than the widget: pages and scripts registered by tests."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[str, dict[str, str]]] = {}
        self.scripts: dict[str, str] = {}
        self.reports: list[Any] = []
        self.port = 0

        async def page(request: Request) -> Response:
            html, headers = self.pages[request.path_params["name"]]
            return HTMLResponse(html, headers={"Cache-Control": "no-store", **headers})

        async def script(request: Request) -> Response:
            return Response(self.scripts[request.path_params["name"]], media_type="text/javascript")

        async def report(request: Request) -> Response:
            self.reports.append(json.loads(await request.body() or b"null"))
            return Response(status_code=204)

        async def favicon(request: Request) -> Response:
            return Response(status_code=204)  # browsers ask for it; a 404 would be console noise

        self.app = Starlette(
            routes=[
                Route("/favicon.ico", favicon),
                Route("/news/{name}", page),
                Route("/js/{name}", script),
                Route("/csp-report", report, methods=["POST"]),
            ]
        )

    @property
    def origin(self) -> str:
        return f"http://localhost:{self.port}"

    def add(self, html: str, headers: dict[str, str] | None = None) -> str:
        name = secrets.token_hex(6)
        self.pages[name] = (html, headers or {})
        return f"{self.origin}/news/{name}"

    def add_script(self, source: str) -> str:
        name = secrets.token_hex(6) + ".js"
        self.scripts[name] = source
        return f"{self.origin}/js/{name}"

#: For the test's own requests to the loopback servers: never through a proxy the machine sets.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))

ARTICLE_TEXT = (
    "<h1>Night trains return to the northern line</h1>"
    "<p>After eleven years without a sleeper service, the regional operator will run three "
    "night trains a week from March, with a dining car and bicycle space.</p>"
)

@dataclass
class Stack:
    """Publisher + widget server + captcha stand-in, as one test sees them."""

    publisher: Publisher
    widget_url: str
    recorder: Recorder
    fake: FakeHCaptcha
    settings: Settings
    extra_head: list[str] = field(default_factory=list)

    def article(
        self,
        *article_ids: str,
        lang: str = "en",
        csp: str | None = None,
        head: str = "",
        body: str = "",
        attrs: str = "",
        script: bool = True,
    ) -> str:
        """URL of a publisher article page embedding one widget per article id."""
        widgets = "".join(f'<div data-feedback-article="{a}"{attrs}></div>' for a in article_ids)
        tag = f'<script src="{self.widget_url}/widget.js" async></script>' if script else ""
        html = (
            f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>Article</title>{head}</head>'
            f"<body><main><article>{ARTICLE_TEXT}{widgets}</article>{body}</main>{tag}</body></html>"
        )
        headers = {"Content-Security-Policy": csp} if csp else {}
        return self.publisher.add(html, headers)

    def requests(self) -> list[tuple[str, str, str]]:
        return list(self.recorder.log)

    def api(self, path: str, *, token: str | None = None) -> Any:
        request = urllib.request.Request(self.widget_url + path)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with DIRECT.open(request, timeout=10) as answer:
            return json.loads(answer.read())

    def tally(self, article_id: str) -> tuple[int, int]:
        answer = self.api(f"/api/v1/articles/{article_id}")
        return answer["up"], answer["down"]

    def export_votes(self) -> list[dict[str, Any]]:
        return self.export_rows("votes")

    def export_rows(self, kind: str) -> list[dict[str, Any]]:
        request = urllib.request.Request(self.widget_url + f"/api/v1/export?format=ndjson&kind={kind}")
        request.add_header("Authorization", f"Bearer {EXPORT_TOKEN}")
        with DIRECT.open(request, timeout=10) as answer:
            return [json.loads(line) for line in answer.read().decode().splitlines() if line.strip()]

class Reader:
    """One reader's browser profile (its own cookies and localStorage)."""

    def __init__(self, browser: Any, **options: Any) -> None:
        self.context = browser.new_context(**options)
        self.context.add_init_script(VIOLATIONS_HOOK)
        self.errors: list[str] = []
        self.seen: list[str] = []
        self.context.on("request", lambda r: self.seen.append(r.url))

    def page(self) -> Any:
        page = self.context.new_page()
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        return page

    def violations(self, page: Any) -> list[str]:
        found: list[str] = page.evaluate("window.__cspViolations || []")
        return found

    def close(self) -> None:
        self.context.close()

SCAN = """async () => {
  const result = await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']});
  return result.violations.map(v => v.id + ': ' + v.nodes.map(n => JSON.stringify(n.target)).join(', '));
}"""

def axe_scan(page: Any, axe_source: str) -> list[str]:
    page.evaluate(axe_source)
    found: list[str] = page.evaluate(SCAN)
    return found

def article_id() -> str:
    return "2026/night-trains-" + secrets.token_hex(4)

def widget_of(page: Any, article: str) -> Any:
    return page.locator(f'[data-feedback-article="{article}"]')
