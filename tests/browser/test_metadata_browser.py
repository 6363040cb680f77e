"""The widget tells the server which page a vote was cast on, and the server reads that
page's schema.org JSON-LD: Chromium on a publisher page (localhost), the widget on 127.0.0.1."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from playwright.sync_api import expect

from tests.browser.harness import Reader, Stack, article_id, widget_of
from tests.helpers import NEWS


def test_a_vote_makes_the_server_read_the_article_page(make_stack: Callable[..., Stack], reader: Reader) -> None:
    # The publisher runs on this machine's loopback: allowed explicitly, as a test must.
    stack = make_stack(metadata_private_networks="127.0.0.1/32, ::1/128")
    aid = article_id()
    block = json.dumps({**NEWS, "articleSection": "Transport"}).replace("</", "<\\/")
    page = reader.page()
    page.goto(stack.article(aid, head=f'<script type="application/ld+json">{block}</script>'))
    w = widget_of(page, aid)
    w.get_by_role("button", name="Yes", exact=True).click()
    expect(w.locator(".fw-t")).to_have_text("Yes: 1 · No: 0")
    deadline = time.monotonic() + 15
    while True:  # the page is read in the background: wait for the condition, bounded
        rows = {r["article_id"]: r for r in stack.export_rows("articles")}
        if rows[aid]["section"] == "Transport":
            break
        assert time.monotonic() < deadline, rows[aid]
        time.sleep(0.05)
    assert rows[aid]["authors"] == ["Ann Lee", "Desk"] and rows[aid]["title"] == "Rates rise"
