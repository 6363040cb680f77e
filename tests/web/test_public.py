"""One public origin, scheme and prefix for everything the server emits.

``PUBLIC_URL=https://news.example/feedback`` behind a TLS-terminating proxy: every
URL, redirect and cookie the widget emits starts with ``/feedback`` whether the proxy
strips the prefix or passes it on, cookies are Secure, and the partitioned (CHIPS)
cookie is sent although the proxy speaks plain http to us.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator

import pytest
from starlette.testclient import TestClient

from feedbackwidget import FeedbackWidget, Settings

from ..helpers import EXPORT_TOKEN, vote_body

PUBLIC = "https://news.example/feedback"
HOST = {"Host": "news.example"}  # what nginx passes on; the app is reached over plain http


def cookies_of(response: object) -> dict[str, dict[str, str | bool]]:
    """Set-Cookie headers as {name: {attribute (lowercase): value, or True for a flag}}
    (http.cookies cannot read the Partitioned attribute before Python 3.14)."""
    jar: dict[str, dict[str, str | bool]] = {}
    for header in response.headers.get_list("set-cookie"):  # type: ignore[attr-defined]
        first, *attributes = (part.strip() for part in header.split(";"))
        name, _, value = first.partition("=")
        attrs: dict[str, str | bool] = {"value": value}
        for attribute in attributes:
            key, sep, val = attribute.partition("=")
            attrs[key.lower()] = val if sep else True
        jar[name] = attrs
    return jar


@pytest.fixture(params=["stripped", "passed on"])
def through_proxy(request: pytest.FixtureRequest, make_settings: Callable[..., Settings]) -> Iterator[
    tuple[TestClient, str]
]:
    """A client and the path prefix the proxy leaves on requests ('' when it strips it)."""
    widget = FeedbackWidget(make_settings(public_url=PUBLIC))
    with TestClient(widget, base_url="http://news.example") as client:
        yield client, "" if request.param == "stripped" else "/feedback"


def test_embed_page_links_under_the_prefix(through_proxy: tuple[TestClient, str]) -> None:
    client, sent = through_proxy
    page = client.get(f"{sent}/embed/a1", headers=HOST)
    assert page.status_code == 200
    urls = re.findall(r'(?:href|src|action)="(/[^"]*)"', page.text)
    assert urls, "the page links nothing"
    assert all(url.startswith("/feedback/") for url in urls), urls
    for asset in ("/widget.js", "/embed.css", "/widget.css"):
        assert client.get(sent + asset, headers=HOST).status_code == 200


def test_form_vote_redirects_and_cookies_under_the_prefix(through_proxy: tuple[TestClient, str]) -> None:
    client, sent = through_proxy
    form = {"article_id": "a1", "vote": "up", "h-captcha-response": f"PASS-{secrets.token_hex(6)}"}
    answer = client.post(f"{sent}/api/v1/votes", data=form, headers=HOST, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/feedback/embed/a1"
    jar = cookies_of(answer)
    assert jar["feedbackwidget_voter"]["path"] == "/feedback"
    assert jar["feedbackwidget_voter"]["secure"]
    partitioned = jar["feedbackwidget_voter_p"]
    assert partitioned["path"] == "/feedback" and partitioned["secure"] and partitioned["partitioned"]
    assert str(partitioned["samesite"]).lower() == "none"


def test_json_vote_sends_the_partitioned_cookie_behind_a_tls_proxy(through_proxy: tuple[TestClient, str]) -> None:
    """PUBLIC_URL says https and TRUSTED_PROXIES is unset: the browser still speaks https,
    so the CHIPS cookie a cross-site iframe needs must be there."""
    client, sent = through_proxy
    answer = client.post(f"{sent}/api/v1/votes", json=vote_body("a2"), headers=HOST)
    assert answer.status_code == 200
    jar = cookies_of(answer)
    assert jar["feedbackwidget_voter_p"]["partitioned"] and jar["feedbackwidget_voter_p"]["secure"]
    erased = client.delete(f"{sent}/api/v1/voters/me", headers={**HOST, "X-Feedback-Voter": answer.json()["voter"]})
    assert erased.status_code == 200
    assert {c["path"] for c in cookies_of(erased).values()} == {"/feedback"}


def test_dashboard_redirects_and_session_under_the_prefix(through_proxy: tuple[TestClient, str]) -> None:
    client, sent = through_proxy
    signed_in = client.post(f"{sent}/admin/login", data={"token": EXPORT_TOKEN}, headers=HOST, follow_redirects=False)
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/feedback/admin"
    session = cookies_of(signed_in)["feedbackwidget_admin"]
    assert session["path"] == "/feedback" and session["secure"]
    cookie = f"feedbackwidget_admin={session['value']}"  # the jar keeps Secure cookies from plain http
    page = client.get(f"{sent}/admin", headers={**HOST, "Accept": "text/html", "Cookie": cookie})
    assert page.status_code == 200
    urls = re.findall(r'(?:href|src|action)="(/[^"]*)"', page.text)
    assert urls and all(url.startswith("/feedback/") for url in urls), urls


def test_origin_of_public_url_is_our_own(through_proxy: tuple[TestClient, str]) -> None:
    client, sent = through_proxy
    answer = client.post(f"{sent}/api/v1/votes", json=vote_body("a3"), headers={**HOST, "Origin": "https://news.example"})
    assert answer.status_code == 200
    assert "access-control-allow-origin" not in answer.headers  # same origin: no CORS needed


def test_a_path_only_public_url_is_a_prefix_too(make_settings: Callable[..., Settings]) -> None:
    with TestClient(FeedbackWidget(make_settings(public_url="/feedback/"))) as client:
        page = client.get("/feedback/embed/a1")
        assert 'src="/feedback/embed.js"' in page.text
        answer = client.post("/api/v1/votes", data={"article_id": "a", "vote": "up", "h-captcha-response": f"PASS-{secrets.token_hex(6)}"},
                             follow_redirects=False)
        assert answer.headers["location"] == "/feedback/embed/a"


def test_a_cross_site_frame_gets_only_the_partitioned_cookie(make_settings: Callable[..., Settings]) -> None:
    """A SameSite=Lax cookie set in a cross-site context is rejected by the browser (and
    Firefox reports each one in the console): send only what the context can keep."""
    with TestClient(FeedbackWidget(make_settings()), base_url="http://127.0.0.1:8000") as client:
        for headers in ({"Sec-Fetch-Site": "cross-site"}, {"X-Feedback-Frame": "cross-site"}):
            answer = client.post("/api/v1/votes", json=vote_body("x"), headers=headers)
            assert set(cookies_of(answer)) == {"feedbackwidget_voter_p"}
            client.cookies.clear()
        same = client.post("/api/v1/votes", json=vote_body("y"), headers={"Sec-Fetch-Site": "same-origin"})
        assert set(cookies_of(same)) == {"feedbackwidget_voter", "feedbackwidget_voter_p"}


def test_plain_http_off_loopback_gets_no_secure_cookie(make_settings: Callable[..., Settings]) -> None:
    with TestClient(FeedbackWidget(make_settings()), base_url="http://news.example") as client:
        answer = client.post("/api/v1/votes", json=vote_body("z"))
        assert set(cookies_of(answer)) == {"feedbackwidget_voter"}
        assert not cookies_of(answer)["feedbackwidget_voter"].get("secure")
