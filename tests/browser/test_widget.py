"""The widget on a publisher page of another site: render, vote, change, withdraw, memory."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.harness import Reader, Stack, article_id, widget_of


def test_renders_question_buttons_and_tally(stack: Stack, reader: Reader) -> None:
    aid = article_id()
    page = reader.page()
    page.goto(stack.article(aid))
    w = widget_of(page, aid)
    expect(w.get_by_text("Do you like this article?")).to_be_visible()
    yes, no = w.get_by_role("button", name="Yes", exact=True), w.get_by_role("button", name="No", exact=True)
    expect(yes).to_have_attribute("aria-pressed", "false")
    expect(no).to_have_attribute("aria-pressed", "false")
    expect(w.locator(".fw-t")).to_have_text("Yes: 0 · No: 0")
    # hCaptcha's required disclosure for invisible mode, before any interaction
    expect(w.get_by_text("Protected by hCaptcha")).to_be_visible()
    expect(w.get_by_role("link", name="Privacy")).to_have_attribute("href", "https://www.hcaptcha.com/privacy")
    expect(w.get_by_role("link", name="Terms")).to_have_attribute("href", "https://www.hcaptcha.com/terms")
    assert page.evaluate(f"!!document.querySelector('[data-feedback-article=\"{aid}\"]').shadowRoot")


def test_vote_change_and_withdraw(stack: Stack, reader: Reader) -> None:
    aid = article_id()
    page = reader.page()
    page.goto(stack.article(aid))
    w = widget_of(page, aid)
    yes, no = w.get_by_role("button", name="Yes", exact=True), w.get_by_role("button", name="No", exact=True)
    expect(w.locator(".fw-t")).to_have_text("Yes: 0 · No: 0")

    yes.click()
    expect(yes).to_have_attribute("aria-pressed", "true")
    expect(w.get_by_role("status")).to_contain_text("Thank you for your vote!")
    expect(w.locator(".fw-t")).to_have_text("Yes: 1 · No: 0")
    assert stack.tally(aid) == (1, 0)

    no.click()  # a change of mind moves the vote
    expect(no).to_have_attribute("aria-pressed", "true")
    expect(yes).to_have_attribute("aria-pressed", "false")
    expect(w.locator(".fw-t")).to_have_text("Yes: 0 · No: 1")
    assert stack.tally(aid) == (0, 1)

    w.get_by_role("button", name="Withdraw vote").click()
    expect(w.get_by_role("status")).to_contain_text("Your vote was withdrawn.")
    expect(no).to_have_attribute("aria-pressed", "false")
    expect(w.locator(".fw-t")).to_have_text("Yes: 0 · No: 0")
    assert stack.tally(aid) == (0, 0)


def test_reload_and_other_articles_remember_the_reader_across_sites(stack: Stack, reader: Reader) -> None:
    first, second = article_id(), article_id()
    page = reader.page()
    page.goto(stack.article(first))
    widget_of(page, first).get_by_role("button", name="No", exact=True).click()
    expect(widget_of(page, first).locator(".fw-t")).to_have_text("Yes: 0 · No: 1")
    # The widget is on another site: no cookie of its own reached the browser for it to reuse.
    assert not [c for c in reader.context.cookies() if c["domain"] == "localhost"]

    page.reload()
    no = widget_of(page, first).get_by_role("button", name="No", exact=True)
    expect(no).to_have_attribute("aria-pressed", "true")
    expect(widget_of(page, first).get_by_role("button", name="Withdraw vote")).to_be_visible()

    page.goto(stack.article(second))
    widget_of(page, second).get_by_role("button", name="Yes", exact=True).click()
    expect(widget_of(page, second).locator(".fw-t")).to_have_text("Yes: 1 · No: 0")
    voters = {row["article_id"]: row["voter"] for row in stack.export_votes() if row["article_id"] in (first, second)}
    assert len(voters) == 2 and voters[first] == voters[second], "the same reader on both articles"

    other = stack.article(first)  # a different reader (fresh profile) is not recognised
    stranger = reader.context.browser.new_context()
    try:
        p2 = stranger.new_page()
        p2.goto(other)
        expect(widget_of(p2, first).locator(".fw-t")).to_have_text("Yes: 0 · No: 1")
        expect(widget_of(p2, first).get_by_role("button", name="No", exact=True)).to_have_attribute(
            "aria-pressed", "false"
        )
    finally:
        stranger.close()


def test_two_widgets_on_one_page(stack: Stack, reader: Reader) -> None:
    a, b = article_id(), article_id()
    page = reader.page()
    page.goto(stack.article(a, b, a))
    first_a, second_a = widget_of(page, a).nth(0), widget_of(page, a).nth(1)
    expect(widget_of(page, b).locator(".fw-t")).to_have_text("Yes: 0 · No: 0")
    first_a.get_by_role("button", name="Yes", exact=True).click()
    expect(first_a.locator(".fw-t")).to_have_text("Yes: 1 · No: 0")
    expect(second_a.locator(".fw-t")).to_have_text("Yes: 1 · No: 0")  # same article, same truth
    expect(second_a.get_by_role("button", name="Yes", exact=True)).to_have_attribute("aria-pressed", "true")
    expect(widget_of(page, b).locator(".fw-t")).to_have_text("Yes: 0 · No: 0")
    expect(widget_of(page, b).get_by_role("button", name="Yes", exact=True)).to_have_attribute("aria-pressed", "false")
    tallies = [c for c in stack.requests() if c[1].startswith("/api/v1/articles/")]
    assert len(tallies) == 2, tallies  # one per article, not per element


def test_keyboard_only(stack: Stack, reader: Reader) -> None:
    aid = article_id()
    page = reader.page()
    page.goto(stack.article(aid))
    w = widget_of(page, aid)
    expect(w.locator(".fw-t")).to_have_text("Yes: 0 · No: 0")
    page.keyboard.press("Tab")  # the first focusable thing on the page is the Yes button
    yes = w.get_by_role("button", name="Yes", exact=True)
    expect(yes).to_be_focused()
    outline = yes.evaluate("b => getComputedStyle(b).outlineStyle + ' ' + getComputedStyle(b).outlineWidth")
    assert outline == "solid 3px", outline  # visible focus
    page.keyboard.press("Tab")
    no = w.get_by_role("button", name="No", exact=True)
    expect(no).to_be_focused()
    page.keyboard.press("Enter")
    expect(no).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Space")
    expect(yes).to_have_attribute("aria-pressed", "true")
    expect(w.locator(".fw-t")).to_have_text("Yes: 1 · No: 0")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    withdraw = w.get_by_role("button", name="Withdraw vote")
    expect(withdraw).to_be_focused()
    page.keyboard.press("Enter")
    expect(w.locator(".fw-t")).to_have_text("Yes: 0 · No: 0")
    expect(yes).to_be_focused()  # focus is not lost when the withdraw button goes away


def test_live_region_announces_result(stack: Stack, reader: Reader) -> None:
    aid = article_id()
    page = reader.page()
    page.goto(stack.article(aid))
    w = widget_of(page, aid)
    status = w.get_by_role("status")
    expect(status).to_have_attribute("role", "status")
    w.get_by_role("button", name="Yes", exact=True).click()
    expect(status).to_have_text("Thank you for your vote! Yes: 1 · No: 0")
    assert w.get_by_role("group", name="Do you like this article?").count() == 1


def test_text_overrides_from_attributes(stack: Stack, reader: Reader) -> None:
    aid = article_id()
    page = reader.page()
    page.goto(stack.article(aid, attrs=' data-feedback-text-question="Was this explainer useful?"'
                                 ' data-feedback-text-thanks="Noted, thank you."'))
    w = widget_of(page, aid)
    expect(w.get_by_text("Was this explainer useful?")).to_be_visible()
    w.get_by_role("button", name="Yes", exact=True).click()
    expect(w.get_by_role("status")).to_contain_text("Noted, thank you.")


def test_title_version_and_late_elements(stack: Stack, reader: Reader) -> None:
    aid, late = article_id(), article_id()
    page = reader.page()
    page.goto(stack.article(aid, attrs=' data-feedback-title="Night trains return" data-feedback-version="r2"'))
    w = widget_of(page, aid)
    w.get_by_role("button", name="Yes", exact=True).click()
    expect(w.locator(".fw-t")).to_have_text("Yes: 1 · No: 0")
    row = next(r for r in stack.export_votes() if r["article_id"] == aid)
    assert row["article_version"] == "r2"
    # An element added later (infinite scroll, SPA) becomes a widget too.
    page.evaluate(
        "id => { const d = document.createElement('div'); d.dataset.feedbackArticle = id;"
        " document.querySelector('main').append(d); }",
        late,
    )
    expect(widget_of(page, late).locator(".fw-t")).to_have_text("Yes: 0 · No: 0")


def test_single_page_app_navigation_reuses_the_element(stack: Stack, reader: Reader) -> None:
    a, b = article_id(), article_id()
    page = reader.page()
    page.goto(stack.article(a))
    w = widget_of(page, a)
    w.get_by_role("button", name="Yes", exact=True).click()
    expect(w.locator(".fw-t")).to_have_text("Yes: 1 · No: 0")
    page.evaluate(
        "([a, b]) => { history.pushState({}, '', '?next');"
        " document.querySelector(`[data-feedback-article=\"${a}\"]`).dataset.feedbackArticle = b; }",
        [a, b],
    )
    nw = widget_of(page, b)
    expect(nw.locator(".fw-t")).to_have_text("Yes: 0 · No: 0")
    expect(nw.get_by_role("button", name="Yes", exact=True)).to_have_attribute("aria-pressed", "false")
    expect(nw.get_by_role("status")).to_have_text("")
