"""Failure and expiry states: a clear, retryable message and never an unconfirmed tally."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect

from tests.browser.harness import Reader, Stack, article_id, widget_of


def _open(stack: Stack, reader: Reader, **kw: str) -> tuple[Any, str, Any]:
    aid = article_id()
    page = reader.page()
    page.goto(stack.article(aid, **kw))
    w = widget_of(page, aid)
    expect(w.locator(".fw-t")).to_have_text("Yes: 0 · No: 0")
    return page, aid, w


def _refused(w: Any, message: str) -> None:
    expect(w.get_by_role("status")).to_have_text(message)
    expect(w.get_by_role("button", name="Yes", exact=True)).to_have_attribute("aria-pressed", "false")
    expect(w.locator(".fw-t")).to_have_text("Yes: 0 · No: 0")
    expect(w.get_by_role("button", name="Try again")).to_be_visible()


def _retry_succeeds(w: Any) -> None:
    w.get_by_role("button", name="Try again").click()
    expect(w.locator(".fw-t")).to_have_text("Yes: 1 · No: 0")
    expect(w.get_by_role("button", name="Yes", exact=True)).to_have_attribute("aria-pressed", "true")
    expect(w.get_by_role("button", name="Try again")).to_have_count(0)


def test_network_failure_then_retry(stack: Stack, reader: Reader) -> None:
    page, aid, w = _open(stack, reader)
    votes = f"{stack.widget_url}/api/v1/votes"
    page.route(votes, lambda route: route.abort())
    w.get_by_role("button", name="Yes", exact=True).click()
    _refused(w, "Could not reach the server.")
    assert stack.tally(aid) == (0, 0)
    page.unroute(votes)
    _retry_succeeds(w)
    assert stack.tally(aid) == (1, 0)


def test_captcha_service_unavailable_is_503_then_retry(stack: Stack, reader: Reader) -> None:
    _page, aid, w = _open(stack, reader)
    stack.fake.mint_prefix = "E500"  # siteverify answers HTTP 500: the server fails closed
    w.get_by_role("button", name="Yes", exact=True).click()
    _refused(w, "Temporarily unavailable.")
    assert stack.tally(aid) == (0, 0)
    stack.fake.mint_prefix = "PASS"
    _retry_succeeds(w)


def test_captcha_refused_by_siteverify(stack: Stack, reader: Reader) -> None:
    _page, _aid, w = _open(stack, reader)
    stack.fake.mint_prefix = "FAIL"
    w.get_by_role("button", name="Yes", exact=True).click()
    _refused(w, "The anti-spam check failed.")
    stack.fake.mint_prefix = "PASS"
    _retry_succeeds(w)


def test_captcha_error_callback(stack: Stack, reader: Reader) -> None:
    _page, _aid, w = _open(stack, reader)
    stack.fake.client = "error"
    w.get_by_role("button", name="Yes", exact=True).click()
    _refused(w, "The anti-spam check failed.")
    stack.fake.client = "ok"
    _retry_succeeds(w)


def test_captcha_expiry_sends_nothing_and_retries(stack: Stack, reader: Reader) -> None:
    _page, _aid, w = _open(stack, reader)
    stack.fake.client = "expire"
    w.get_by_role("button", name="Yes", exact=True).click()
    _refused(w, "The anti-spam check expired.")
    assert not [c for c in stack.requests() if c[1] == "/api/v1/votes"], "an expired token was sent"
    stack.fake.client = "ok"
    _retry_succeeds(w)


def test_rate_limited(make_stack: Callable[..., Stack], reader: Reader) -> None:
    limited = make_stack(rate_limit="1/minute")
    _page, aid, w = _open(limited, reader)
    w.get_by_role("button", name="Yes", exact=True).click()
    expect(w.locator(".fw-t")).to_have_text("Yes: 1 · No: 0")
    w.get_by_role("button", name="No", exact=True).click()
    expect(w.get_by_role("status")).to_have_text("Too many attempts; wait a moment.")
    expect(w.get_by_role("button", name="Try again")).to_be_visible()
    expect(w.locator(".fw-t")).to_have_text("Yes: 1 · No: 0")
    expect(w.get_by_role("button", name="No", exact=True)).to_have_attribute("aria-pressed", "false")
    assert limited.tally(aid) == (1, 0)


def test_tally_load_failure_is_retryable(stack: Stack, reader: Reader) -> None:
    aid = article_id()
    page = reader.page()
    pattern = f"{stack.widget_url}/api/v1/articles/**"
    page.route(pattern, lambda route: route.abort())
    page.goto(stack.article(aid))
    w = widget_of(page, aid)
    expect(w.get_by_role("status")).to_have_text("Could not reach the server.")
    expect(w.locator(".fw-t")).to_have_text("")  # no number the server did not give
    page.unroute(pattern)
    w.get_by_role("button", name="Try again").click()
    expect(w.locator(".fw-t")).to_have_text("Yes: 0 · No: 0")
    expect(w.get_by_text("Do you like this article?")).to_be_visible()


def test_consent_hook_holds_the_captcha_back(stack: Stack, reader: Reader) -> None:
    hook = stack.publisher.add_script(
        "window.feedbackWidgetConsent = () => Promise.resolve(window.readerAcceptedCaptcha === true);"
    )
    page, _aid, w = _open(stack, reader, head=f'<script src="{hook}"></script>')
    w.get_by_role("button", name="Yes", exact=True).click()
    _refused(w, "Voting needs hCaptcha, which is not allowed here.")
    assert not [u for u in reader.seen if u.startswith(stack.fake.origin)], "captcha loaded without consent"
    page.evaluate("window.readerAcceptedCaptcha = true")
    _retry_succeeds(w)
    assert [u for u in reader.seen if u.startswith(stack.fake.origin + "/1/api.js")]
