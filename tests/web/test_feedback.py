"""Reasons after "No" and the counting of refused attempts, through the HTTP API."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.testclient import TestClient

from feedbackwidget import FeedbackWidget, Settings
from feedbackwidget.store import open_store

from ..helpers import EXPORT_TOKEN, vote_body

AUTH = {"Authorization": f"Bearer {EXPORT_TOKEN}"}


def test_reason_joins_a_no_vote_only(make_settings: Callable[..., Settings]) -> None:
    widget = FeedbackWidget(make_settings(reasons="inaccurate,unclear", reason_text=True))
    with TestClient(widget) as c:
        c.post("/api/v1/votes", json=vote_body("r1", "down"))
        r = c.post("/api/v1/reasons", json={"article_id": "r1", "reason": "unclear", "text": "=1+1 <b>why</b>"})
        assert r.status_code == 200 and r.json() == {"article_id": "r1", "reason": "unclear", "text": "=1+1 <b>why</b>"}
        assert c.post("/api/v1/reasons", json={"article_id": "r1", "reason": "boring"}).json()["error"] == "invalid_request"
        long = {"article_id": "r1", "reason": "unclear", "text": "x" * 501}
        assert c.post("/api/v1/reasons", json=long).status_code == 400
        csv = c.get("/api/v1/export?kind=reasons&format=csv", headers=AUTH).text
        assert "'=1+1 <b>why</b>" in csv and ",unclear," in csv
        # changing to "up" drops the reason; a reason for an "up" vote is refused
        c.post("/api/v1/votes", json=vote_body("r1", "up"))
        assert c.get("/api/v1/export?kind=reasons&format=ndjson", headers=AUTH).text == ""
        r = c.post("/api/v1/reasons", json={"article_id": "r1", "reason": "unclear"})
        assert r.status_code == 404 and r.json()["error"] == "not_found"
        c.cookies.clear()
        r = c.post("/api/v1/reasons", json={"article_id": "r1", "reason": "unclear"})
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"


def test_reasons_are_off_unless_configured(client: TestClient) -> None:
    client.post("/api/v1/votes", json=vote_body("r2", "down"))
    r = client.post("/api/v1/reasons", json={"article_id": "r2", "reason": "unclear"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


def test_free_text_only_when_allowed(make_settings: Callable[..., Settings]) -> None:
    with TestClient(FeedbackWidget(make_settings(reasons="unclear"))) as c:
        c.post("/api/v1/votes", json=vote_body("r3", "down"))
        assert c.post("/api/v1/reasons", json={"article_id": "r3", "reason": "unclear", "text": "hi"}).status_code == 400
        assert c.post("/api/v1/reasons", json={"article_id": "r3", "reason": "unclear"}).status_code == 200


def test_refused_attempts_are_counted_as_aggregates(make_settings: Callable[..., Settings], db_url: str) -> None:
    settings = make_settings(rate_limit="5/minute")
    with TestClient(FeedbackWidget(settings)) as c:
        assert c.post("/api/v1/votes", json=vote_body("attacked")).status_code == 200
        for i in range(3):
            c.post("/api/v1/votes", json=vote_body("attacked", token=f"FAIL-{i}"))
        c.post("/api/v1/votes", json=vote_body("no-such-article", token="FAIL-x"))
        c.post("/api/v1/votes", json={"article_id": "attacked", "vote": "up"})  # captcha_required
        for _ in range(3):  # five attempts reached the limiter already: these are refused
            c.post("/api/v1/votes", json=vote_body("attacked"))
        # refused before the body is read: the article is unknown
        c.post("/api/v1/votes", json=vote_body("attacked"), headers={"Origin": "https://evil.example"})
    # the runtime wrote what it had counted when it closed, as one aggregate per key

    async def read() -> list[tuple[str, str, int]]:
        store = open_store(db_url)
        await store.open()
        try:
            return [(r["article_id"], r["kind"], r["count"]) for r in await store.refusals(None, None, None)]
        finally:
            await store.close()

    assert sorted(asyncio.run(read())) == [
        ("", "captcha_failed", 1),
        ("", "forbidden_origin", 1),
        ("attacked", "captcha_failed", 3),
        ("attacked", "captcha_required", 1),
        ("attacked", "rate_limited", 3),
    ]
