"""The HTTP API against the contract: vote semantics and the error table row by row."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from feedbackwidget import FeedbackWidget, Settings
from feedbackwidget.fakecaptcha import FakeHCaptcha
from feedbackwidget.store import open_store

from ..helpers import EXPORT_TOKEN, vote_body

VOTES = "/api/v1/votes"


def article(client: TestClient, aid: str, **headers: str) -> dict:
    r = client.get(f"/api/v1/articles/{quote(aid, safe='')}", headers=headers)
    assert r.status_code == 200
    return r.json()


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"] == code
    assert isinstance(body["detail"], str) and body["detail"]
    return body


# -- vote semantics ----------------------------------------------------------------


def test_first_vote_counts_and_returns_sentiment_and_voter(client: TestClient) -> None:
    r = client.post(VOTES, json=vote_body("a1", "up"))
    assert r.status_code == 200
    body = r.json()
    assert body["article_id"] == "a1" and body["vote"] == "up" and body["changed"] is True
    assert isinstance(body["voter"], str) and len(body["voter"]) > 20
    s = body["sentiment"]
    assert (s["up"], s["down"], s["total"], s["share_up"], s["your_vote"]) == (1, 0, 1, 1.0, "up")
    assert 0 < s["wilson_lower"] < 1
    assert "feedbackwidget_voter=" in r.headers["set-cookie"]
    assert "httponly" in r.headers["set-cookie"].lower()


def test_repeat_is_noop_and_change_moves_the_vote(client: TestClient) -> None:
    client.post(VOTES, json=vote_body("a2", "up"))
    again = client.post(VOTES, json=vote_body("a2", "up")).json()
    assert again["changed"] is False
    assert (again["sentiment"]["up"], again["sentiment"]["down"]) == (1, 0)
    moved = client.post(VOTES, json=vote_body("a2", "down")).json()
    assert moved["changed"] is True
    assert (moved["sentiment"]["up"], moved["sentiment"]["down"], moved["sentiment"]["total"]) == (0, 1, 1)
    assert article(client, "a2")["your_vote"] == "down"


def test_voter_header_identifies_without_cookie(widget: FeedbackWidget) -> None:
    with TestClient(widget) as first:
        token = first.post(VOTES, json=vote_body("a3", "up")).json()["voter"]
    with TestClient(widget) as other:  # a fresh cookie jar: cookies blocked
        assert article(other, "a3")["your_vote"] is None
        assert article(other, "a3", **{"X-Feedback-Voter": token})["your_vote"] == "up"
        r = other.post(VOTES, json=vote_body("a3", "down"), headers={"X-Feedback-Voter": token})
        assert r.json()["changed"] is True and r.json()["sentiment"]["total"] == 1


def test_tampered_or_foreign_token_identifies_nobody(client: TestClient, make_settings: Callable[..., Settings]) -> None:
    token = client.post(VOTES, json=vote_body("a4", "up")).json()["voter"]
    client.cookies.clear()
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert article(client, "a4", **{"X-Feedback-Voter": tampered})["your_vote"] is None
    foreign = FeedbackWidget(make_settings(secret_key="another-installation-key-000000"))
    with TestClient(foreign) as other:
        other_token = other.post(VOTES, json=vote_body("a4", "down")).json()["voter"]
    assert article(client, "a4", **{"X-Feedback-Voter": other_token})["your_vote"] is None
    # a foreign token is not an identity: voting with it creates a new reader
    r = client.post(VOTES, json=vote_body("a4", "down"), headers={"X-Feedback-Voter": other_token})
    assert r.json()["changed"] is True and r.json()["voter"] != other_token
    assert r.json()["sentiment"]["total"] == 3


def test_fallback_key_still_identifies_and_reissues(make_settings: Callable[..., Settings]) -> None:
    old = FeedbackWidget(make_settings(secret_key="old-key-old-key-old-key-0000"))
    with TestClient(old) as c:
        token = c.post(VOTES, json=vote_body("a5", "up")).json()["voter"]
    rotated = FeedbackWidget(make_settings(secret_key="new-key-new-key-0000", secret_key_fallbacks="old-key-old-key-old-key-0000"))
    with TestClient(rotated) as c:
        body = article(c, "a5", **{"X-Feedback-Voter": token})
        assert body["your_vote"] == "up"
        fresh = body["voter"]
        assert fresh != token
        assert "voter" not in article(c, "a5", **{"X-Feedback-Voter": fresh})


def test_withdraw_and_erase(client: TestClient) -> None:
    client.post(VOTES, json=vote_body("w/1", "up"))
    client.post(VOTES, json=vote_body("w/2", "down"))
    r = client.delete(f"{VOTES}/{quote('w/1', safe='')}")
    assert r.status_code == 200 and r.json()["sentiment"]["total"] == 0
    assert_error(client.delete(f"{VOTES}/{quote('w/1', safe='')}"), 404, "not_found")
    r = client.delete("/api/v1/voters/me")
    assert r.status_code == 200 and r.json()["erased"] == 1
    assert article(client, "w/2")["total"] == 0


def test_withdraw_needs_a_voter_token(client: TestClient) -> None:
    assert_error(client.delete(f"{VOTES}/x"), 401, "unauthorized")
    assert_error(client.delete("/api/v1/voters/me"), 401, "unauthorized")


def test_unsigned_title_fills_once_signed_title_replaces(client: TestClient, widget: FeedbackWidget) -> None:
    client.post(VOTES, json=vote_body("t1", "up", title="First"))
    client.cookies.clear()
    client.post(VOTES, json=vote_body("t1", "up", title="Second"))
    auth = {"Authorization": f"Bearer {EXPORT_TOKEN}"}
    titles = {a["article_id"]: a["title"] for a in client.get("/api/v1/articles", headers=auth).json()["articles"]}
    assert titles["t1"] == "First"
    markup = str(widget.embed("t1", title="Signed title"))
    signed = markup.split('data-feedback-signed="')[1].split('"')[0]
    client.cookies.clear()
    client.post(VOTES, json=vote_body("t1", "down", title="ignored", signed=signed))
    titles = {a["article_id"]: a["title"] for a in client.get("/api/v1/articles", headers=auth).json()["articles"]}
    assert titles["t1"] == "Signed title"
    # a signature for another article is not trusted
    client.cookies.clear()
    other = str(widget.embed("t2", title="Hijack")).split('data-feedback-signed="')[1].split('"')[0]
    client.post(VOTES, json=vote_body("t1", "up", signed=other))
    titles = {a["article_id"]: a["title"] for a in client.get("/api/v1/articles", headers=auth).json()["articles"]}
    assert titles["t1"] == "Signed title"


def test_anonymous_tally_is_cacheable_and_own_answer_private(client: TestClient) -> None:
    r = client.get("/api/v1/articles/c1")
    assert r.json() == {
        **r.json(),
        "article_id": "c1", "up": 0, "down": 0, "total": 0, "share_up": None, "wilson_lower": 0.0, "your_vote": None,
    }
    assert r.headers["cache-control"].startswith("public")
    assert r.headers["access-control-allow-origin"] == "*"
    client.post(VOTES, json=vote_body("c1", "up"))
    r = client.get("/api/v1/articles/c1")
    assert "no-store" in r.headers["cache-control"] and "public" not in r.headers["cache-control"]


# -- the mount prefix ----------------------------------------------------------------


def test_mounted_under_prefix_with_host_lifespan(settings: Settings) -> None:
    widget = FeedbackWidget(settings)
    host = Starlette(routes=[Mount("/feedback", app=widget)], lifespan=widget.lifespan)
    with TestClient(host) as c:
        assert c.get("/feedback/healthz").json() == {"status": "ok"}
        r = c.post("/feedback/api/v1/votes", json=vote_body("m1"))
        assert r.status_code == 200
        assert "Path=/feedback;" in r.headers["set-cookie"]
        page = c.get("/feedback/embed/m1").text
        assert 'action="/feedback/api/v1/votes"' in page
        assert "/feedback/embed.js" in page
        assert_error(c.get("/feedback/nothing-here"), 404, "not_found")


def test_works_without_lifespan_on_fresh_loops(settings: Settings) -> None:
    widget = FeedbackWidget(settings)
    client = TestClient(widget)  # no `with`: every request runs on a new event loop
    for _ in range(3):
        r = client.post(VOTES, json=vote_body("lazy", "up"))
        assert r.status_code == 200, r.text
        client.cookies.clear()
    assert client.get("/api/v1/articles/lazy").json()["total"] == 3


# -- the error table, row by row -------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        b'"text"',
        json.dumps({"article_id": "", "vote": "up", "captcha_token": "PASS-x"}).encode(),
        json.dumps({"article_id": "x" * 257, "vote": "up", "captcha_token": "PASS-x"}).encode(),
        json.dumps({"article_id": "a\u0000b", "vote": "up", "captcha_token": "PASS-x"}).encode(),
        json.dumps({"article_id": 5, "vote": "up", "captcha_token": "PASS-x"}).encode(),
        json.dumps({"article_id": "a", "vote": "sideways", "captcha_token": "PASS-x"}).encode(),
        json.dumps({"article_id": "a", "vote": "up", "captcha_token": "PASS-x", "title": "t" * 301}).encode(),
        json.dumps({"article_id": "a", "vote": "up", "captcha_token": "PASS-x", "version": "v" * 65}).encode(),
        b"\xff\xfe\xfd",
        b"[" * 8000 + b"]" * 8000,
        b'{"article_id": "\\ud800", "vote": "up", "captcha_token": "PASS-x"}',
    ],
)
def test_400_invalid_request(client: TestClient, fake: FakeHCaptcha, body: bytes) -> None:
    calls = fake.calls
    assert_error(client.post(VOTES, content=body, headers={"content-type": "application/json"}), 400, "invalid_request")
    assert fake.calls == calls  # refused before the captcha is spent


def test_400_captcha_required(client: TestClient) -> None:
    assert_error(client.post(VOTES, json={"article_id": "a", "vote": "up"}), 400, "captcha_required")
    assert_error(client.post(VOTES, json={"article_id": "a", "vote": "up", "captcha_token": ""}), 400, "captcha_required")


@pytest.mark.parametrize("prefix", ["FAIL", "EXPIRED", "ODD", "HOST=elsewhere.example"])
def test_403_captcha_failed(make_settings: Callable[..., Settings], prefix: str) -> None:
    widget = FeedbackWidget(make_settings(allowed_hostnames="localhost"))
    with TestClient(widget) as c:
        assert_error(c.post(VOTES, json=vote_body("cf", token=f"{prefix}-1")), 403, "captcha_failed")
        assert c.get("/api/v1/articles/cf").json()["total"] == 0


def test_403_captcha_reused(client: TestClient) -> None:
    assert client.post(VOTES, json=vote_body("reuse", token="PASS-reuse-1")).status_code == 200
    client.cookies.clear()
    assert_error(client.post(VOTES, json=vote_body("reuse", token="PASS-reuse-1")), 403, "captcha_failed")
    assert article(client, "reuse")["total"] == 1


@pytest.mark.parametrize(
    ("wrong", "cause", "variable"),
    [
        ({"hcaptcha_secret": "not-the-secret"}, "invalid-input-secret", "HCAPTCHA_SECRET"),
        ({"hcaptcha_sitekey": "not-the-sitekey"}, "sitekey-secret-mismatch", "HCAPTCHA_SITEKEY"),
    ],
)
def test_our_wrong_captcha_configuration_is_ours_not_the_readers(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture, wrong: dict[str, str], cause: str,
    variable: str,
) -> None:
    """A publisher's mistake: 503 for the reader (not "the anti-spam check failed"), one loud
    log line a minute naming the setting, /healthz degraded naming the cause, no refusal counted."""
    widget = FeedbackWidget(make_settings(**wrong))
    with TestClient(widget) as c, caplog.at_level("ERROR", logger="feedbackwidget"):
        assert c.get("/healthz").json() == {"status": "ok"}
        for _ in range(3):
            assert_error(c.post(VOTES, json=vote_body("wk")), 503, "captcha_unavailable")
        health = c.get("/healthz")
        assert health.status_code == 200
        assert health.json()["status"] == "degraded" and cause in health.json()["detail"]
        assert variable in health.json()["detail"]
        assert c.get("/api/v1/articles/wk").json()["total"] == 0
        assert_error(c.post(VOTES, json=vote_body("wk", token="FAIL-1")), 503, "captcha_unavailable")
    # The lifespan has ended, so every refusal counted in memory has been written.
    assert asyncio.run(_refusal_rows(widget.settings.database_url)) == [], "counted as abuse"
    lines = [r.getMessage() for r in caplog.records if cause in r.getMessage()]
    assert len(lines) == 1 and variable in lines[0]
    assert "not-the-secret" not in caplog.text


async def _refusal_rows(url: str) -> list[Any]:
    store = open_store(url)
    await store.open()
    try:
        return await store.refusals(None, None, None)
    finally:
        await store.close()


def test_healthz_degraded_without_captcha_keys(make_settings: Callable[..., Settings]) -> None:
    with TestClient(FeedbackWidget(make_settings(hcaptcha_secret=None))) as c:
        health = c.get("/healthz").json()
        assert health["status"] == "degraded" and "HCAPTCHA_SECRET" in health["detail"]


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://testserver.evil"])
def test_403_forbidden_origin_whatever_the_content_type(client: TestClient, fake: FakeHCaptcha, origin: str) -> None:
    calls = fake.calls
    for kwargs in ({"json": vote_body("o1")}, {"data": {"article_id": "o1", "vote": "up"}}, {"content": b"x"}):
        r = client.post(VOTES, headers={"Origin": origin}, **kwargs)
        assert_error(r, 403, "forbidden_origin")
        assert "access-control-allow-origin" not in r.headers
    assert fake.calls == calls
    assert article(client, "o1")["total"] == 0


def test_allowed_and_own_origins(make_settings: Callable[..., Settings]) -> None:
    widget = FeedbackWidget(make_settings(allowed_origins="https://news.example"))
    with TestClient(widget) as c:
        r = c.post(VOTES, json=vote_body("o2"), headers={"Origin": "https://news.example"})
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "https://news.example"
        assert r.headers["access-control-allow-credentials"] == "true"
        assert c.post(VOTES, json=vote_body("o2"), headers={"Origin": "http://testserver"}).status_code == 200
        assert c.post(VOTES, json=vote_body("o2")).status_code == 200  # no Origin: not a browser
        pre = c.options(VOTES, headers={"Origin": "https://news.example", "Access-Control-Request-Method": "POST"})
        assert pre.status_code == 204 and "x-feedback-voter" in pre.headers["access-control-allow-headers"].lower()
        assert pre.content == b"" and "content-length" not in pre.headers  # a 204 has no body
        assert_error(c.options(VOTES, headers={"Origin": "https://other.example"}), 403, "forbidden_origin")


def test_star_lets_anyone_vote_but_never_grants_credentials(make_settings: Callable[..., Settings]) -> None:
    with TestClient(FeedbackWidget(make_settings(allowed_origins="*"))) as c:
        r = c.post(VOTES, json=vote_body("o3"), headers={"Origin": "https://anyone.example"})
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in r.headers
        assert_error(c.post(VOTES, json=vote_body("o3"), headers={"Origin": "null"}), 403, "forbidden_origin")


def test_401_unauthorized(client: TestClient, make_settings: Callable[..., Settings]) -> None:
    for path in ("/api/v1/export", "/api/v1/articles"):
        assert_error(client.get(path), 401, "unauthorized")
        assert_error(client.get(path, headers={"Authorization": "Bearer wrong"}), 401, "unauthorized")
        assert_error(client.get(path, headers={"Authorization": f"Basic {EXPORT_TOKEN}"}), 401, "unauthorized")
        assert client.get(path, headers={"Authorization": f"Bearer {EXPORT_TOKEN}"}).status_code == 200
    with TestClient(FeedbackWidget(make_settings(export_token=None))) as c:
        assert_error(c.get("/api/v1/export", headers={"Authorization": "Bearer "}), 401, "unauthorized")


@pytest.mark.parametrize("query", [
    "tz=Etc/GMT%2B12&since=0001-01-01&until=0001-01-03",
    "tz=Europe/Paris&until=9999-12-31",
    "tz=Europe/Paris&since=9999-12-29&until=9999-12-31",
    "tz=Pacific/Kiritimati&since=0001-01-01",
    "since=0001-01-01&until=9999-12-31",
])
def test_daily_export_at_the_calendars_ends(client: TestClient, query: str) -> None:
    """Dates at the calendar's ends, in zones far from UTC: an export (here of one vote), never a 500."""
    assert client.post(VOTES, json=vote_body("edge")).status_code == 200
    r = client.get(f"/api/v1/export?kind=daily&format=csv&{query}", headers={"Authorization": f"Bearer {EXPORT_TOKEN}"})
    assert r.status_code == 200, r.text
    lines = r.text.splitlines()
    assert lines[0] == "day,article_id,up,down"
    assert [line.split(",")[1:] for line in lines[1:]] == ([["edge", "1", "0"]] if "9999-12-29" not in query
                                                            and "0001-01-03" not in query else [])


