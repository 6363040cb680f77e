"""Every widget is bound to its current article: what is in flight or offered for retry stays
with the article it started on, and what the widget shows follows its element and page.

The requests are held in the browser (tests/browser/holding.py) so that the navigation lands
at an exact point inside the operation; failures are real ones from the server (a captcha
token the loopback stand-in answers too slowly: siteverify times out, 503).
"""

from __future__ import annotations

import json
import secrets
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from feedbackwidget.fakecaptcha import FakeHCaptcha
from tests.browser.harness import Reader, Stack, article_id
from tests.browser.holding import EVENTS_HOOK, Holder, events, navigate, shown, spa_page

NOTHING_SAID = {"status": "", "action": None}


@pytest.fixture
def site(make_stack: Callable[..., Stack], fake: FakeHCaptcha) -> Iterator[Stack]:
    """A widget server whose siteverify calls give up after half a second."""
    yield make_stack(hcaptcha_timeout=0.5)
    fake.mint_prefix, fake.client = "PASS", "ok"


@pytest.fixture
def spa(reader: Reader) -> Reader:
    reader.context.add_init_script(EVENTS_HOOK)
    return reader


def _open(site: Stack, reader: Reader, widgets: list[tuple[str, str, str]], **kw: Any) -> tuple[Any, Holder]:
    page = reader.page()
    holder = Holder(page, site.widget_url, reads=False)
    page.goto(spa_page(site, widgets, **kw))
    for wid, _, _ in widgets:
        expect(page.locator(f"#{wid} .fw-t")).not_to_have_text("")
    return page, holder


def _press(page: Any, element: str, name: str) -> None:
    page.locator(f"#{element}").get_by_role("button", name=name, exact=True).click()


def _said(page: Any, element: str) -> dict[str, Any]:
    state = shown(page, element)[0]
    return {"status": state["status"], "action": state["action"]}


def _wait_for_event(page: Any, kind: str, count: int = 1) -> None:
    page.wait_for_function(f"window.__fwEvents.filter(e => e.type === '{kind}').length >= {count}")


def test_a_vote_failing_after_the_element_moved_on_is_never_shown_or_retried_there(site: Stack, spa: Reader) -> None:
    """The handed case: Yes on A fails slowly while the site shows B in the same element."""
    a, b = article_id(), article_id()
    page, holder = _open(site, spa, [("w", a, "")])
    site.fake.mint_prefix = "SLOW"  # siteverify will time out: 503 captcha_unavailable
    _press(page, "w", "Yes")
    vote = holder.wait_for(1)[0]
    assert (vote.kind, vote.article) == ("vote", a)
    navigate(page, "w", b)
    expect(page.locator("#w .fw-t")).to_have_text("Yes: 0 · No: 0")
    assert holder.release(holder.take("vote", a)) == 503
    # Whichever comes first: the error event (A's), or the bug (A's failure on B's widget).
    page.wait_for_function(
        "window.__fwEvents.some(e => e.type === 'error')"
        " || !document.getElementById('w').shadowRoot.querySelector('.fw-a').hidden"
    )
    assert _said(page, "w") == NOTHING_SAID
    assert shown(page, "w")[0]["pressed"] == ["false", "false"]
    assert [e["detail"] for e in events(page) if e["type"] == "error"] == [
        {"article_id": a, "error": "unavailable", "action": "vote", "vote": "up"}
    ]
    assert site.tally(a) == (0, 0) and site.tally(b) == (0, 0)

    site.fake.mint_prefix = "PASS"  # the reader now votes on B, and only that counts, on B
    _press(page, "w", "Yes")
    assert holder.release(holder.take("vote", b)) == 200
    expect(page.locator("#w .fw-t")).to_have_text("Yes: 1 · No: 0")
    assert site.tally(a) == (0, 0) and site.tally(b) == (1, 0)


def test_a_retry_in_flight_belongs_to_the_article_it_retries(site: Stack, spa: Reader) -> None:
    a, b = article_id(), article_id()
    page, holder = _open(site, spa, [("w", a, "")])
    _press(page, "w", "No")
    assert holder.release(holder.wait_for(1)[0], "e500") == 503
    expect(page.locator("#w").get_by_role("button", name="Try again")).to_be_visible()
    page.locator("#w").get_by_role("button", name="Try again").click()
    retry = holder.wait_for(1)[0]
    assert (retry.article, retry.body["vote"]) == (a, "down")
    navigate(page, "w", b)
    assert holder.release(holder.take("vote", a)) == 200
    _wait_for_event(page, "vote")
    assert site.tally(a) == (0, 1) and site.tally(b) == (0, 0)
    assert shown(page, "w")[0]["tally"] == "Yes: 0 · No: 0"
    assert _said(page, "w") == NOTHING_SAID


