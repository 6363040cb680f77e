"""Several sites on one server, as the widget speaks it, in Chromium, Firefox and WebKit.

The widget says which site it acts for with ``?site=`` on every request to the server (tally
reads, votes, withdrawals, reasons, the modules it imports): the site its element declares
(``data-feedback-site``), else the one the server's answers named for the page. Its events
carry it as ``detail.site``. A single-site server names none, and then nothing of it appears:
not on the wire, not in an event. What the server does with it is tested in tests/; here,
what the browser sends and dispatches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import pytest

from feedbackwidget.sites import Site
from tests.browser.engines import Reader
from tests.browser.harness import Publisher, Stack, article_id
from tests.browser.pages import widgets_page
from tests.browser.test_engines import EMPTY, assert_quiet
from tests.browser.widgetview import Widget, wait_until

#: The origin of the second site's pages; no page of these tests is on it.
SOUTH_ORIGIN = "https://south.example"


@pytest.fixture
def two_sites(make_stack: Callable[..., Stack], publisher: Publisher) -> Stack:
    """A server with two sites: ``north`` (the publisher's pages; reasons after a No) and ``south``."""
    return make_stack(sites=[Site("north", publisher.origin, reasons="unclear,too_long"), Site("south", SOUTH_ORIGIN)])


def events(reader: Reader, count: int) -> list[dict[str, Any]]:
    """The page's widget events once there are ``count`` of them (pages.widgets_page records them)."""
    wait_until(lambda: reader.evaluate("() => window.__fwEvents.length") >= count, f"{count} widget events")
    found: list[dict[str, Any]] = reader.evaluate("() => window.__fwEvents")
    return found


def to_server(stack: Stack) -> list[tuple[str, str, dict[str, list[str]]]]:
    """Every request the widget made to its server (preflights too), with its query parsed;
    ``widget.js`` itself is the page's, not the widget's."""
    return [(method, path, parse_qs(query)) for method, path, query in stack.requests() if path != "/widget.js"]


def vote_no_with_a_reason_then_withdraw(w: Widget) -> None:
    """Yes, then No (a change of mind), a reason for it, then the vote withdrawn."""
    w.wait_tally(EMPTY)
    w.click("Yes")
    w.wait_tally("Yes: 1 · No: 0")
    w.click("No")
    w.wait_tally("Yes: 0 · No: 1")
    w.click("Too long")
    w.click("Send")
    w.wait(lambda s: s["status"] == "Thank you, noted.", "the reason's thank-you")
    w.click("Withdraw vote")
    w.wait(lambda s: s["status"].startswith("Your vote was withdrawn."), "the withdrawal")
    w.wait_tally(EMPTY)


WANTED = {
    ("GET", "/api/v1/articles/{aid}"),  # the tally
    ("GET", "/widget-actions.js"),  # imported on the first press
    ("POST", "/api/v1/votes"),
    ("GET", "/widget-reasons.js"),  # imported after the No
    ("POST", "/api/v1/reasons"),
    ("DELETE", "/api/v1/votes/{aid}"),
}  # and, for a returning reader, POST /api/v1/sentiment


def test_a_declared_site_goes_with_every_request_and_event(
    two_sites: Stack, new_engine_reader: Callable[..., Reader]
) -> None:
    aid = article_id()
    reader = new_engine_reader()
    reader.goto(widgets_page(two_sites, (aid, "north")))
    vote_no_with_a_reason_then_withdraw(Widget(reader, aid))

    calls = to_server(two_sites)
    made = {(method, path) for method, path, _ in calls}
    assert {(m, p.format(aid=aid)) for m, p in WANTED} <= made, made
    assert [(m, p) for m, p, query in calls if query.get("site") != ["north"]] == []
    seen = events(reader, 4)
    assert [(e["type"], e["detail"]) for e in seen] == [
        ("shown", {"article_id": aid, "vote": None, "site": "north"}),
        ("vote", {"article_id": aid, "vote": "up", "changed": False, "site": "north"}),
        ("vote", {"article_id": aid, "vote": "down", "changed": True, "site": "north"}),
        ("withdraw", {"article_id": aid, "vote": "down", "site": "north"}),
    ]
    reader.reload()  # a returning reader: their own view of the tally, for the declared site too
    wait_until(lambda: ("POST", "/api/v1/sentiment") in two_sites.recorder.answered, "the reader's own tally")
    Widget(reader, aid).wait_tally(EMPTY)
    assert [q for m, p, q in to_server(two_sites) if p == "/api/v1/sentiment"] == [{"site": ["north"]}]
    assert_quiet(reader)


def test_without_a_declaration_the_page_takes_the_site_the_server_names(
    two_sites: Stack, new_engine_reader: Callable[..., Reader]
) -> None:
    """The first tally read goes without ``site``: the server decides by the page's origin and
    says so in its answer; from then on the widget names that site itself."""
    aid = article_id()
    reader = new_engine_reader()
    reader.goto(widgets_page(two_sites, (aid, None)))
    vote_no_with_a_reason_then_withdraw(Widget(reader, aid))

    calls = to_server(two_sites)
    assert calls[0] == ("GET", f"/api/v1/articles/{aid}", {"lang": ["en"]}), calls
    assert [(m, p) for m, p, query in calls[1:] if query.get("site") != ["north"]] == []
    assert {(m, p.format(aid=aid)) for m, p in WANTED} <= {(m, p) for m, p, _ in calls}
    seen = events(reader, 4)
    assert [e["detail"].get("site") for e in seen] == ["north"] * 4, seen
    assert_quiet(reader)


def test_a_single_site_server_sees_and_says_no_site(
    make_stack: Callable[..., Stack], new_engine_reader: Callable[..., Reader]
) -> None:
    stack = make_stack(reasons="unclear,too_long")
    aid = article_id()
    reader = new_engine_reader()
    reader.goto(widgets_page(stack, (aid, None)))
    vote_no_with_a_reason_then_withdraw(Widget(reader, aid))

    calls = to_server(stack)
    assert {(m, p.format(aid=aid)) for m, p in WANTED} <= {(m, p) for m, p, _ in calls}
    assert [(m, p, q) for m, p, q in calls if "site" in q] == []
    seen = events(reader, 4)
    assert [(e["type"], e["detail"]) for e in seen] == [
        ("shown", {"article_id": aid, "vote": None}),
        ("vote", {"article_id": aid, "vote": "up", "changed": False}),
        ("vote", {"article_id": aid, "vote": "down", "changed": True}),
        ("withdraw", {"article_id": aid, "vote": "down"}),
    ]
    assert_quiet(reader)
