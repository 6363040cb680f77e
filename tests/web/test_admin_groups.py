"""What an article is about, end to end over HTTP: signed by ``widget.embed()`` or read from
the article page (a real HTTP server on loopback), then grouped on the dashboard and
exported with filters; hostile names stay text."""

from __future__ import annotations

import csv
import io
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from feedbackwidget import FeedbackWidget, Settings

from ..helpers import EXPORT_TOKEN, NEWS, page, vote_body

BEARER = {"Authorization": f"Bearer {EXPORT_TOKEN}"}


class Pages:
    """Article pages served by a real HTTP server on 127.0.0.1 (its own thread)."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        self.hits: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.hits.append(self.path)
                body = owner.pages.get(self.path)
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                data = (body or "").encode()
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def pages() -> Iterator[Pages]:
    served = Pages()
    served.thread.start()
    yield served
    served.server.shutdown()
    served.server.server_close()


def vote_as_new_reader(client: TestClient, article: str, vote: str, **extra: Any) -> None:
    client.cookies.clear()
    answer = client.post("/api/v1/votes", json=vote_body(article, vote, **extra))
    assert answer.status_code == 200, answer.text


def export(client: TestClient, fmt: str = "ndjson", **params: str) -> str:
    answer = client.get("/api/v1/export", params={"format": fmt, "kind": "articles", **params}, headers=BEARER)
    assert answer.status_code == 200, answer.text
    return answer.text


def articles(client: TestClient, **params: str) -> dict[str, dict[str, Any]]:
    return {row["article_id"]: row for row in map(json.loads, export(client, **params).splitlines())}


def eventually(check: Callable[[], bool], seconds: float = 10.0) -> None:
    """Wait for a condition the background keeper makes true (polled; fails after ``seconds``)."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the condition did not become true"
        time.sleep(0.02)


def test_signed_metadata_grouped_filtered_and_exported(make_settings: Callable[..., Settings]) -> None:
    widget = FeedbackWidget(make_settings(min_votes=3))
    markup = widget.embed("s1", title="Budget", section="=Politics", authors=["Ann Lee", "Bo"], tags="budget",
                          published_at="2026-11-29T10:00:00+01:00")
    signed = re.search(r'data-feedback-signed="([^"]+)"', str(markup))
    assert signed is not None
    with TestClient(widget) as client:
        for vote in ("down", "down", "down", "down", "down"):
            vote_as_new_reader(client, "s1", vote, signed=signed.group(1))
        vote_as_new_reader(client, "plain", "up", section="ignored")  # unsigned, no page: nothing
        eventually(lambda: articles(client)["s1"]["section"] == "=Politics")
        row = articles(client)["s1"]
        assert (row["authors"], row["tags"], row["published_at"]) == (
            ["Ann Lee", "Bo"], ["budget"], "2026-11-29T09:00:00Z")
        assert articles(client)["plain"]["section"] is None
        # Filters, and the CSV cells: a formula-like section gets its ' prefix, lists are the NDJSON array.
        assert list(articles(client, author="Bo")) == ["s1"]
        assert list(articles(client, section="Sport")) == []
        table = list(csv.DictReader(io.StringIO(export(client, "csv", tag="budget"))))
        assert [(r["section"], r["authors"], r["tags"]) for r in table] == [
            ("'=Politics", '["Ann Lee","Bo"]', '["budget"]')]
        refused = client.get("/api/v1/export", params={"kind": "votes", "section": "x"}, headers=BEARER)
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_request"
        # The dashboard: per-section and per-author sentiment, and the article that needs attention.
        html = client.get("/admin/groups", params={"by": "author", "section": "=Politics"}, headers=BEARER).text
        assert "Ann Lee" in html and "Bo" in html and "Budget" in html
        assert client.get("/admin/groups?by=tag", headers={"Accept": "text/html"}).status_code == 401
        page = client.get("/admin/articles/s1", headers=BEARER).text  # the article's own page says it too
        assert "=Politics" in page and "Ann Lee" in page and "2026-11-29 09:00 UTC" in page


def test_page_metadata_read_in_the_background_and_escaped(make_settings: Callable[..., Settings],
                                                          pages: Pages) -> None:
    pages.pages["/story"] = page({**NEWS, "headline": '<script>alert(1)</script> Rates'}, article="story")
    settings = make_settings(allowed_origins=pages.origin, metadata_private_networks="127.0.0.1/32", min_votes=3)
    with TestClient(FeedbackWidget(settings)) as client:
        for _ in range(5):
            vote_as_new_reader(client, "story", "down", url=f"{pages.origin}/story#comments")
        eventually(lambda: articles(client)["story"]["section"] == "Economy")
        assert pages.hits == ["/story"]  # once per interval, however many votes
        row = articles(client)["story"]
        assert row["title"] == "<script>alert(1)</script> Rates"  # kept as text
        html = client.get("/admin/groups", headers=BEARER).text
        assert "Economy" in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt; Rates" in html and "<script>alert(1)" not in html


def test_pages_off_the_allowed_origins_or_on_loopback_are_not_read(make_settings: Callable[..., Settings],
                                                                   pages: Pages) -> None:
    pages.pages["/story"] = page(NEWS, article="story")
    # Loopback is this page server's address; without METADATA_PRIVATE_NETWORKS it must stay unread.
    settings = make_settings(allowed_origins=pages.origin)
    with TestClient(FeedbackWidget(settings)) as client:
        vote_as_new_reader(client, "story", "up", url=f"{pages.origin}/story")
        vote_as_new_reader(client, "other", "up", url="https://elsewhere.example/story")
        runtime = next(iter(client.app._runtimes.values())).primary  # type: ignore[attr-defined]
        client.portal.call(runtime.about.idle)  # type: ignore[union-attr]
        assert articles(client)["story"]["section"] is None
    assert pages.hits == []


def test_a_malformed_url_is_refused_before_anything_else(client: TestClient) -> None:
    answer = client.post("/api/v1/votes", json=vote_body("x", "up", url="javascript:alert(1)"))
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(url=st.one_of(st.text(max_size=80), st.integers(), st.none(), st.lists(st.text(max_size=5), max_size=2),
                     st.builds(lambda s: "https://news.example/" + s, st.text(max_size=40))),
       section=st.one_of(st.text(max_size=30), st.none()))
def test_any_url_or_filter_is_counted_or_refused_never_a_500(client: TestClient, url: Any, section: Any) -> None:
    answer = client.post("/api/v1/votes", json=vote_body("fuzz", "up", url=url))
    assert answer.status_code in (200, 400), answer.text
    if answer.status_code == 400:
        assert answer.json()["error"] == "invalid_request"
    params = {"kind": "articles", "format": "csv"} | ({"section": section} if section is not None else {})
    listing = client.get("/api/v1/export", params=params, headers=BEARER)
    assert listing.status_code in (200, 400), listing.text
    groups = client.get("/admin/groups", params={"by": "tag", "section": section or ""}, headers=BEARER)
    assert groups.status_code == 200
