"""The dashboard in headless Chromium: sign-in, refusal, the session cookie, charts under
the strict CSP in light and dark, a CSV download, sign-out, and a screenshot for the docs."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import socket
import threading
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from feedbackwidget import FeedbackWidget, Settings
from feedbackwidget.store.sqlite import SQLiteStore
from feedbackwidget.types import Cast

playwright_sync = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TOKEN = "browser-test-export-token-0123456789"
PREFIX = "/feedback"
ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"

ARTICLES = [
    ("2026/budget-explained", "The budget, explained in five charts", 0.82, 140, "r1", "r2"),
    ("2026/rail-strike", "Rail strike: what changes for commuters", 0.55, 95, "v1", "v2"),
    ("2026/heatwave-live", "Heatwave: live updates", 0.35, 60, None, None),
    ("2026/<b>markup</b>", "A title with <b>markup</b> & =formula", 0.5, 12, None, None),
    ("2026/new-column", "A new column", 1.0, 3, None, None),
]

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` in a worker thread, so a loop another test left running here is no obstacle."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()



async def _seed(db: Path) -> None:
    rng = random.Random(7)
    now = dt.datetime.now(dt.UTC)
    store = SQLiteStore.from_url(f"sqlite:///{db}")
    await store.open()
    try:
        for article_id, title, p_yes, votes, before, after in ARTICLES:
            for i in range(votes):
                days_ago = min(int(rng.expovariate(1 / 7)), 29)
                version = before if days_ago > 10 else after
                vote = "up" if rng.random() < p_yes + (0.1 if version == after and after else 0) else "down"
                at = now - dt.timedelta(days=days_ago, minutes=rng.randrange(600))
                await store.cast(Cast(article_id, f"{article_id}:{i}", vote, at, version=version, title=title))
                if vote == "down" and rng.random() < 0.6:
                    reason = rng.choice(REASONS)
                    text = rng.choice(TEXTS) if rng.random() < 0.3 else None
                    await store.set_reason(article_id, f"{article_id}:{i}", reason, text, at)
        today = now.date()
        await store.add_refusals([
            {"day": today - dt.timedelta(days=d), "article_id": "2026/rail-strike", "kind": kind,
             "count": n * (8 if d < 2 else 1)}
            for d in range(10) for kind, n in (("captcha_failed", 3), ("rate_limited", 1))
        ])
    finally:
        await store.close()


REASONS = ("inaccurate", "unclear", "too_long", "biased")
TEXTS = ("The figures for 2025 look wrong.", "Too much jargon <b>here</b>.", "=1+1 is not an argument")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("browser") / "dashboard.db"
    run(_seed(db))
    widget = FeedbackWidget(Settings(database_url=f"sqlite:///{db}", secret_key="k" * 40,
                                     export_token=TOKEN, reasons=",".join(REASONS), reason_text=True))
    app = Starlette(routes=[Mount(PREFIX, app=widget)], lifespan=widget.lifespan)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            lifespan="on", forwarded_allow_ips="")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:  # wait for the condition, not for a fixed time
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}{PREFIX}"
    finally:
        srv.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[playwright_sync.Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium")
    with playwright_sync.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def _watch_console(page: playwright_sync.Page) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return problems


def _sign_in(page: playwright_sync.Page, base: str, token: str) -> None:
    page.goto(base + "/admin")
    page.get_by_label("Export token").fill(token)
    page.get_by_role("button", name="Sign in").click()


def test_refusal_then_sign_in_and_out(server: str, browser: playwright_sync.Browser, screenshots: Path) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    problems = _watch_console(page)

    response = page.goto(server + "/admin")
    assert response is not None and response.status == 401
    assert page.get_by_role("heading", name="Sign in to the dashboard").is_visible()

    # refusal: a wrong token shows the reason and sets no cookie
    _sign_in(page, server, "not-the-token")
    page.get_by_role("alert").wait_for()
    assert "That token is not right." in page.get_by_role("alert").inner_text()
    assert context.cookies() == []

    # sign-in: the table, charts and stylesheet under the page's CSP
    _sign_in(page, server, TOKEN)
    page.get_by_role("heading", name="Articles", exact=True).wait_for()
    assert page.url == server + "/admin"
    (cookie,) = context.cookies()
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == PREFIX
    assert cookie["expires"] > time.time() + 3600
    assert page.evaluate("document.cookie") == ""  # HttpOnly: no script can read it

    rows = page.locator("table.articles tbody tr")
    assert rows.count() == len(ARTICLES)
    assert rows.first.locator("th a").inner_text() == "The budget, explained in five charts"
    markup_row = page.get_by_role("link", name="A title with <b>markup</b> & =formula")
    assert markup_row.count() == 1  # shown as text, not interpreted
    assert page.locator("table.articles b").count() == 0
    assert page.locator("svg[role=img]").count() == len(ARTICLES) + 2  # + daily chart, refusals
    assert page.get_by_role("heading", name="Reasons after No").is_visible()
    assert page.get_by_role("heading", name="Refused attempts").is_visible()
    assert page.get_by_role("img", name="Votes per day, all articles").is_visible()
    # the stylesheet applied (a strict CSP would block an inline one)
    badge_bg = page.locator(".badge").first.evaluate("e => getComputedStyle(e).backgroundColor")
    assert badge_bg not in ("rgba(0, 0, 0, 0)", "transparent")
    bar = page.locator("svg.fw-daily rect.fw-up").first
    assert bar.evaluate("e => getComputedStyle(e).fill") == "rgb(26, 127, 55)"

    page.screenshot(path=str(screenshots / "dashboard.png"), full_page=True)

    # the CSV link is authorised by the session cookie alone
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Articles (CSV)").click()
    csv_text = Path(download_info.value.path()).read_text(encoding="utf-8")
    assert csv_text.startswith("article_id,title,up,down,total,share_up,wilson_lower,")
    assert "'=formula" not in csv_text  # the cell starts with "A title", so no prefix
    assert "A title with <b>markup</b> & =formula" in csv_text

    # an article page: daily chart and revision split
    page.get_by_role("link", name="The budget, explained in five charts").click()
    page.get_by_role("heading", name="By revision").wait_for()
    revisions = page.locator("table.versions tbody th").all_inner_texts()
    assert revisions == ["r1", "r2"] or revisions == ["r2", "r1"]
    assert page.locator("svg.fw-daily rect").count() > 0

    # sign-out: back to the form, and the cookie is gone
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Sign in to the dashboard").wait_for()
    assert context.cookies() == []
    response = page.goto(server + "/admin")
    assert response is not None and response.status == 401

    assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p], problems
    context.close()


def test_dark_scheme_and_accessibility(server: str, browser: playwright_sync.Browser) -> None:
    context = browser.new_context(color_scheme="dark", viewport={"width": 1280, "height": 900},
                                  bypass_csp=AXE.exists())
    page = context.new_page()
    _sign_in(page, server, TOKEN)
    page.get_by_role("heading", name="Articles", exact=True).wait_for()
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(21, 24, 28)"
    line = page.locator("svg.fw-sparkline polyline").first
    assert line.evaluate("e => getComputedStyle(e).stroke") == "rgb(124, 183, 255)"
    if AXE.exists():
        page.add_script_tag(path=str(AXE))
        result = page.evaluate(
            "async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa']})).violations"
            ".map(v => v.id + ': ' + v.nodes.length)")
        assert result == []
    context.close()


def test_foreign_page_cannot_sign_out(server: str, browser: playwright_sync.Browser) -> None:
    """A page on another site posts the sign-out form: refused, the reader stays signed in."""
    context = browser.new_context()
    page = context.new_page()
    _sign_in(page, server, TOKEN)
    page.get_by_role("heading", name="Articles", exact=True).wait_for()
    csrf = page.locator("input[name=csrf]").get_attribute("value")
    assert csrf
    # localhost and 127.0.0.1 are different sites to Chromium: a page there plays the attacker
    page.goto(server.replace("127.0.0.1", "localhost") + "/healthz")
    with page.expect_navigation() as navigation:
        page.evaluate(
            """([url, token]) => {
                const form = document.createElement('form');
                form.method = 'post';
                form.action = url;
                const field = document.createElement('input');
                field.name = 'csrf';
                field.value = token;
                form.append(field);
                document.body.append(form);
                form.submit();
            }""",
            [server + "/admin/logout", csrf],
        )
    refused = navigation.value
    assert refused is not None and refused.status == 403
    assert context.cookies(), "the session cookie must survive"
    response = page.goto(server + "/admin")
    assert response is not None and response.status == 200  # still signed in
    context.close()
