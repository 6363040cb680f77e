"""Harness for the widget in real browsers.

A publisher page is served on ``http://localhost:P`` and the widget on
``http://127.0.0.1:Q`` (browsers treat them as different *sites*), with the loopback
hCaptcha stand-in on a third origin. Every request reaching the widget server is recorded
(preflights included, with the names of the cookies it carried), every CSP violation in the
page is collected (DOM event and ``report-uri``), and any uncaught script error fails the test.

Most files here drive headless Chromium through Playwright (the ``browser`` and ``reader``
fixtures). ``test_engines*.py`` run in Chromium, Firefox and WebKit through the small driver
interface of ``engines/`` (the ``engine`` and ``new_engine_reader`` fixtures). Background
traffic of every browser goes to a loopback port that refuses it (``dead_proxy_port``).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import socket
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.types import Message, Receive, Scope, Send

from feedbackwidget import FeedbackWidget, Settings
from feedbackwidget.fakecaptcha import FakeHCaptcha
from tests.browser.engines import ENGINES, Engine, EngineUnavailable
from tests.browser.engines import Reader as EngineReader
from tests.browser.engines.chromium import ChromiumEngine
from tests.browser.engines.firefox import FirefoxEngine
from tests.browser.engines.webkit import WebKitEngine
from tests.conftest import EXPORT_TOKEN, SECRET, Served

playwright_sync = pytest.importorskip("playwright.sync_api")

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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.browser)


def chromium_path() -> str | None:
    for candidate in (os.environ.get("FEEDBACKWIDGET_TEST_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(scope="session")
def dead_proxy_port() -> Iterator[int]:
    """A loopback port that refuses every connection: the proxy of every browser under test.

    Browsers reach for vendor hosts in the background (updates, safe browsing, telemetry);
    with their proxy here nothing of it leaves the machine and nothing waits on a timeout.
    The socket is bound but never listens, so the port stays ours and refuses at once."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


def proxy_args(port: int) -> list[str]:
    return [f"--proxy-server=http://127.0.0.1:{port}"]  # loopback is never proxied


@pytest.fixture(scope="package")  # closed before other packages: a live sync Playwright blocks asyncio.run
def browser(dead_proxy_port: int) -> Iterator[Any]:
    executable = chromium_path()
    if executable is None:
        if os.environ.get("FEEDBACKWIDGET_REQUIRE_BROWSER"):
            pytest.fail("Chromium is required (FEEDBACKWIDGET_REQUIRE_BROWSER) but was not found")
        pytest.skip("Chromium is not installed")
    with playwright_sync.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=executable, args=[*CHROMIUM_ARGS, *proxy_args(dead_proxy_port)])
        yield instance
        instance.close()


#: Engines started in this run, for the summary at its end (versions, session-start retries).
STARTED_ENGINES: dict[str, Engine] = {}


@pytest.fixture(scope="package", params=ENGINES)
def engine(request: pytest.FixtureRequest, dead_proxy_port: int) -> Iterator[Engine]:
    """One browser engine for the cross-engine suite; missing, it skips (or fails under
    FEEDBACKWIDGET_REQUIRE_BROWSER, which CI sets: an engine that cannot run is an error)."""
    name: str = request.param
    try:
        if name == "chromium":
            shared = request.getfixturevalue("browser")
            executable = chromium_path()
            assert executable is not None  # the browser fixture has found it
            args = [*CHROMIUM_ARGS, *proxy_args(dead_proxy_port)]
            started: Engine = ChromiumEngine(shared.browser_type, executable, args)
            started.version = shared.version
        elif name == "firefox":
            started = FirefoxEngine(dead_proxy_port)
        else:
            started = WebKitEngine(dead_proxy_port)
    except EngineUnavailable as e:
        if os.environ.get("FEEDBACKWIDGET_REQUIRE_BROWSER"):
            pytest.fail(f"{name} is required (FEEDBACKWIDGET_REQUIRE_BROWSER) but cannot run: {e}")
        pytest.skip(f"{name} cannot run here: {e}")
    STARTED_ENGINES[name] = started
    yield started
    started.close()