def test_a_vote_acknowledged_after_the_element_moved_counts_on_its_article_only(site: Stack, spa: Reader) -> None:
    a, b = article_id(), article_id()
    page, holder = _open(site, spa, [("w", a, "")])
    _press(page, "w", "Yes")
    holder.wait_for(1)
    navigate(page, "w", b)
    expect(page.locator("#w .fw-t")).to_have_text("Yes: 0 · No: 0")
    assert holder.release(holder.take("vote", a)) == 200
    _wait_for_event(page, "vote")
    assert [e["detail"] for e in events(page) if e["type"] == "vote"] == [{"article_id": a, "vote": "up", "changed": False}]
    state = shown(page, "w")[0]
    assert (state["tally"], state["pressed"], state["status"]) == ("Yes: 0 · No: 0", ["false", "false"], "")
    assert site.tally(a) == (1, 0) and site.tally(b) == (0, 0)
    navigate(page, "w", a)  # back on A: as a fresh page load shows it, no thank-you of before
    expect(page.locator("#w .fw-t")).to_have_text("Yes: 1 · No: 0")
    state = shown(page, "w")[0]
    assert (state["pressed"], state["status"], state["action"]) == (["true", "false"], "", "Withdraw vote")


def test_a_withdrawal_in_flight_stays_with_its_article(site: Stack, spa: Reader) -> None:
    a, b = article_id(), article_id()
    page, holder = _open(site, spa, [("w", a, "")])
    _press(page, "w", "Yes")
    assert holder.release(holder.wait_for(1)[0]) == 200
    page.locator("#w").get_by_role("button", name="Withdraw vote").click()
    withdrawal = holder.wait_for(1)[0]
    assert (withdrawal.kind, withdrawal.article) == ("withdraw", a)
    navigate(page, "w", b)
    assert holder.release(holder.take("withdraw", a)) == 200
    _wait_for_event(page, "withdraw")
    assert [e["detail"] for e in events(page) if e["type"] == "withdraw"] == [{"article_id": a, "vote": "up"}]
    assert _said(page, "w") == NOTHING_SAID
    assert site.tally(a) == (0, 0) and site.tally(b) == (0, 0)


def test_a_returning_readers_read_of_one_article_never_lands_on_another(site: Stack, spa: Reader) -> None:
    a, b, c, d = article_id(), article_id(), article_id(), article_id()
    page, holder = _open(site, spa, [("w", a, "")])
    _press(page, "w", "Yes")
    assert holder.release(holder.wait_for(1)[0]) == 200
    expect(page.locator("#w .fw-t")).to_have_text("Yes: 1 · No: 0")
    holder.reads = True  # the reader is known now: each view reads their own vote
    navigate(page, "w", c)
    navigate(page, "w", a)
    read_a = holder.wait_for(2)[1]
    assert (read_a.kind, read_a.method, read_a.article) == ("read", "POST", a)
    navigate(page, "w", b)
    read_b = holder.wait_for(3)[2]
    assert holder.release(holder.take("read", b)) == 200
    expect(page.locator("#w .fw-t")).to_have_text("Yes: 0 · No: 0")
    assert holder.release(holder.take("read", a)) == 200  # A's answer, late: not for this element now
    assert holder.release(holder.take("read", c)) == 200
    state = shown(page, "w")[0]
    assert (state["article"], state["tally"], state["pressed"]) == (b, "Yes: 0 · No: 0", ["false", "false"])
    navigate(page, "w", c)
    navigate(page, "w", d)
    read_c, read_d = holder.wait_for(2)
    assert holder.release(holder.take("read", d)) == 200
    assert holder.release(holder.take("read", c), "abort") == 0  # C's read fails after the element left C
    expect(page.locator("#w .fw-t")).to_have_text("Yes: 0 · No: 0")
    assert _said(page, "w") == NOTHING_SAID
    assert [e for e in events(page) if e["type"] == "error"] == []
    assert read_b.article == b and read_c.article == c and read_d.article == d