@pytest.mark.parametrize("kind", ["votes", "events", "articles", "daily", "reasons"])
def test_every_export_at_the_calendars_ends(client: TestClient, kind: str) -> None:
    """Times beyond the years any vote can have (0001, 9999, in zones far from UTC either side)
    select what their bounds do: never a 500, and the open-ended one exports the vote."""
    assert client.post(VOTES, json=vote_body("edge")).status_code == 200
    auth = {"Authorization": f"Bearer {EXPORT_TOKEN}"}
    ends = ["0001-01-01", "0001-01-02T00:00:00", "9999-12-30", "9999-12-31T23:59:59"]
    for tz in ["", "Etc/GMT+12", "Etc/GMT-14"] if kind == "daily" else [""]:
        for since in ["", *ends]:
            for until in ["", *ends]:
                query = {"kind": kind, "format": "ndjson", "since": since, "until": until, "tz": tz}
                r = client.get("/api/v1/export", params={k: v for k, v in query.items() if v}, headers=auth)
                assert r.status_code == 200, (query, r.text)
    wide = client.get("/api/v1/export", params={"kind": kind, "format": "ndjson", "since": "0001-01-01",
                                                "until": "9999-12-31T23:59:59"}, headers=auth)
    assert wide.text == client.get("/api/v1/export", params={"kind": kind, "format": "ndjson"}, headers=auth).text


