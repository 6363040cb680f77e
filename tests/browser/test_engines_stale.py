"""Answers that arrive late must not undo what the reader did meanwhile (every engine).

The /embed page is server-rendered with the reader's own vote, so its "Withdraw vote" works
before the script's tally request (POST /api/v1/sentiment) has been answered. The widget
server holds that answer back (``Recorder.hold``) while the reader withdraws, then lets it
go: it was computed before the withdrawal.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.browser.engines import Reader
from tests.browser.harness import Stack, article_id
from tests.browser.pages import embed_url
from tests.browser.test_engines import EMPTY
from tests.browser.widgetview import ANSWER_ARRIVED, Widget, wait_until

SENTIMENT = "/api/v1/sentiment"


def test_a_late_tally_answer_does_not_undo_a_withdrawal(
    stack: Stack, new_engine_reader: Callable[..., Reader]
) -> None:
    aid = article_id()
    reader = new_engine_reader()
    reader.goto(embed_url(stack, aid))
    w = Widget(reader, None)
    w.wait_tally(EMPTY)
    w.click("No")
    w.wait_tally("Yes: 0 · No: 1")

    release = stack.recorder.hold("POST", SENTIMENT)
    reader.reload()  # the page says "your vote: No"; the script asks again, and waits
    wait_until(lambda: ("POST", SENTIMENT, "") in stack.requests(), "the script's tally request")
    w.click("Withdraw vote")
    w.wait_tally(EMPTY)
    assert stack.tally(aid) == (0, 0)

    release.set()  # the answer computed before the withdrawal now arrives
    wait_until(lambda: ("POST", SENTIMENT) in stack.recorder.answered, "the held answer to leave")
    assert reader.evaluate(ANSWER_ARRIVED, SENTIMENT, 10_000), "the page never received it"
    state = w.state()
    assert state is not None
    assert (state["tally"], state["buttons"]["No"]) == (EMPTY, "false"), state
