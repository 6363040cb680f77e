"""The widget's reader-facing behaviour in Chromium, Firefox and WebKit.

Each test runs once per engine (the ``engine`` fixture), through the driver interface of
engines/ and the engine-neutral queries of widgetview.py, against the shared harness: the
publisher on http://localhost:P, the widget on http://127.0.0.1:Q (another site), the loopback
captcha stand-in. Every test ends with the reader's console free of warnings and errors.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.browser.engines import Reader
from tests.browser.harness import Stack, article_id
from tests.browser.pages import article_page, iframe_page, strict_csp
from tests.browser.widgetview import Widget, wait_until

EMPTY = "Yes: 0 · No: 0"


def assert_quiet(reader: Reader) -> None:
    """No console warning or error, no uncaught error, from anything on the page."""
    noisy = [str(e) for e in reader.console() if e.level in ("error", "warning")]
    assert noisy == [], f"{reader.engine} console: {noisy}"


def open_widget(stack: Stack, reader: Reader, *ids: str, csp: str | None = None, tally: str = EMPTY) -> Widget:
    """Open a publisher article with these widgets; return the first, once it shows ``tally``."""
    reader.goto(article_page(stack, *ids, csp=csp))
    widget = Widget(reader, ids[0])
    widget.wait_tally(tally)
    return widget


def test_renders_question_buttons_tally_and_disclosure(
    stack: Stack, new_engine_reader: Callable[..., Reader]
) -> None:
    reader = new_engine_reader()
    state = open_widget(stack, reader, article_id()).state()
    assert state is not None
    assert state["shadow"], "the script widget lives in a shadow root"
    assert state["question"] == "Do you like this article?"
    assert state["buttons"] == {"Yes": "false", "No": "false"}
    assert "Protected by hCaptcha" in state["text"]
    assert state["links"] == {"Privacy": "https://www.hcaptcha.com/privacy", "Terms": "https://www.hcaptcha.com/terms"}
    assert state["height"] == 136, "the same final height as in Chromium (docs/widget.md)"
    assert_quiet(reader)


def test_vote_thanks_tally_change_of_mind_and_withdraw(
    stack: Stack, new_engine_reader: Callable[..., Reader]
) -> None:
    aid = article_id()
    reader = new_engine_reader()
    w = open_widget(stack, reader, aid)

    w.click("Yes")
    state = w.wait_tally("Yes: 1 · No: 0")
    assert state["buttons"] == {"Yes": "true", "No": "false", "Withdraw vote": None}
    assert state["status"].startswith("Thank you for your vote!")
    assert stack.tally(aid) == (1, 0)

    w.click("No")  # a change of mind moves the vote
    state = w.wait_tally("Yes: 0 · No: 1")
    assert state["buttons"]["No"] == "true" and state["buttons"]["Yes"] == "false"
    assert stack.tally(aid) == (0, 1)

    w.click("Withdraw vote")
    state = w.wait(lambda s: s["status"].startswith("Your vote was withdrawn."), "the withdrawal")
    w.wait_tally(EMPTY)
    assert stack.tally(aid) == (0, 0)
    assert_quiet(reader)


def test_reload_and_another_article_recognise_the_reader(
    stack: Stack, new_engine_reader: Callable[..., Reader]
) -> None:
    first, second = article_id(), article_id()
    reader = new_engine_reader()
    w = open_widget(stack, reader, first)
    w.click("No")
    w.wait_tally("Yes: 0 · No: 1")
    # The widget is on another site: it set no cookie on the publisher's.
    assert not [c for c in reader.cookies() if c.domain.lstrip(".") == "localhost"]

    reader.reload()
    state = w.wait(lambda s: s["buttons"].get("No") == "true", "the reader's own vote after a reload")
    assert "Withdraw vote" in state["buttons"]

    other = open_widget(stack, reader, second)
    other.click("Yes")
    other.wait_tally("Yes: 1 · No: 0")
    voters = {r["article_id"]: r["voter"] for r in stack.export_votes() if r["article_id"] in (first, second)}
    assert len(voters) == 2 and voters[first] == voters[second], "the same reader on both articles"

    stranger = new_engine_reader()  # a fresh profile is somebody else
    state = open_widget(stack, stranger, first, tally="Yes: 0 · No: 1").wait_tally("Yes: 0 · No: 1")
    assert state["buttons"] == {"Yes": "false", "No": "false"}
    assert_quiet(reader)
    assert_quiet(stranger)


def test_strict_csp_has_zero_violations(stack: Stack, new_engine_reader: Callable[..., Reader]) -> None:
    reader = new_engine_reader()
    w = open_widget(stack, reader, article_id(), csp=strict_csp(stack))
    w.click("Yes")
    w.wait_tally("Yes: 1 · No: 0")
    w.click("Withdraw vote")
    w.wait_tally(EMPTY)
    assert reader.evaluate("() => window.__fwViolations") == []
    assert stack.publisher.reports == []
    assert_quiet(reader)


def test_the_violation_detectors_work(stack: Stack, new_engine_reader: Callable[..., Reader]) -> None:
    """Control: under the same policy, a <style> put into the widget's shadow root is caught
    by the page's listener and by report-uri, in every engine."""
    aid = article_id()
    reader = new_engine_reader()
    open_widget(stack, reader, aid, csp=strict_csp(stack))
    reader.evaluate(
        "(id) => { const e = [...document.querySelectorAll('[data-feedback-article]')]"
        ".find((x) => x.getAttribute('data-feedback-article') === id);"
        " const s = document.createElement('style'); s.textContent = 'p{color:red}'; e.shadowRoot.append(s); }",
        aid,
    )
    seen = Widget(reader, aid).wait(
        lambda _s: bool(reader.evaluate("() => window.__fwViolations.length")), "a CSP violation event"
    )
    assert seen is not None
    assert [v for v in reader.evaluate("() => window.__fwViolations") if v.startswith("CSP style-src")]
    wait_until(lambda: bool(stack.publisher.reports), "a report at report-uri")