def test_404_and_405(client: TestClient) -> None:
    assert_error(client.get("/api/v1/nothing"), 404, "not_found")
    assert_error(client.get(VOTES), 405, "method_not_allowed")
    assert_error(client.put("/api/v1/articles/x"), 405, "method_not_allowed")


def test_413_payload_too_large_declared_and_chunked(client: TestClient) -> None:
    big = json.dumps(vote_body("big", title="x" * 100_000)).encode()
    assert_error(client.post(VOTES, content=big, headers={"content-type": "application/json"}), 413, "payload_too_large")

    def chunks():
        for _ in range(40):
            yield b"x" * 1024

    r = client.post(VOTES, content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in r.request.headers
    assert_error(r, 413, "payload_too_large")


@pytest.mark.parametrize("ctype", ["text/plain", "multipart/form-data; boundary=x", "application/xml", ""])
def test_415_unsupported_media_type(client: TestClient, ctype: str) -> None:
    r = client.post(VOTES, content=b"article_id=a&vote=up", headers={"content-type": ctype} if ctype else {})
    assert_error(r, 415, "unsupported_media_type")


def test_429_rate_limited_with_retry_after(make_settings: Callable[..., Settings], fake: FakeHCaptcha) -> None:
    with TestClient(FeedbackWidget(make_settings(rate_limit="3/minute"))) as c:
        for _ in range(3):
            assert c.post(VOTES, json=vote_body("rl")).status_code == 200
        calls = fake.calls
        r = c.post(VOTES, json=vote_body("rl"))
        body = assert_error(r, 429, "rate_limited")
        assert 1 <= int(r.headers["retry-after"]) <= 60, body
        assert fake.calls == calls  # the captcha is not spent on a refused attempt


@pytest.mark.parametrize("prefix", ["SLOW", "E500", "GARBAGE", "NOSUCCESS"])
def test_503_captcha_unavailable_stores_nothing(
    make_settings: Callable[..., Settings], fake: FakeHCaptcha, prefix: str
) -> None:
    with TestClient(FeedbackWidget(make_settings(hcaptcha_timeout=0.3))) as c:
        assert_error(c.post(VOTES, json=vote_body("cu", token=f"{prefix}-1")), 503, "captcha_unavailable")
        assert c.get("/api/v1/articles/cu").json()["total"] == 0


def test_503_captcha_unreachable(make_settings: Callable[..., Settings]) -> None:
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    with TestClient(FeedbackWidget(make_settings(hcaptcha_verify_url=f"http://127.0.0.1:{port}/siteverify"))) as c:
        assert_error(c.post(VOTES, json=vote_body("cu2")), 503, "captcha_unavailable")


def test_503_captcha_not_configured(make_settings: Callable[..., Settings]) -> None:
    with TestClient(FeedbackWidget(make_settings(hcaptcha_secret=None))) as c:
        assert_error(c.post(VOTES, json=vote_body("cu3")), 503, "captcha_unavailable")


def test_siteverify_receives_the_protocol_fields(client: TestClient, fake: FakeHCaptcha) -> None:
    client.post(VOTES, json=vote_body("proto", token="PASS-proto-1"))
    form = fake.last_form
    assert form["response"] == "PASS-proto-1"
    assert form["sitekey"] == fake.sitekey
    assert "remoteip" in form


# -- the embed form ---------------------------------------------------------------------


def test_form_vote_redirects_back_and_refusal_is_shown_on_the_page(client: TestClient) -> None:
    form = {"article_id": "f/1", "vote": "up", "h-captcha-response": "PASS-form-1"}
    r = client.post(VOTES, data=form, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/embed/f%2F1"
    page = client.get(r.headers["location"]).text
    assert 'aria-pressed="true"' in page
    r = client.post(VOTES, data={**form, "h-captcha-response": "FAIL-1"}, follow_redirects=False)
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("text/html")
    assert "captcha" in r.text.lower()


@pytest.mark.parametrize(
    ("wanted", "allowed"),
    [
        ("https://news.example/story?x=1", True),
        ("/embed/elsewhere", True),
        ("https://evil.example/", False),
        ("//evil.example/", False),
        ("/\\evil.example", False),
        ("javascript:alert(1)", False),
    ],
)
def test_return_to_is_never_an_open_redirect(make_settings: Callable[..., Settings], wanted: str, allowed: bool) -> None:
    with TestClient(FeedbackWidget(make_settings(allowed_origins="https://news.example"))) as c:
        form = {"article_id": "r1", "vote": "up", "h-captcha-response": "PASS-r", "return_to": wanted}
        form["h-captcha-response"] += wanted.encode().hex()
        r = c.post(VOTES, data=form, follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"] == (wanted if allowed else "/embed/r1")


def test_healthz(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_an_answer_in_several_packets_is_read_whole(client: TestClient) -> None:
    r = client.post(VOTES, json=vote_body("split", token="SPLIT-1"))
    assert r.status_code == 200, r.text


def test_a_bad_header_does_not_hide_a_good_cookie(client: TestClient) -> None:
    first = client.post(VOTES, json=vote_body("h1", "up")).json()
    again = client.post(VOTES, json=vote_body("h1", "up"), headers={"X-Feedback-Voter": "stale-or-foreign"})
    assert again.json()["changed"] is False and again.json()["sentiment"]["total"] == 1
    assert again.json()["voter"] == first["voter"]
    assert article(client, "h1", **{"X-Feedback-Voter": "garbage"})["your_vote"] == "up"


def test_refused_form_vote_keeps_retry_after(make_settings: Callable[..., Settings]) -> None:
    with TestClient(FeedbackWidget(make_settings(rate_limit="1/minute"))) as c:
        form = {"article_id": "fr", "vote": "up", "h-captcha-response": "PASS-fr-1"}
        assert c.post(VOTES, data=form, follow_redirects=False).status_code == 303
        r = c.post(VOTES, data={**form, "h-captcha-response": "PASS-fr-2"}, follow_redirects=False)
        assert r.status_code == 429 and r.headers["content-type"].startswith("text/html")
        assert int(r.headers["retry-after"]) >= 1


@pytest.mark.parametrize("value", ["²", "1" * 5000, "-1", "1.5", "١٢"])
def test_listing_numbers_must_be_plain_digits(client: TestClient, value: str) -> None:
    auth = {"Authorization": f"Bearer {EXPORT_TOKEN}"}
    for name in ("limit", "offset"):
        assert_error(client.get(f"/api/v1/articles?{name}={quote(value)}", headers=auth), 400, "invalid_request")


def test_allowed_origin_with_a_default_port_matches_what_browsers_send(make_settings: Callable[..., Settings]) -> None:
    widget = FeedbackWidget(make_settings(allowed_origins="https://news.example:443, http://other.example:80"))
    assert widget.settings.allowed_origins == ("https://news.example", "http://other.example")
    with TestClient(widget) as c:
        assert c.post(VOTES, json=vote_body("dp"), headers={"Origin": "https://news.example"}).status_code == 200


def test_no_cors_headers_for_a_forbidden_origin(client: TestClient) -> None:
    token = client.post(VOTES, json=vote_body("nc")).json()["voter"]
    r = client.get("/api/v1/articles/nc", headers={"Origin": "https://evil.example", "X-Feedback-Voter": token})
    assert "access-control-allow-origin" not in r.headers


def test_cookie_is_secure_behind_an_https_public_url(make_settings: Callable[..., Settings]) -> None:
    with TestClient(FeedbackWidget(make_settings(public_url="https://feedback.example"))) as c:
        assert "secure" in c.post(VOTES, json=vote_body("sc")).headers["set-cookie"].lower()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/articles/a%0Ab"),
        ("GET", "/embed/a%0Ab"),
        ("DELETE", "/api/v1/votes/a%0Ab"),
        ("GET", "/admin/articles/a%0Ab"),
        ("GET", "/api/v1/articles/%0A"),
        ("GET", "/api/v1/articles/%0Ax"),
    ],
)
def test_a_line_end_in_an_article_path_is_a_bad_article_id_not_an_unknown_route(
    client: TestClient, method: str, path: str
) -> None:
    """Found by schemathesis: the router's path pattern stopped at a line end, so these were 404."""
    voter = client.post("/api/v1/votes", json=vote_body("line-end", "up")).json()["voter"]
    headers = {"X-Feedback-Voter": voter, "Authorization": f"Bearer {EXPORT_TOKEN}"}
    r = client.request(method, path, headers=headers)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")
