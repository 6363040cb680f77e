"""One rule, one home: every entry point applies the same validator and the same limiter.

An article id (or title, version, language) accepted at one entry point — the vote API,
the tally, the embed page, ``widget.embed()``, withdrawal, reasons, the dashboard — means
the same at all the others, and one refused at one is refused at all. Dashboard sign-in is
rate limited like votes: one key per address group (IPv6 by /64), through the same limiter.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from feedbackwidget import FeedbackWidget, Settings

from .helpers import EXPORT_TOKEN, vote_body

GOOD = ["a", "news/1", "ünï ✓", "x" * 256, "a b", "🙂", "?a=1&b=2#c"]
BAD_ANYWHERE = ["", "x" * 257, "a\x01b", "a\x7fb", "a\x9fb", "a\nb", "a\ud800b", "\udfff"]
#: Lone surrogates cannot be written in a URL's UTF-8: only bodies and Python calls can carry them.
BAD_IN_PATHS = [b for b in BAD_ANYWHERE if not any("\ud800" <= ch <= "\udfff" for ch in b)]


@pytest.fixture
def signed_in(make_settings: Callable[..., Settings]) -> Iterator[tuple[TestClient, FeedbackWidget]]:
    widget = FeedbackWidget(make_settings(reasons="unclear"))
    with TestClient(widget) as client:
        assert client.post("/admin/login", data={"token": EXPORT_TOKEN}, follow_redirects=False).status_code == 303
        yield client, widget


def status(client: TestClient, method: str, path: str, **kwargs: object) -> int:
    return int(client.request(method, path, **kwargs).status_code)  # type: ignore[arg-type]


@pytest.mark.parametrize("article", GOOD + BAD_ANYWHERE)
def test_bodies_and_python_agree_on_article_ids(signed_in: tuple[TestClient, FeedbackWidget], article: str) -> None:
    client, widget = signed_in
    good = article in GOOD
    vote = post_json(client, "/api/v1/votes", vote_body(article))
    assert vote.status_code == (200 if good else 400), vote.text
    voter = {"X-Feedback-Voter": vote.json()["voter"]} if good else {}
    reason = post_json(client, "/api/v1/reasons", {"article_id": article, "reason": "unclear"}, voter)
    own = post_json(client, "/api/v1/sentiment", {"article_id": article}, {"Content-Type": "text/plain"})
    assert (reason.status_code, own.status_code) == ((404, 200) if good else (401, 400))
    if good:
        assert widget.embed(article)
    else:
        with pytest.raises(ValueError):
            widget.embed(article)


@pytest.mark.parametrize("article", GOOD + BAD_IN_PATHS)
def test_paths_agree_on_article_ids(signed_in: tuple[TestClient, FeedbackWidget], article: str) -> None:
    client, _ = signed_in
    good = article in GOOD
    encoded = quote(article, safe="")
    voter = {"X-Feedback-Voter": client.post("/api/v1/votes", json=vote_body("other")).json()["voter"]}
    expected = {
        ("GET", f"/api/v1/articles/{encoded}"): 200,
        ("GET", f"/embed/{encoded}"): 200,
        ("DELETE", f"/api/v1/votes/{encoded}"): 404,  # recognised reader, no vote on it
        ("GET", f"/admin/articles/{encoded}"): 404,  # no vote ever
    }
    for (method, path), when_good in expected.items():
        got = status(client, method, path, headers={**voter, "Accept": "text/html"})
        # a line end too is a bad article id (400), not an unknown route (web/routes.py)
        assert got == (when_good if good else 400), (method, path, got)


@pytest.mark.parametrize(
    ("field", "value"), [("title", "t" * 301), ("version", "v" * 65), ("title", "a\x00b"), ("version", "\ud800")]
)
def test_embed_refuses_what_a_vote_refuses(signed_in: tuple[TestClient, FeedbackWidget], field: str, value: str) -> None:
    client, widget = signed_in
    assert post_json(client, "/api/v1/votes", vote_body("e", **{field: value})).status_code == 400
    with pytest.raises(ValueError):
        widget.embed("e", **{field: value})  # type: ignore[arg-type]


def post_json(client: TestClient, path: str, body: dict[str, str], headers: dict[str, str] | None = None) -> Any:
    """POST JSON written with escapes (a lone surrogate is a valid JSON escape, not valid UTF-8)."""
    return client.post(path, content=json.dumps(body), headers={"Content-Type": "application/json", **(headers or {})})


def test_sign_in_is_limited_per_ipv6_64_like_votes(make_settings: Callable[..., Settings]) -> None:
    """Two addresses in one /64 share one sign-in limit (they share one vote limit too)."""
    widget = FeedbackWidget(make_settings())
    guesses = [TestClient(widget, client=(f"2001:db8:1:2::{n:x}", 5000)) for n in range(1, 12)]
    with guesses[0]:
        statuses = [c.post("/admin/login", data={"token": "guess"}).status_code for c in guesses]
    assert statuses[:10] == [401] * 10 and statuses[10] == 429


def test_sign_in_limit_lives_in_redis_when_configured(make_settings: Callable[..., Settings], db_url: str) -> None:
    """REDIS_URL applies to sign-in as to votes: the state is in Redis, not in the store."""
    redis = pytest.importorskip("redis")
    url = "redis://127.0.0.1:6379/9"
    try:
        redis.Redis.from_url(url).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    address = (f"2001:db8:{secrets.randbelow(65535):x}::1", 5000)
    with TestClient(FeedbackWidget(make_settings(redis_url=url)), client=address) as client:
        statuses = [client.post("/admin/login", data={"token": "guess"}).status_code for _ in range(11)]
    assert statuses[:10] == [401] * 10 and statuses[10] == 429
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as db:
        assert db.execute("SELECT count(*) FROM rate_limits").fetchone() == (0,)


@pytest.mark.parametrize("article", BAD_ANYWHERE)
def test_the_dashboards_article_view_refuses_what_the_vote_api_refuses(
    signed_in: tuple[TestClient, FeedbackWidget], article: str
) -> None:
    """Paths cannot carry a lone surrogate, but the view is also reachable from Python."""
    import asyncio

    from feedbackwidget.errors import InvalidRequest
    from feedbackwidget.web.admin_views import article_context

    _, widget = signed_in
    with pytest.raises(InvalidRequest):
        asyncio.run(article_context(None, widget.settings, article, {}, ""))  # type: ignore[arg-type]
