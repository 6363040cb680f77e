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

import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from feedbackwidget import FeedbackWidget, Settings
from feedbackwidget.fakecaptcha import FakeHCaptcha
from feedbackwidget.sites import Site
from tests.browser.engines import ENGINES, Engine, EngineUnavailable
from tests.browser.engines import Reader as EngineReader
from tests.browser.engines.chromium import ChromiumEngine
from tests.browser.engines.firefox import FirefoxEngine
from tests.browser.engines.webkit import WebKitEngine
from tests.browser.harness import (
    AXE,
    CHROMIUM_ARGS,
    Publisher,
    Reader,
    Recorder,
    Stack,
    chromium_path,
    proxy_args,
)
from tests.helpers import EXPORT_TOKEN, SECRET, Served

playwright_sync = pytest.importorskip("playwright.sync_api")



def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.browser)




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











@pytest.fixture(scope="session")
def publisher() -> Iterator[Publisher]:
    site = Publisher()
    with Served(site.app, Settings(secret_key=SECRET)) as served:
        site.port = served.port
        yield site


@pytest.fixture(scope="session")
def second_publisher() -> Iterator[Publisher]:
    """Another publisher origin (``http://localhost:P2``), for a server with several sites."""
    site = Publisher()
    with Served(site.app, Settings(secret_key=SECRET)) as served:
        site.port = served.port
        yield site


@pytest.fixture
def make_stack(
    fake: FakeHCaptcha, publisher: Publisher, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Stack]]:
    """Start a widget server (optionally mounted under a prefix, optionally serving ``sites``)
    with settings overrides."""
    started: list[Served] = []

    def make(prefix: str = "", sites: list[Site] | None = None, **overrides: Any) -> Stack:
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
        widget = FeedbackWidget(settings, sites=sites)
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




@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE.exists():
        if os.environ.get("FEEDBACKWIDGET_REQUIRE_BROWSER"):
            pytest.fail("axe-core is missing: run `npm ci` in tests/browser")
        pytest.skip("axe-core is not installed (npm ci in tests/browser)")
    return AXE.read_text(encoding="utf-8")






