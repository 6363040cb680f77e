"""'Why not?' after a No (REASONS set): a module loaded only then, in the reader's language."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import expect

from tests.browser.harness import Reader, Stack, article_id, axe_scan, widget_of


def test_reason_after_no(make_stack: Callable[..., Stack], reader: Reader, axe_source: str) -> None:
    site = make_stack(reasons="inaccurate,unclear,too_long,other", reason_text=True)
    aid = article_id()
    page = reader.page()
    page.goto(site.article(aid))
    w = widget_of(page, aid)
    expect(w.locator(".fw-t")).to_have_text("Yes: 0 · No: 0")
    w.get_by_role("button", name="Yes", exact=True).click()
    expect(w.locator(".fw-t")).to_have_text("Yes: 1 · No: 0")
    assert not [c for c in site.requests() if c[1] == "/widget-reasons.js"], "no picker after a Yes"

    w.get_by_role("button", name="No", exact=True).click()
    picker = w.get_by_role("group", name="What was wrong with it?")
    expect(picker).to_be_visible()
    send = picker.get_by_role("button", name="Send")
    expect(send).to_be_disabled()
    assert axe_scan(page, axe_source) == []
    picker.get_by_role("button", name="Too long").click()
    expect(picker.get_by_role("button", name="Too long")).to_have_attribute("aria-pressed", "true")
    picker.get_by_role("textbox").fill("The second half repeats the first.")
    send.click()
    expect(picker).to_have_count(0)
    expect(w.get_by_role("status")).to_have_text("Thank you, noted.")
    rows = site.export_rows("reasons")
    assert [(r["article_id"], r["reason"], r["reason_text"]) for r in rows] == [
        (aid, "too_long", "The second half repeats the first.")
    ]
    assert reader.violations(page) == []


def test_reason_picker_speaks_the_readers_language_and_closes_on_yes(
    make_stack: Callable[..., Stack], reader: Reader
) -> None:
    site = make_stack(reasons="unclear,other")
    aid = article_id()
    page = reader.page()
    page.goto(site.article(aid, lang="ru"))
    w = widget_of(page, aid)
    w.get_by_role("button", name="Нет", exact=True).click()
    picker = w.get_by_role("group", name="Что было не так?")
    expect(picker.get_by_role("button", name="Непонятно")).to_be_visible()
    expect(picker.get_by_role("textbox")).to_have_count(0)  # REASON_TEXT is off
    w.get_by_role("button", name="Да", exact=True).click()
    expect(picker).to_have_count(0)
    expect(w.locator(".fw-t")).to_have_text("Да: 1 · Нет: 0")
