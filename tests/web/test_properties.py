"""Property-based tests: whatever a client sends to the vote endpoint, the answer is
one of the contract's, and a refusal writes nothing."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from feedbackwidget import FeedbackWidget, Settings
from feedbackwidget.fakecaptcha import FakeHCaptcha

from ..helpers import EXPORT_TOKEN, SECRET

ALLOWED = {200, 400, 403, 413, 415, 429, 503}
AUTH = {"Authorization": f"Bearer {EXPORT_TOKEN}"}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
tokens = st.sampled_from(["", "PASS", "FAIL", "E500", "GARBAGE", "NOSUCCESS", "ODD"]).map(
    lambda p: p and f"{p}-x"
) | json_values
fields = st.fixed_dictionaries(
    {},
    optional={
        "article_id": st.text(max_size=300) | json_values,
        "vote": st.sampled_from(["up", "down", "UP", "", "sideways"]) | json_values,
        "captcha_token": tokens,
        "title": st.text(max_size=400) | json_values,
        "version": st.text(max_size=80) | json_values,
        "signed": st.text(max_size=60) | json_values,
    },
)
content_types = st.sampled_from(
    ["application/json", "application/x-www-form-urlencoded", "text/plain", "", "application/json; charset=latin-1",
     "multipart/form-data", "application/vnd.api+json"]
)


@contextmanager
def widget_client(fake: FakeHCaptcha) -> Iterator[TestClient]:
    with tempfile.TemporaryDirectory() as folder:
        settings_ = Settings(
            database_url=f"sqlite:///{folder}/p.db", secret_key=SECRET, export_token=EXPORT_TOKEN,
            rate_limit="100000/second", hcaptcha_timeout=0.2, **fake.settings(),
        )
        with TestClient(FeedbackWidget(settings_), raise_server_exceptions=False) as client:
            yield client


def events(client: TestClient) -> str:
    r = client.get("/api/v1/export?kind=events&format=ndjson", headers=AUTH)
    assert r.status_code == 200
    return r.text


def check(client: TestClient, response: Any) -> None:
    assert response.status_code in ALLOWED, response.text
    if response.status_code != 200:
        body = response.json() if "json" in response.headers.get("content-type", "") else None
        if body is not None:
            assert set(body) == {"error", "detail"}, body


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=fields, ctype=content_types, as_form=st.booleans())
def test_any_vote_body_gets_a_contract_answer(fake: FakeHCaptcha, data: dict[str, Any], ctype: str, as_form: bool) -> None:
    with widget_client(fake) as client:
        before = events(client)
        if as_form:
            body = "&".join(f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in data.items()).encode()
        else:
            body = json.dumps(data).encode()
        response = client.post("/api/v1/votes", content=body, headers={"content-type": ctype} if ctype else {})
        check(client, response)
        if response.status_code != 200:
            assert events(client) == before  # a refusal wrote nothing


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=2000), ctype=content_types, origin=st.none() | st.text(max_size=30))
def test_any_bytes_and_origin_get_a_contract_answer(
    fake: FakeHCaptcha, body: bytes, ctype: str, origin: str | None
) -> None:
    headers = {"content-type": ctype} if ctype else {}
    if origin is not None and origin.isascii() and origin.isprintable():
        headers["origin"] = origin
    with widget_client(fake) as client:
        before = events(client)
        response = client.post("/api/v1/votes", content=body, headers=headers)
        check(client, response)
        assert response.status_code != 200 or body  # an empty body never counts
        if response.status_code != 200:
            assert events(client) == before


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(aid=st.text(min_size=0, max_size=300), query=st.text(max_size=40))
@example(aid=".", query="").via("a dot segment")
@example(aid="..", query="").via("a dot-dot segment")
def test_any_article_path_and_query_gets_a_contract_answer(fake: FakeHCaptcha, aid: str, query: str) -> None:
    from urllib.parse import quote

    with widget_client(fake) as client:
        # Dots escaped too: a client removes "." and ".." path segments (RFC 3986, 5.2.4) before
        # sending, and "/api/v1/articles/." would reach the server as the token-only listing.
        segment = quote(aid, safe="").replace(".", "%2E")
        for path in (f"/api/v1/articles/{segment}", f"/embed/{segment}"):
            r = client.get(path + "?" + quote(query, safe="=&"))
            assert r.status_code in {200, 400, 404}, r.text
        r = client.get("/api/v1/export?" + quote(query, safe="=&"), headers=AUTH)
        assert r.status_code in {200, 400}, r.text
        r = client.get("/api/v1/articles?" + quote(query, safe="=&"), headers=AUTH)
        assert r.status_code in {200, 400}, r.text