@pytest.fixture
def new_engine_reader(engine: Engine) -> Iterator[Callable[..., EngineReader]]:
    """Fresh readers (own profile each) in the test's engine; closed when the test ends."""
    opened: list[EngineReader] = []

    def make(cookies: str = "default") -> EngineReader:
        opened.append(engine.reader(cookies=cookies))
        return opened[-1]

    yield make
    for one in opened:
        one.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for name, started in STARTED_ENGINES.items():
        terminalreporter.write_line(
            f"engine {name} {started.version}: {started.starts} browser starts, {started.start_retries} retried"
        )


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


@pytest.fixture(scope="session")
def publisher() -> Iterator[Publisher]:
    site = Publisher()
    with Served(site.app, Settings(secret_key=SECRET)) as served:
        site.port = served.port
        yield site


@pytest.fixture
def make_stack(
    fake: FakeHCaptcha, publisher: Publisher, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Stack]]:
    """Start a widget server (optionally mounted under a prefix) with settings overrides."""
    started: list[Served] = []

    def make(prefix: str = "", **overrides: Any) -> Stack:
        db = tmp_path_factory.mktemp("widget") / "votes.db"
        values: dict[str, Any] = {
            "database_url": f"sqlite:///{db}",
            "secret_key": SECRET,
            "export_token": EXPORT_TOKEN,
            "rate_limit": "100000/minute",
            "allowed_origins": publisher.origin,
            **fake.settings(),
        }
        values.update(overrides)
        settings = Settings(**values)
        widget = FeedbackWidget(settings)
        app: Any = widget
        if prefix:
            app = Starlette(routes=[Mount(prefix, app=widget)], lifespan=widget.lifespan)
        recorder = Recorder(app)
        served = Served(recorder, settings).__enter__()
        started.append(served)
        return Stack(publisher, served.url + prefix, recorder, fake, settings)

    yield make
    for served in started:
        served.__exit__(None, None, None)


@pytest.fixture(scope="session")
def shared_stack(fake: FakeHCaptcha, publisher: Publisher, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    db = tmp_path_factory.mktemp("shared") / "votes.db"
    settings = Settings(
        database_url=f"sqlite:///{db}",
        secret_key=SECRET,
        export_token=EXPORT_TOKEN,
        rate_limit="100000/minute",
        allowed_origins=publisher.origin,
        **fake.settings(),
    )
    recorder = Recorder(FeedbackWidget(settings))
    with Served(recorder, settings) as served:
        yield Stack(publisher, served.url, recorder, fake, settings)


@pytest.fixture
def stack(shared_stack: Stack, fake: FakeHCaptcha) -> Stack:
    """The shared widget server, with the captcha stand-in back to its default behaviour."""
    fake.client = "ok"
    fake.mint_prefix = "PASS"
    shared_stack.recorder.log.clear()
    shared_stack.recorder.cookies.clear()
    shared_stack.recorder.answered.clear()
    shared_stack.recorder.holds.clear()
    shared_stack.publisher.reports.clear()
    return shared_stack


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


@pytest.fixture
def new_reader(browser: Any) -> Iterator[Callable[..., Reader]]:
    readers: list[Reader] = []

    def make(**options: Any) -> Reader:
        reader = Reader(browser, **options)
        readers.append(reader)
        return reader

    yield make
    errors = [e for r in readers for e in r.errors]
    for r in readers:
        r.close()
    assert not errors, f"uncaught script errors: {errors}"


@pytest.fixture
def reader(new_reader: Callable[..., Reader]) -> Reader:
    return new_reader()


SCAN = """async () => {
  const result = await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']});
  return result.violations.map(v => v.id + ': ' + v.nodes.map(n => JSON.stringify(n.target)).join(', '));
}"""


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE.exists():
        if os.environ.get("FEEDBACKWIDGET_REQUIRE_BROWSER"):
            pytest.fail("axe-core is missing: run `npm ci` in tests/browser")
        pytest.skip("axe-core is not installed (npm ci in tests/browser)")
    return AXE.read_text(encoding="utf-8")


def axe_scan(page: Any, axe_source: str) -> list[str]:
    page.evaluate(axe_source)
    found: list[str] = page.evaluate(SCAN)
    return found


def article_id() -> str:
    return "2026/night-trains-" + secrets.token_hex(4)


def widget_of(page: Any, article: str) -> Any:
    return page.locator(f'[data-feedback-article="{article}"]')