def test_a_captcha_challenge_in_progress_stays_with_its_article(site: Stack, spa: Reader) -> None:
    a, b = article_id(), article_id()
    page, holder = _open(site, spa, [("w", a, ' data-feedback-title="About A"')])
    challenges: list[Any] = []
    page.route(f"{site.fake.origin}/mint", lambda route: challenges.append(route))  # A's challenge, unsolved
    _press(page, "w", "Yes")
    deadline = 200
    while not challenges and deadline:
        page.wait_for_timeout(10)
        deadline -= 1
    assert challenges, "the captcha was never asked for a token"
    page.evaluate("document.getElementById('w').setAttribute('data-feedback-title', 'About B')")
    navigate(page, "w", b)
    expect(page.locator("#w .fw-t")).to_have_text("Yes: 0 · No: 0")
    challenges[0].continue_()
    vote = holder.wait_for(1)[0]
    assert (vote.article, vote.body.get("title")) == (a, "About A")
    assert holder.release(holder.take("vote", a)) == 200
    _wait_for_event(page, "vote")
    assert site.tally(a) == (1, 0) and site.tally(b) == (0, 0)
    assert _said(page, "w") == NOTHING_SAID
    page.unroute(f"{site.fake.origin}/mint")
    _press(page, "w", "No")  # B's own captcha, its own vote
    vote = holder.wait_for(1)[0]
    assert (vote.article, vote.body.get("title")) == (b, "About B")


def test_the_title_and_version_of_a_vote_are_those_it_started_with(site: Stack, spa: Reader) -> None:
    a = article_id()
    page, holder = _open(site, spa, [("w", a, ' data-feedback-title="First title" data-feedback-version="r1"')])
    _press(page, "w", "Yes")
    holder.wait_for(1)
    page.evaluate("const w = document.getElementById('w'); w.dataset.feedbackTitle = 'Second title';"
                  " w.dataset.feedbackVersion = 'r2';")
    assert holder.release(holder.take("vote", a)) == 200
    _wait_for_event(page, "vote")
    row = next(r for r in site.export_votes() if r["article_id"] == a)
    assert row["article_version"] == "r1"
    state = shown(page, "w")[0]  # the same article: its new tally and the reader's vote, no old message
    assert (state["tally"], state["pressed"], state["status"]) == ("Yes: 1 · No: 0", ["true", "false"], "")


def test_the_reasons_picker_belongs_to_its_article(make_stack: Callable[..., Stack], spa: Reader) -> None:
    site = make_stack(reasons="unclear,other")
    a, b = article_id(), article_id()
    page, holder = _open(site, spa, [("w", a, "")])
    holder.writes = False
    _press(page, "w", "No")
    picker = page.locator("#w").get_by_role("group", name="What was wrong with it?")
    expect(picker).to_be_visible()
    navigate(page, "w", b)
    expect(page.locator("#w .fw-t")).to_have_text("Yes: 0 · No: 0")
    expect(picker).to_have_count(0)
    navigate(page, "w", a)  # back on A: no picker either, as on a fresh page load
    expect(page.locator("#w .fw-t")).to_have_text("Yes: 0 · No: 1")
    expect(picker).to_have_count(0)


def test_language_direction_and_texts_follow_the_element_and_the_page(site: Stack, spa: Reader) -> None:
    a = article_id()
    page, _ = _open(site, spa, [("w", a, "")])
    expect(page.locator("#w .fw-q")).to_have_text("Do you like this article?")
    page.evaluate("document.getElementById('w').lang = 'ru'")
    expect(page.locator("#w .fw-t")).to_have_text("Да: 0 · Нет: 0")
    page.evaluate("document.getElementById('w').dataset.feedbackTextQuestion = 'Полезно?'")
    expect(page.locator("#w .fw-q")).to_have_text("Полезно?")
    page.evaluate("document.getElementById('w').removeAttribute('lang'); document.documentElement.lang = 'ar'")
    expect(page.locator("#w .fw-t")).to_have_text("نعم: 0 · لا: 0")
    expect(page.locator("#w .fw-q")).to_have_text("Полезно?")
    assert shown(page, "w")[0]["dir"] == "rtl"
    page.evaluate("const w = document.getElementById('w'); w.dir = 'ltr';"
                  " delete w.dataset.feedbackTextQuestion;")
    expect(page.locator("#w .fw-q")).to_have_text("هل أعجبك هذا المقال؟")
    final = shown(page, "w")[0]
    # exactly what a fresh page load with the same markup shows
    fresh, _ = _open(site, spa, [("w", a, ' dir="ltr"')], lang="ar")
    assert shown(fresh, "w")[0] == final
    assert final["dir"] == "ltr" and final["lang"] == "ar"


