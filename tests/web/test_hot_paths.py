"""The fast paths keep every behaviour: direct dispatch, the anonymous tally cache,
the one-statement GCRA."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from feedbackwidget import FeedbackWidget, Settings
from feedbackwidget.store.sqlite import SQLiteStore, path_from_url

from ..helpers import vote_body

VOTES = "/api/v1/votes"


# -- the anonymous tally cache -------------------------------------------------------


def test_local_change_is_visible_at_once_to_anonymous_readers(client: TestClient) -> None:
    assert client.get("/api/v1/articles/fresh").json()["total"] == 0  # now cached
    assert client.get("/api/v1/articles/fresh?lang=de").json()["total"] == 0
    client.post(VOTES, json=vote_body("fresh", "up"))
    client.cookies.clear()
    assert client.get("/api/v1/articles/fresh").json()["total"] == 1
    assert client.get("/api/v1/articles/fresh?lang=de").json()["total"] == 1
    voter = client.post(VOTES, json=vote_body("fresh", "down")).json()["voter"]
    client.cookies.clear()
    assert client.get("/api/v1/articles/fresh").json()["down"] == 1
    assert client.request("DELETE", f"{VOTES}/fresh", headers={"X-Feedback-Voter": voter}).status_code == 200
    assert client.get("/api/v1/articles/fresh").json()["down"] == 0
    voter = client.post(VOTES, json=vote_body("fresh", "down")).json()["voter"]
    client.cookies.clear()
    assert client.get("/api/v1/articles/fresh").json()["down"] == 1
    assert client.request("DELETE", "/api/v1/voters/me", headers={"X-Feedback-Voter": voter}).status_code == 200
    assert client.get("/api/v1/articles/fresh").json()["down"] == 0


def test_cached_answer_is_the_uncached_answer(client: TestClient) -> None:
    client.post(VOTES, json=vote_body("same", "up"))
    client.cookies.clear()
    first = client.get("/api/v1/articles/same?lang=fr")
    second = client.get("/api/v1/articles/same?lang=fr")  # from the cache
    assert first.content == second.content
    assert first.headers == second.headers
    body = first.json()
    assert (body["up"], body["total"]) == (1, 1)
    assert body["lang"] == "en" and body["dir"] == "ltr" and body["messages"]  # fr is not shipped: English


def test_a_readers_own_answer_is_fresh_even_while_another_server_caches(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    with TestClient(FeedbackWidget(settings)) as a, TestClient(FeedbackWidget(settings)) as b:
        assert b.get("/api/v1/articles/two").json()["total"] == 0  # b caches "no votes"
        voter = a.post(VOTES, json=vote_body("two", "up")).json()["voter"]
        mine = b.get("/api/v1/articles/two", headers={"X-Feedback-Voter": voter}).json()
        assert mine["your_vote"] == "up" and mine["total"] == 1


def test_a_read_that_overlapped_a_change_is_not_kept() -> None:
    from feedbackwidget.tally_cache import TallyCache

    cache = TallyCache()
    before = cache.changes
    cache.forget("x")
    cache.put("x", None, b"{}", before)
    assert cache.get("x", None) is None
    cache.put("x", None, b"{}", cache.changes)
    assert cache.get("x", None) == b"{}"


# -- direct dispatch ---------------------------------------------------------------------


@pytest.fixture
def mounted(settings: Settings) -> Iterator[TestClient]:
    widget = FeedbackWidget(settings)
    host = Starlette(routes=[Mount("/{site}/fw", app=widget)], lifespan=widget.lifespan)
    with TestClient(host) as client:
        yield client


def test_hot_routes_work_under_a_mount_with_path_parameters(mounted: TestClient) -> None:
    r = mounted.post("/news/fw/api/v1/votes", json=vote_body("m1", "up"))
    assert r.status_code == 200
    assert "Path=/news/fw;" in r.headers["set-cookie"]
    mounted.cookies.clear()
    assert mounted.get("/news/fw/api/v1/articles/m1").json()["up"] == 1
    assert mounted.get("/news/fw/widget.js").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("PUT", VOTES, 405),
        ("GET", VOTES, 405),
        ("HEAD", "/widget.js", 200),
        ("POST", "/widget.js", 405),
        ("GET", "/api/v1/articles/", 400),
        ("GET", "/api/v1/articles/a%0Ab", 400),  # a bad article id, as %09 is (was a 404)
        ("GET", "/api/v1/articles/a%09b", 400),
        ("GET", "/api/v1/articles/a/b", 200),
        ("GET", "/api/v1/votesx", 404),
    ],
)
def test_everything_else_is_answered_as_the_router_would(
    client: TestClient, method: str, path: str, status: int
) -> None:
    assert client.request(method, path).status_code == status


def test_errors_on_hot_routes_are_contract_errors(client: TestClient) -> None:
    r = client.post(VOTES, content=b"{", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    assert r.headers["cache-control"] == "no-store"
    r = client.get("/api/v1/articles/" + "x" * 300)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


# -- GCRA in one statement -------------------------------------------------------------


def _reference(steps: list[float], count: int, period: float) -> list[float]:
    """The limiter as first written (select, compute in Python, upsert)."""
    tat: float | None = None
    out = []
    now = 1_700_000_000.0
    for dt_ in steps:
        now += dt_
        current = max(tat, now) if tat is not None else now
        new_tat = current + period / count
        if new_tat - now > period + 1e-9:
            out.append(max(new_tat - now - period, 1e-3))
        else:
            tat = new_tat
            out.append(0.0)
    return out


@hsettings(max_examples=40, deadline=None)
@given(
    steps=st.lists(st.sampled_from([0.0, 0.001, 0.1, 0.5, 1.0, 2.5, 61.0]), min_size=1, max_size=25),
    count=st.integers(min_value=1, max_value=5),
    period=st.sampled_from([1.0, 60.0, 3600.0]),
)
def test_store_gcra_matches_the_reference(tmp_path_factory: pytest.TempPathFactory, steps: list[float],
                                          count: int, period: float) -> None:
    path = tmp_path_factory.mktemp("gcra") / "g.db"

    async def scenario() -> list[float]:
        store = SQLiteStore(path_from_url(f"sqlite:///{path}"))
        await store.open()
        try:
            now = 1_700_000_000.0
            got = []
            for dt_ in steps:
                now += dt_
                got.append(await store.take("k", now, count, period))
            return got
        finally:
            await store.close()

    got = asyncio.run(scenario())
    want = _reference(steps, count, period)
    assert [g == 0.0 for g in got] == [w == 0.0 for w in want]
    assert all(math.isclose(g, w, abs_tol=1e-6) for g, w in zip(got, want, strict=True))


def test_cache_keeps_one_entry_per_resolved_language(widget: FeedbackWidget) -> None:
    with TestClient(widget) as client:
        tags = ("ru", "ru-RU", "RU", "xx-nonsense", "de", "")
        answers = [client.get(f"/api/v1/articles/langs?lang={tag}") for tag in tags]
        assert [a.json().get("lang") for a in answers] == ["ru", "ru", "ru", "en", "en", None]
        assert answers[0].content == answers[1].content
        runtime = next(iter(widget._runtimes.values())).primary
        assert sorted(runtime.service.tallies._entries["langs"], key=str) == sorted([None, "ru", "en"], key=str)


# -- the voter cookies, written from bytes made once -------------------------------------


@pytest.mark.parametrize("prefix", ["", "/news/fw"])
@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("host", ["127.0.0.1:8000", "news.example"])
@pytest.mark.parametrize("fetch_site", [None, "cross-site", "same-origin"])
@pytest.mark.parametrize("token", ["abc.DEF_-123.xyz", "needs quoting; yes", 'a"b', "ünï"])
def test_voter_cookies_are_the_bytes_starlette_writes(
    widget: FeedbackWidget, prefix: str, scheme: str, host: str, fetch_site: str | None, token: str
) -> None:
    from starlette.requests import Request
    from starlette.responses import Response

    from feedbackwidget.tokens import VOTER_MAX_AGE
    from feedbackwidget.web import cookies
    from feedbackwidget.web.public import public_view

    headers = [(b"host", host.encode())]
    if fetch_site:
        headers.append((b"sec-fetch-site", fetch_site.encode()))
    scope = {"type": "http", "scheme": scheme, "server": ("10.0.0.5", 80), "root_path": prefix, "headers": headers}
    request = Request(scope)
    view = public_view(request, widget.settings)
    for _ in range(2):  # the first call builds the frames, the second reuses them
        fast = Response()
        cookies.set_voter_cookie(view, fast, token)
        slow = Response()
        cookies._starlette_cookies(
            slow, token, view.cookie_path, view.https, not view.cross_site, view.secure_context, VOTER_MAX_AGE
        )
        assert fast.raw_headers == slow.raw_headers
        values = [v.decode("latin-1") for k, v in fast.raw_headers if k == b"set-cookie"]
        assert len(values) == int(fetch_site != "cross-site") + int(scheme == "https" or host.startswith("127."))
        assert all(f"Path={prefix or '/'};" in v + ";" for v in values)