def test_the_console_check_works(stack: Stack, new_engine_reader: Callable[..., Reader]) -> None:
    """Control for assert_quiet: a warning in the page and an error in the cross-site frame
    (after the frame has loaded) are both seen, in every engine."""
    reader = new_engine_reader()
    reader.goto(iframe_page(stack, article_id()))
    Widget(reader, None, frame=stack.widget_url).wait_tally(EMPTY)
    reader.evaluate("() => console.warn('control: page')")
    reader.evaluate("() => console.error('control: frame')", frame=stack.widget_url)
    wanted = {("warning", "control: page"), ("error", "control: frame")}
    wait_until(lambda: wanted <= {(e.level, e.text) for e in reader.console()}, "both messages")


def test_keyboard_only(stack: Stack, new_engine_reader: Callable[..., Reader]) -> None:
    aid = article_id()
    reader = new_engine_reader()
    w = open_widget(stack, reader, aid)
    reader.press("Tab")  # the first focusable thing on the page is the Yes button
    state = w.wait(lambda s: s["focused"] == "Yes", "focus on Yes")
    assert state["outline"] == "solid 3px", "a visible focus ring"
    reader.press("Tab")
    w.wait(lambda s: s["focused"] == "No", "focus on No")
    reader.press("Enter")
    w.wait_tally("Yes: 0 · No: 1")
    reader.press("Shift+Tab")
    w.wait(lambda s: s["focused"] == "Yes", "focus back on Yes")
    reader.press("Space")
    state = w.wait_tally("Yes: 1 · No: 0")
    assert state["buttons"]["Yes"] == "true"
    reader.press("Tab")
    reader.press("Tab")
    w.wait(lambda s: s["focused"] == "Withdraw vote", "focus on Withdraw vote")
    reader.press("Enter")
    w.wait_tally(EMPTY)
    w.wait(lambda s: s["focused"] == "Yes", "focus kept in the widget when the withdraw button goes")
    assert_quiet(reader)