def test_two_widgets_for_one_article_agree_and_only_the_pressed_one_speaks(site: Stack, spa: Reader) -> None:
    a = article_id()
    page, holder = _open(site, spa, [("w1", a, ""), ("w2", a, "")])
    holder.writes = False
    _press(page, "w1", "Yes")
    expect(page.locator("#w2 .fw-t")).to_have_text("Yes: 1 · No: 0")
    one, two = shown(page, "w1", "w2")
    assert one["pressed"] == two["pressed"] == ["true", "false"]
    assert one["status"].startswith("Thank you") and two["status"] == ""
    assert [(e["type"], e["element"]) for e in events(page) if e["type"] != "shown"] == [("vote", "w1")]


def test_an_element_removed_and_added_again_shows_the_current_truth(site: Stack, spa: Reader) -> None:
    a, b = article_id(), article_id()
    page, holder = _open(site, spa, [("w1", a, ""), ("w2", a, "")])
    holder.writes = False
    page.evaluate("window.__kept = document.getElementById('w2'); window.__kept.remove()")
    _press(page, "w1", "No")
    expect(page.locator("#w1 .fw-t")).to_have_text("Yes: 0 · No: 1")
    page.evaluate("document.querySelector('main').append(window.__kept)")
    expect(page.locator("#w2 .fw-t")).to_have_text("Yes: 0 · No: 1")
    assert shown(page, "w2")[0]["pressed"] == ["false", "true"]
    # changed while detached: shown as it is now once it is back
    page.evaluate(f"window.__kept.remove(); window.__kept.dataset.feedbackArticle = '{b}';"
                  " document.querySelector('main').append(window.__kept)")
    expect(page.locator("#w2 .fw-t")).to_have_text("Yes: 0 · No: 0")
    assert shown(page, "w2")[0]["pressed"] == ["false", "false"]


def test_an_article_that_changes_twice_quickly_shows_none_of_the_first_binding(site: Stack, spa: Reader) -> None:
    a, b = article_id(), article_id()
    page, holder = _open(site, spa, [("w", a, "")])
    _press(page, "w", "Yes")
    holder.wait_for(1)
    page.evaluate(f"const w = document.getElementById('w'); w.dataset.feedbackArticle = '{b}';"
                  f" w.dataset.feedbackArticle = '{a}';")  # A -> B -> A within one task
    navigate(page, "w", b)
    navigate(page, "w", a)  # and again across tasks
    assert holder.release(holder.take("vote", a), "slow") == 503
    _wait_for_event(page, "error")
    assert _said(page, "w") == NOTHING_SAID  # no "Try again" from the first A
    assert shown(page, "w")[0]["tally"] == "Yes: 0 · No: 0"
    _press(page, "w", "Yes")
    assert holder.release(holder.take("vote", a)) == 200
    expect(page.locator("#w .fw-t")).to_have_text("Yes: 1 · No: 0")
    assert site.tally(a) == (1, 0) and site.tally(b) == (0, 0)


def _vote_as_another_reader(site: Stack, article: str, vote: str) -> None:
    body = json.dumps({"article_id": article, "vote": vote, "captcha_token": f"PASS-{secrets.token_hex(8)}"})
    request = urllib.request.Request(site.widget_url + "/api/v1/votes", data=body.encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


def test_coming_back_to_an_article_shows_its_numbers_as_they_are_now(site: Stack, spa: Reader) -> None:
    a, b = article_id(), article_id()
    page, _ = _open(site, spa, [("w", a, "")])
    navigate(page, "w", b)
    expect(page.locator("#w .fw-t")).to_have_text("Yes: 0 · No: 0")
    _vote_as_another_reader(site, a, "up")
    navigate(page, "w", a)  # A's first answer is known, but it is not the last word
    expect(page.locator("#w .fw-t")).to_have_text("Yes: 1 · No: 0")
    assert shown(page, "w")[0]["pressed"] == ["false", "false"]


def test_an_element_that_loses_its_article_shows_nothing(site: Stack, spa: Reader) -> None:
    a = article_id()
    page, _ = _open(site, spa, [("w", a, "")])
    page.evaluate("document.getElementById('w').removeAttribute('data-feedback-article')")
    expect(page.locator("#w .fw")).to_be_hidden()
    navigate(page, "w", a)
    expect(page.locator("#w .fw")).to_be_visible()
    expect(page.locator("#w .fw-t")).to_have_text("Yes: 0 · No: 0")
