"""Two sites on one widget server, each with its own publisher origin, in Chromium: the same
article id is two articles, a reader's vote counts on the site whose page it was cast on, and
neither a site's export token nor a reader token of one site reads anything of the other."""

from __future__ import annotations

import dataclasses
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect

from feedbackwidget.sites import Site
from tests.browser.harness import DIRECT, Publisher, Reader, Stack, article_id, widget_of
from tests.browser.holding import EVENTS_HOOK, events, spa_page

NORTH_TOKEN = "north-export-token-0123456789"
SOUTH_TOKEN = "south-export-token-0123456789"


def ask(stack: Stack, path: str, *, token: str | None = None, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    """(status, JSON answer) of a request to the widget server, as a non-browser client (no Origin)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(stack.widget_url + path, data=data)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "text/plain")
    try:
        with DIRECT.open(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_two_publishers_two_sites_one_server(
    make_stack: Callable[..., Stack], publisher: Publisher, second_publisher: Publisher,
    new_reader: Callable[..., Reader],
) -> None:
    north = make_stack(sites=[Site("north", publisher.origin, tokens=NORTH_TOKEN),
                              Site("south", second_publisher.origin, tokens=SOUTH_TOKEN)])
    south = dataclasses.replace(north, publisher=second_publisher)  # the same server, south's pages
    aid = article_id()
    reader = new_reader()

    # Each publisher's page embeds the article as the contract shows (no site declared): the
    # server knows the site by the page's origin, and the widget names it from then on.
    page = reader.page()
    page.goto(north.article(aid))
    w = widget_of(page, aid)
    w.get_by_role("button", name="Yes", exact=True).click()
    expect(w.locator(".fw-t")).to_have_text("Yes: 1 · No: 0")
    north_voter = page.evaluate("(key) => localStorage.getItem(key)", "feedbackwidget:" + north.widget_url)
    page.goto(south.article(aid))
    w = widget_of(page, aid)
    expect(w.locator(".fw-t")).to_have_text("Yes: 0 · No: 0")  # the same id, another site's article
    w.get_by_role("button", name="No", exact=True).click()
    expect(w.locator(".fw-t")).to_have_text("Yes: 0 · No: 1")
    votes = [(m, p, q) for m, p, q in north.requests() if m == "POST" and p == "/api/v1/votes"]
    assert votes == [("POST", "/api/v1/votes", "site=north"), ("POST", "/api/v1/votes", "site=south")]

    # Each site's tally counts only its own vote.
    for site, expected in (("north", (1, 0)), ("south", (0, 1))):
        status, tally = ask(north, f"/api/v1/articles/{aid}?site={site}")
        assert (status, tally["site"], tally["up"], tally["down"]) == (200, site, *expected)

    # One page showing both sites' widgets for that id, to a first-time reader (the public
    # tally read; a returning reader's own read is held to the site's origins, and this page is
    # not on south's): one read per site, each its own tally.
    north.recorder.log.clear()
    page = new_reader().page()
    page.goto(spa_page(north, [("n", aid, ' data-feedback-site="north"'), ("s", aid, ' data-feedback-site="south"')]))
    both = widget_of(page, aid)
    expect(both.nth(0).locator(".fw-t")).to_have_text("Yes: 1 · No: 0")
    expect(both.nth(1).locator(".fw-t")).to_have_text("Yes: 0 · No: 1")
    reads = sorted(q for m, p, q in north.requests() if p == f"/api/v1/articles/{aid}")
    assert reads == ["lang=en&site=north", "lang=en&site=south"], north.requests()

    # A token for one site reads nothing of the other: an export token…
    assert ask(north, "/api/v1/articles?site=south", token=NORTH_TOKEN)[0] == 401
    assert ask(north, "/api/v1/articles?site=north", token=SOUTH_TOKEN)[0] == 401
    status, listing = ask(north, "/api/v1/articles?site=north", token=NORTH_TOKEN)
    assert status == 200 and [(a["article_id"], a["up"], a["down"]) for a in listing["articles"]] == [(aid, 1, 0)]
    # … and a reader's voter token: north's knows the reader's vote there, and nothing on south.
    assert north_voter
    mine = {site: ask(north, f"/api/v1/sentiment?site={site}", body={"article_id": aid, "voter": north_voter})[1]
            for site in ("north", "south")}
    assert (mine["north"]["your_vote"], mine["south"]["your_vote"]) == ("up", None), mine
    assert (mine["south"]["up"], mine["south"]["down"]) == (0, 1)


def test_the_embed_page_carries_its_site_on(
    make_stack: Callable[..., Stack], publisher: Publisher, new_reader: Callable[..., Reader]
) -> None:
    """/embed/ID?site=north: its form posts to ?site=north (also without JavaScript), and its
    script names north on every request it makes."""
    stack = make_stack(sites=[Site("north", publisher.origin), Site("south", "https://south.example")])
    aid = article_id()
    page = new_reader(java_script_enabled=False).page()
    page.goto(f"{stack.widget_url}/embed/{aid}?site=north")
    assert page.locator("form.fw").get_attribute("action") == "/api/v1/votes?site=north"
    assert page.locator("[data-feedback-article]").get_attribute("data-feedback-site") == "north"

    page = new_reader().page()
    page.goto(publisher.add(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Article</title></head><body><main>'
        f'<iframe src="{stack.widget_url}/embed/{aid}?site=north" title="Reader feedback" width="520" height="190">'
        "</iframe></main></body></html>"))
    frame = page.frame_locator("iframe")
    expect(frame.locator(".fw-t")).to_have_text("Yes: 0 · No: 0")
    stack.recorder.log.clear()
    frame.get_by_role("button", name="Yes", exact=True).click()
    expect(frame.locator(".fw-t")).to_have_text("Yes: 1 · No: 0")
    frame.get_by_role("button", name="Withdraw vote").click()
    expect(frame.locator(".fw-t")).to_have_text("Yes: 0 · No: 0")
    calls = stack.requests()
    assert {(m, p) for m, p, _ in calls} >= {
        ("GET", "/widget-actions.js"), ("POST", "/api/v1/votes"), ("DELETE", f"/api/v1/votes/{aid}")}, calls
    assert [(m, p, q) for m, p, q in calls if "site=north" not in q.split("&")] == []


def test_an_error_event_names_the_site_too(
    make_stack: Callable[..., Stack], publisher: Publisher, reader: Reader
) -> None:
    stack = make_stack(sites=[Site("north", publisher.origin), Site("south", "https://south.example")])
    aid = article_id()
    reader.context.add_init_script(EVENTS_HOOK)
    page = reader.page()
    pattern = f"{stack.widget_url}/api/v1/articles/**"
    page.route(pattern, lambda route: route.abort())
    page.goto(spa_page(stack, [("w", aid, ' data-feedback-site="north"')]))
    expect(page.locator("#w").get_by_role("button", name="Try again")).to_be_visible()
    page.unroute(pattern)
    page.locator("#w").get_by_role("button", name="Try again").click()
    expect(page.locator("#w .fw-t")).to_have_text("Yes: 0 · No: 0")
    page.wait_for_function("window.__fwEvents.length >= 2")
    assert [(e["type"], e["detail"]) for e in events(page)] == [
        ("error", {"article_id": aid, "error": "network", "action": "load", "vote": None, "site": "north"}),
        ("shown", {"article_id": aid, "vote": None, "site": "north"}),
    ]
