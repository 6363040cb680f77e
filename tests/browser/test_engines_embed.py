"""The /embed iframe on a publisher of another site, in each engine and cookie setting.

What a reader keeps between visits inside a cross-site iframe is each engine's decision: a
partitioned (CHIPS) cookie, a ``SameSite=Lax`` one (never sent cross-site), localStorage
(partitioned, blocked or ephemeral). Each case below records what the engine did with the
widget's own voter cookie and storage, and asserts it against ``EXPECTED``, the table in
docs/widget.md ("Engines"): an engine release that changes its mind fails here first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.engines import COOKIE_MODES, Engine, Reader
from tests.browser.harness import Stack, article_id
from tests.browser.pages import embed_url, iframe_page
from tests.browser.test_engines import EMPTY, assert_quiet
from tests.browser.widgetview import ANSWER_ARRIVED, Widget, wait_until

PARTITIONED = "feedbackwidget_voter_p"

#: Per (engine, cookie mode): the cookies the embed page's reload carried, whether the
#: widget's token was in the frame's localStorage, whether the reader was recognised after a
#: reload, and whether the widget's own site, opened top-level, knew the reader (it must not:
#: a partitioned cookie belongs to the publisher's site).
EXPECTED: dict[tuple[str, str], dict[str, Any]] = {
    # A fresh Chromium 156 profile blocks third-party cookies, and with them the frame's
    # localStorage (SecurityError); the partitioned cookie is kept in every setting.
    ("chromium", "default"): {"sent": [PARTITIONED], "storage": "blocked", "recognised": True, "first_party": False},
    ("chromium", "blocked"): {"sent": [PARTITIONED], "storage": "blocked", "recognised": True, "first_party": False},
    ("chromium", "allowed"): {"sent": [PARTITIONED], "storage": "token", "recognised": True, "first_party": False},
    # Firefox's Total Cookie Protection keeps both, per top-level site; "block all third-party
    # cookies" refuses the partitioned cookie and localStorage as well: a reader is then known
    # only while the page stays open.
    ("firefox", "default"): {"sent": [PARTITIONED], "storage": "token", "recognised": True, "first_party": False},
    ("firefox", "blocked"): {"sent": [], "storage": "blocked", "recognised": False, "first_party": False},
    ("firefox", "allowed"): {"sent": [PARTITIONED], "storage": "token", "recognised": True, "first_party": False},
    # WebKitGTK's cookie jar takes no Secure cookie from http://127.0.0.1 (not even first-party),
    # so the partitioned one (Secure, as CHIPS requires) never lands in this harness; the
    # frame's localStorage (partitioned per top-level site) recognises the reader.
    ("webkit", "default"): {"sent": [], "storage": "token", "recognised": True, "first_party": False},
    ("webkit", "blocked"): {"sent": [], "storage": "token", "recognised": True, "first_party": False},
    ("webkit", "allowed"): {"sent": [], "storage": "token", "recognised": True, "first_party": False},
}

STORAGE = "(base) => { try { return localStorage.getItem('feedbackwidget:' + base) ? 'token' : 'empty'; }" \
          " catch (e) { return 'blocked'; } }"


def _vote_in_frame(stack: Stack, reader: Reader, aid: str) -> Widget:
    reader.goto(iframe_page(stack, aid))
    frame = Widget(reader, None, frame=stack.widget_url)
    state = frame.wait_tally(EMPTY)
    assert state["buttons"] == {"Yes": "false", "No": "false"}, "one set of buttons"
    frame.click("Yes")
    state = frame.wait_tally("Yes: 1 · No: 0")
    assert state["buttons"]["Yes"] == "true"
    assert state["status"].startswith("Thank you for your vote!")
    frame.click("No")  # a change of mind moves the vote
    frame.wait_tally("Yes: 0 · No: 1")
    assert stack.tally(aid) == (0, 1)
    return frame


@pytest.mark.parametrize("cookies", COOKIE_MODES)
def test_iframe_embed_across_sites(
    stack: Stack, engine: Engine, new_engine_reader: Callable[..., Reader], cookies: str
) -> None:
    aid = article_id()
    reader = new_engine_reader(cookies)
    frame = _vote_in_frame(stack, reader, aid)
    storage = reader.evaluate(STORAGE, stack.widget_url, frame=stack.widget_url)

    stack.recorder.cookies.clear()
    stack.recorder.answered.clear()
    reader.reload()
    if storage == "token":  # the script asks for the tally again: let that settle first
        # (test_engines_stale.py: a late answer could otherwise undo the withdrawal below)
        wait_until(lambda: ("POST", "/api/v1/sentiment") in stack.recorder.answered, "the tally answer")
        assert reader.evaluate(ANSWER_ARRIVED, "/api/v1/sentiment", 10_000, frame=stack.widget_url)
    state = frame.wait_tally("Yes: 0 · No: 1")
    sent = sorted({n for method, path, names in stack.recorder.cookies if path.startswith("/embed/") for n in names})
    recognised = state["buttons"]["No"] == "true"
    if recognised:  # and then the reader can take the vote back
        frame.click("Withdraw vote")
        frame.wait_tally(EMPTY)
        assert stack.tally(aid) == (0, 0)

    reader.goto(embed_url(stack, aid))  # the widget's own site, top-level
    own = Widget(reader, None).wait(lambda s: bool(s["tally"]), "the embed page, top-level")
    first_party = own["buttons"].get("No") == "true" or own["buttons"].get("Yes") == "true"

    facts = {"sent": sent, "storage": storage, "recognised": recognised, "first_party": first_party}
    assert facts == EXPECTED.get((engine.name, cookies)), f"{engine.name} with cookies {cookies}: {facts}"


@pytest.mark.parametrize("cookies", COOKIE_MODES)
def test_iframe_embed_console_is_quiet(
    stack: Stack, engine: Engine, new_engine_reader: Callable[..., Reader], request: pytest.FixtureRequest,
    cookies: str,
) -> None:
    # Firefox logged 'Cookie "feedbackwidget_voter" has been rejected because it is in a
    # cross-site context' on every vote until the frame told the server (X-Feedback-Frame).
    reader = new_engine_reader(cookies)
    _vote_in_frame(stack, reader, article_id())
    assert_quiet(reader)
