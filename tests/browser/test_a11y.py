"""Automated accessibility scan (axe-core, WCAG 2.1 A/AA) of the widget and the embed page,
and the screenshots of its states (kept in docs/screenshots/; see the ``screenshots`` fixture)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.harness import Reader, Stack, article_id, axe_scan, widget_of


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_widget_passes_axe(
    stack: Stack, new_reader: Callable[..., Reader], axe_source: str, scheme: str
) -> None:
    aid, rtl = article_id(), article_id()
    page = new_reader(color_scheme=scheme).page()
    page.goto(stack.article(aid))
    w = widget_of(page, aid)
    expect(w.locator(".fw-t")).to_have_text("Yes: 0 · No: 0")
    assert axe_scan(page, axe_source) == []
    w.get_by_role("button", name="Yes", exact=True).click()
    expect(w.get_by_role("button", name="Withdraw vote")).to_be_visible()
    assert axe_scan(page, axe_source) == []
    page.goto(stack.article(rtl, lang="ar"))
    expect(widget_of(page, rtl).locator(".fw-t")).not_to_have_text("")
    assert axe_scan(page, axe_source) == []


def test_embed_page_passes_axe(stack: Stack, new_reader: Callable[..., Reader], axe_source: str) -> None:
    aid = article_id()
    page = new_reader(bypass_csp=True).page()  # the page's own CSP forbids the injected scanner
    page.goto(f"{stack.widget_url}/embed/{aid}")
    expect(page.locator(".fw-t")).to_have_text("Yes: 0 · No: 0")
    assert axe_scan(page, axe_source) == []


def test_screenshots_of_the_states(stack: Stack, new_reader: Callable[..., Reader], screenshots: Path) -> None:
    shots: dict[str, Any] = {}
    heights: dict[str, float] = {}
    for name, scheme, lang in (("light", "light", "en"), ("dark", "dark", "en"), ("rtl", "light", "ar"),
                               ("error", "light", "en")):
        aid = article_id()
        page = new_reader(color_scheme=scheme, viewport={"width": 560, "height": 400}).page()
        page.goto(stack.article(aid, lang=lang))
        w = widget_of(page, aid)
        expect(w.locator(".fw-t")).not_to_have_text("")
        if name == "error":
            stack.fake.client = "error"
        w.get_by_role("button").first.click()
        if name == "error":
            expect(w.get_by_role("button", name="Try again")).to_be_visible()
            stack.fake.client = "ok"
        else:
            expect(w.locator(".fw-b[aria-pressed=true]")).to_have_count(1)
        w.locator(".fw").screenshot(path=str(screenshots / f"widget-{name}.png"))
        shots[name] = (screenshots / f"widget-{name}.png").stat().st_size
        heights[name] = w.evaluate("e => e.getBoundingClientRect().height")
    assert all(size > 1000 for size in shots.values()), shots
    assert set(heights.values()) == {136}, heights  # every state has the same, final height
