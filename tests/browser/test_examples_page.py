"""examples/static_publisher/index.html (strict CSP in a <meta>) and the demo article, in Chromium."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import expect

from feedbackwidget.demo import ARTICLE_ID, TEST_SITEKEY, build_demo
from feedbackwidget.fakecaptcha import FakeHCaptcha
from tests.browser.harness import ROOT, Reader, Stack, widget_of
from tests.helpers import Served


def test_static_publisher_example(make_stack: Callable[..., Stack], reader: Reader) -> None:
    stack = make_stack()  # its own store: the example's article ids are fixed
    html = (ROOT / "examples" / "static_publisher" / "index.html").read_text()
    html = html.replace("http://127.0.0.1:8000", stack.widget_url).replace("http://127.0.0.1:8002", stack.fake.origin)
    article = "harbour-ferry-timetable"
    page = reader.page()
    page.goto(stack.publisher.add(html))
    w = widget_of(page, article)
    expect(w.locator(".fw-t")).to_have_text("Yes: 0 · No: 0")
    w.get_by_role("button", name="Yes", exact=True).click()
    expect(w.locator(".fw-t")).to_have_text("Yes: 1 · No: 0")
    frame = page.frame_locator("iframe")  # another article: its own tally
    expect(frame.locator(".fw-t")).to_have_text("Yes: 0 · No: 0")
    frame.get_by_role("button", name="No", exact=True).click()
    expect(frame.locator(".fw-t")).to_have_text("Yes: 0 · No: 1")
    expect(w.locator(".fw-t")).to_have_text("Yes: 1 · No: 0")
    assert stack.tally(article) == (1, 0) and stack.tally("night-bus-map") == (0, 1)
    assert reader.violations(page) == []


def test_demo_with_the_fake_captcha(fake: FakeHCaptcha, reader: Reader, tmp_path: Path, screenshots: Path) -> None:
    demo = build_demo("fake", database_url=f"sqlite:///{tmp_path / 'demo.db'}", fake=fake)
    fake.client, fake.mint_prefix = "ok", "PASS"
    with Served(demo.app, demo.settings) as served:
        page = reader.page()
        page.goto(served.url + "/")
        expect(page.get_by_role("note")).to_contain_text("Offline fake captcha")
        w = widget_of(page, ARTICLE_ID)
        w.get_by_role("button", name="Yes", exact=True).click()
        expect(w.locator(".fw-t")).to_have_text("Yes: 1 · No: 0")
        assert reader.violations(page) == []
        page.set_viewport_size({"width": 900, "height": 1400})
        page.screenshot(path=str(screenshots / "demo.png"), full_page=True)


def test_demo_with_hcaptcha_test_keys_never_mentions_the_fake(reader: Reader, tmp_path: Path) -> None:
    demo = build_demo("hcaptcha-test", database_url=f"sqlite:///{tmp_path / 'demo.db'}")
    assert demo.settings.hcaptcha_sitekey == TEST_SITEKEY
    with Served(demo.app, demo.settings) as served:
        page = reader.page()
        page.route("https://**/*", lambda route: route.abort())  # this machine cannot reach hCaptcha
        page.goto(served.url + "/")
        expect(page.get_by_role("note")).to_contain_text("test")
        assert "fake" not in page.content().lower()
        w = widget_of(page, ARTICLE_ID)
        expect(w.locator(".fw-t")).to_have_text("Yes: 0 · No: 0")
        script = page.evaluate("() => fetch('/feedback/widget-actions.js?lang=en').then(r => r.text())")
        assert TEST_SITEKEY in script and "https://js.hcaptcha.com/1/api.js" in script
        w.get_by_role("button", name="Yes", exact=True).click()  # the real service is unreachable:
        expect(w.get_by_role("status")).to_have_text("Could not reach the server.")  # no silent fallback
        assert not [u for u in reader.seen if "127.0.0.1" in u and "/1/api.js" in u]
