"""The iframe embed page, JavaScript off, frame-ancestors, and a widget mounted under a prefix."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import expect

from tests.browser.harness import Reader, Stack, article_id, widget_of


def _iframe_page(stack: Stack, aid: str, lang: str = "") -> str:
    query = f"?lang={lang}" if lang else ""
    return stack.publisher.add(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Article</title></head><body><main>'
        f'<p>Story text.</p><iframe src="{stack.widget_url}/embed/{aid}{query}" title="Reader feedback"'
        ' width="520" height="190"></iframe></main></body></html>'
    )


def test_iframe_embed_votes_and_remembers_the_reader(stack: Stack, reader: Reader) -> None:
    aid = article_id()
    page = reader.page()
    page.goto(_iframe_page(stack, aid))
    frame = page.frame_locator("iframe")
    yes = frame.get_by_role("button", name="Yes", exact=True)
    expect(yes).to_have_count(1)  # one set of buttons: the script enhances the page's own form
    expect(frame.get_by_role("button", name="No", exact=True)).to_have_count(1)
    expect(frame.locator(".fw-t")).to_have_text("Yes: 0 · No: 0")
    yes.click()
    expect(yes).to_have_attribute("aria-pressed", "true")
    expect(frame.get_by_role("status")).to_contain_text("Thank you for your vote!")
    expect(frame.locator(".fw-t")).to_have_text("Yes: 1 · No: 0")
    assert stack.tally(aid) == (1, 0)
    frame.get_by_role("button", name="No", exact=True).click()  # a change of mind moves the vote
    expect(frame.locator(".fw-t")).to_have_text("Yes: 0 · No: 1")
    assert stack.tally(aid) == (0, 1)
    frame.get_by_role("button", name="Yes", exact=True).click()
    expect(frame.locator(".fw-t")).to_have_text("Yes: 1 · No: 0")

    page.reload()  # inside a cross-site iframe the reader is still recognised
    frame = page.frame_locator("iframe")
    expect(frame.get_by_role("button", name="Yes", exact=True)).to_have_attribute("aria-pressed", "true")
    frame.get_by_role("button", name="Withdraw vote").click()
    expect(frame.locator(".fw-t")).to_have_text("Yes: 0 · No: 0")
    assert reader.violations(page) == []


def test_embed_page_in_the_readers_language(stack: Stack, reader: Reader) -> None:
    aid = article_id()
    page = reader.page()
    page.goto(_iframe_page(stack, aid, lang="fa"))
    frame = page.frame_locator("iframe")
    expect(frame.locator("html")).to_have_attribute("dir", "rtl")
    expect(frame.get_by_role("button", name="بله", exact=True)).to_be_visible()
    expect(frame.locator(".fw-nojs")).to_be_hidden()  # the script runs: no "needs JavaScript" note


def test_embed_without_javascript_says_so_and_refuses_plainly(stack: Stack, new_reader: Callable[..., Reader]) -> None:
    aid = article_id()
    page = new_reader(java_script_enabled=False).page()
    page.goto(f"{stack.widget_url}/embed/{aid}")
    expect(page.get_by_text("Voting needs JavaScript, which is off or blocked in this browser.")).to_be_visible()
    expect(page.locator(".fw-t")).to_have_text("Yes: 0 · No: 0")
    with page.expect_navigation():
        page.get_by_role("button", name="Yes", exact=True).click()  # a real form post, no captcha token
    expect(page.get_by_role("status")).to_have_text("Voting needs JavaScript, which is off or blocked in this browser.")
    assert "{" not in page.content()[:20]  # an HTML page, not raw JSON
    assert stack.tally(aid) == (0, 0)


def test_embed_refuses_framing_by_origins_not_allowed(make_stack: Callable[..., Stack], reader: Reader) -> None:
    other = make_stack(allowed_origins="https://news.example")
    aid = article_id()
    page = reader.page()
    page.goto(_iframe_page(other, aid), wait_until="load")
    frame = page.frames[1]
    assert frame.url.startswith("chrome-error://") or frame.locator("button").count() == 0


def test_widget_mounted_under_a_prefix(make_stack: Callable[..., Stack], reader: Reader) -> None:
    mounted = make_stack(prefix="/feedback")
    aid = article_id()
    page = reader.page()
    page.goto(mounted.article(aid))
    w = widget_of(page, aid)
    w.get_by_role("button", name="Yes", exact=True).click()
    expect(w.locator(".fw-t")).to_have_text("Yes: 1 · No: 0")
    paths = {c[1] for c in mounted.requests()}
    assert {"/feedback/widget.js", "/feedback/api/v1/votes"} <= paths, paths
    page.goto(_iframe_page(mounted, aid))
    frame = page.frame_locator("iframe")
    expect(frame.locator("form.fw")).to_have_attribute("action", "/feedback/api/v1/votes")
    expect(frame.get_by_role("button", name="Yes", exact=True)).to_have_attribute("aria-pressed", "false")
    expect(frame.locator(".fw-t")).to_have_text("Yes: 1 · No: 0")
