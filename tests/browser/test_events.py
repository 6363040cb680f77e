"""The widget's DOM events for the publisher's own analytics: each fires once per occurrence,
bubbles and is composed, names its article, and says nothing that identifies the reader; the
one-line forwarders in docs/widget.md deliver them to GA4, Matomo and Plausible."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from feedbackwidget.fakecaptcha import FakeHCaptcha
from tests.browser.harness import ROOT, Reader, Stack, article_id
from tests.browser.holding import EVENTS_HOOK, Holder, events, navigate, spa_page

DETAIL_KEYS = {"shown": {"article_id", "vote"}, "vote": {"article_id", "vote", "changed"},
               "withdraw": {"article_id", "vote"}, "error": {"article_id", "error", "action", "vote"}}


@pytest.fixture
def site(make_stack: Callable[..., Stack], fake: FakeHCaptcha) -> Iterator[Stack]:
    yield make_stack(hcaptcha_timeout=0.5)
    fake.mint_prefix, fake.client = "PASS", "ok"


@pytest.fixture
def watched(reader: Reader) -> Reader:
    reader.context.add_init_script(EVENTS_HOOK)
    return reader


def _kinds(page: Any) -> list[tuple[str, str, str]]:
    return [(e["type"], e["element"], e["detail"]["article_id"]) for e in events(page)]


def _until(page: Any, count: int) -> None:
    page.wait_for_function(f"window.__fwEvents.length >= {count}")


def test_each_event_fires_once_per_occurrence(site: Stack, watched: Reader) -> None:
    a, b, c = article_id(), article_id(), article_id()
    page = watched.page()
    page.goto(spa_page(site, [("w1", a, ""), ("w2", b, "")]))
    _until(page, 2)
    yes, no = (page.locator("#w1").get_by_role("button", name=n, exact=True) for n in ("Yes", "No"))
    yes.click()
    expect(page.locator("#w1 .fw-t")).to_have_text("Yes: 1 · No: 0")
    yes.click()  # already the reader's vote: nothing happens, nothing is reported
    no.click()  # a change of mind is a vote with changed
    expect(page.locator("#w1 .fw-t")).to_have_text("Yes: 0 · No: 1")
    page.locator("#w1").get_by_role("button", name="Withdraw vote").click()
    expect(page.locator("#w1 .fw-t")).to_have_text("Yes: 0 · No: 0")
    site.fake.mint_prefix = "E500"
    page.locator("#w2").get_by_role("button", name="No", exact=True).click()
    expect(page.locator("#w2").get_by_role("button", name="Try again")).to_be_visible()
    site.fake.mint_prefix = "PASS"
    page.locator("#w2").get_by_role("button", name="Try again").click()
    expect(page.locator("#w2 .fw-t")).to_have_text("Yes: 0 · No: 1")
    page.evaluate("document.getElementById('w1').lang = 'ru'")  # same article: not shown anew
    expect(page.locator("#w1 .fw-t")).to_have_text("Да: 0 · Нет: 0")
    navigate(page, "w1", c)  # another article in the same element: shown once more
    _until(page, 8)
    expect(page.locator("#w1 .fw-t")).to_have_text("Да: 0 · Нет: 0")
    seen = events(page)
    assert [(e["type"], e["element"]) for e in seen] == [
        ("shown", "w1"), ("shown", "w2"), ("vote", "w1"), ("vote", "w1"), ("withdraw", "w1"),
        ("error", "w2"), ("vote", "w2"), ("shown", "w1"),
    ] or [(e["type"], e["element"]) for e in seen] == [
        ("shown", "w2"), ("shown", "w1"), ("vote", "w1"), ("vote", "w1"), ("withdraw", "w1"),
        ("error", "w2"), ("vote", "w2"), ("shown", "w1"),
    ], seen
    details = [e["detail"] for e in seen if e["type"] != "shown"]
    assert details == [
        {"article_id": a, "vote": "up", "changed": False},
        {"article_id": a, "vote": "down", "changed": True},
        {"article_id": a, "vote": "down"},
        {"article_id": b, "error": "unavailable", "action": "vote", "vote": "down"},
        {"article_id": b, "vote": "down", "changed": False},
    ]
    assert sorted(e["detail"]["article_id"] for e in seen if e["type"] == "shown") == sorted([a, b, c])
    assert all(e["bubbles"] and e["composed"] for e in seen)


def test_events_carry_the_article_they_belong_to_after_the_element_moved_on(site: Stack, watched: Reader) -> None:
    a, b = article_id(), article_id()
    page = watched.page()
    holder = Holder(page, site.widget_url, reads=False)
    page.goto(spa_page(site, [("w", a, "")]))
    _until(page, 1)
    page.locator("#w").get_by_role("button", name="Yes", exact=True).click()
    holder.wait_for(1)
    navigate(page, "w", b)
    _until(page, 2)
    assert holder.release(holder.take("vote", a)) == 200
    _until(page, 3)
    page.locator("#w").get_by_role("button", name="No", exact=True).click()
    assert holder.release(holder.take("vote", b), "slow") == 503
    _until(page, 4)
    assert _kinds(page) == [("shown", "w", a), ("shown", "w", b), ("vote", "w", a), ("error", "w", b)]


def test_a_failed_tally_is_reported_once_and_its_retry_is_shown(site: Stack, watched: Reader) -> None:
    a = article_id()
    page = watched.page()
    pattern = f"{site.widget_url}/api/v1/articles/**"
    page.route(pattern, lambda route: route.abort())
    page.goto(spa_page(site, [("w", a, "")]))
    expect(page.locator("#w").get_by_role("button", name="Try again")).to_be_visible()
    page.unroute(pattern)
    page.locator("#w").get_by_role("button", name="Try again").click()
    expect(page.locator("#w .fw-t")).to_have_text("Yes: 0 · No: 0")
    _until(page, 2)
    assert [(e["type"], e["detail"]) for e in events(page)] == [
        ("error", {"article_id": a, "error": "network", "action": "load", "vote": None}),  # undefined in the page
        ("shown", {"article_id": a, "vote": None}),
    ]


def test_events_say_nothing_that_identifies_the_reader(site: Stack, watched: Reader) -> None:
    a = article_id()
    page = watched.page()
    page.goto(spa_page(site, [("w", a, "")]))
    page.locator("#w").get_by_role("button", name="Yes", exact=True).click()
    expect(page.locator("#w .fw-t")).to_have_text("Yes: 1 · No: 0")
    page.reload()  # a returning reader: shown with their own vote, still anonymous
    _until(page, 1)
    token = page.evaluate("Object.entries(localStorage).find(([k]) => k.startsWith('feedbackwidget:'))[1]")
    pseudonym = next(r["voter"] for r in site.export_votes() if r["article_id"] == a)
    page.locator("#w").get_by_role("button", name="Withdraw vote").click()
    _until(page, 2)
    seen = events(page)
    assert [e["detail"] for e in seen] == [{"article_id": a, "vote": "up"}, {"article_id": a, "vote": "up"}]
    for event in seen:
        assert set(event["detail"]) <= DETAIL_KEYS[event["type"]]
        assert token not in repr(event) and pseudonym not in repr(event)


def _forwarders() -> str:
    """The analytics one-liners exactly as docs/widget.md shows them."""
    text = (ROOT / "docs" / "widget.md").read_text(encoding="utf-8")
    section = text.split("### Forwarding them to your analytics", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```js\n(.*?)```", section, flags=re.DOTALL)
    assert len(blocks) == 4, blocks  # GA4 (gtag), GA4 (dataLayer), Matomo, Plausible
    return "\n".join(blocks)


def test_the_documented_forwarders_deliver_every_event(site: Stack, watched: Reader) -> None:
    stubs = ("window.calls = []; window.gtag = (...a) => calls.push(['gtag', ...a]); window.dataLayer = [];"
             " window._paq = []; window.plausible = (...a) => calls.push(['plausible', ...a]);")
    forwarders = site.publisher.add_script(stubs + "\n" + _forwarders())
    a = article_id()
    page = watched.page()
    page.goto(spa_page(site, [("w", a, "")], head=f'<script src="{forwarders}"></script>'))
    page.locator("#w").get_by_role("button", name="No", exact=True).click()
    expect(page.locator("#w .fw-t")).to_have_text("Yes: 0 · No: 1")
    _until(page, 2)
    calls = page.evaluate("calls")
    layer = page.evaluate("dataLayer")
    paq = page.evaluate("_paq")
    assert [c[:2] for c in calls if c[0] == "gtag"] == [["gtag", "event"], ["gtag", "event"]]
    assert [c[2] for c in calls if c[0] == "gtag"] == ["feedback_shown", "feedback_vote"]
    assert {c[3]["article_id"] for c in calls if c[0] == "gtag"} == {a}
    assert [entry["event"] for entry in layer] == ["feedback_shown", "feedback_vote"]
    assert [entry["vote"] for entry in layer] == [None, "down"]
    assert paq == [["trackEvent", "Feedback", "shown", a], ["trackEvent", "Feedback", "vote: down", a]]
    plausible = [c for c in calls if c[0] == "plausible"]
    assert [c[1] for c in plausible] == ["Feedback: shown", "Feedback: vote"]
    assert [c[2]["props"] for c in plausible] == [{"article_id": a, "vote": "none"}, {"article_id": a, "vote": "down"}]
