"""Webhooks in one process: events, signatures with rotated keys, delivery through failures,
and destinations that must never be called (see docs/webhooks.md)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.testclient import TestClient

from feedbackwidget import FeedbackWidget, Settings
from feedbackwidget.errors import ConfigError
from feedbackwidget.store.outbox import AlertState, OutboxMessage
from feedbackwidget.types import Tally
from feedbackwidget.webhooks.events import MILESTONE, SENTIMENT, Rules, message_id
from feedbackwidget.webhooks.guard import DestinationRefused, GuardedResolver, refusal
from feedbackwidget.webhooks.receiver import WebhookReceiver
from feedbackwidget.webhooks.signing import Signer

from .helpers import EXPORT_TOKEN, vote_body

NEW = "whsec_" + base64.b64encode(b"n" * 32).decode()
OLD = "whsec_" + base64.b64encode(b"o" * 32).decode()
NOW = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)


def rules(**changes: Any) -> Rules:
    values: dict[str, Any] = {
        "endpoints": ("https://hooks.example/in",), "slack": False, "milestones": (3, 10), "below": 0.4,
        "above": None, "min_votes": 5, "refusal_burst": 10,
    }
    values.update(changes)
    return Rules(**values)


# -- signing ------------------------------------------------------------------------------


def test_every_current_secret_signs_and_a_receiver_with_either_verifies() -> None:
    payload = '{"type":"article.milestone"}'
    headers = Signer([NEW, OLD]).headers("msg_1", payload, dt.datetime.now(dt.UTC))
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (NEW, OLD):
        Webhook(secret).verify(payload, headers, json_parse=False)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + base64.b64encode(b"x" * 32).decode()).verify(payload, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(NEW).verify(payload + " ", headers)
    assert "nnnn" not in repr(Signer([NEW]))


# -- events -------------------------------------------------------------------------------


def test_a_body_names_the_site_and_the_article_id_of_that_site() -> None:
    _, [north] = rules().advance(Tally("north\x1fa1", 3, 0), AlertState(), NOW)
    _, [single] = rules().advance(Tally("a1", 3, 0), AlertState(), NOW)
    assert json.loads(north.payload)["data"]["article"]["site"] == "north"
    assert json.loads(north.payload)["data"]["article"]["article_id"] == "a1"
    assert json.loads(single.payload)["data"]["article"]["site"] == "default"
    assert north.message_id != single.message_id  # two articles, two once-only keys


def test_a_milestone_is_sent_once_when_reached() -> None:
    r = rules()
    assert r.advance(Tally("a1", 1, 1), AlertState(), NOW) == (AlertState(), [])
    state, at_three = r.advance(Tally("a1", 2, 1), AlertState(), NOW)
    assert [m.type for m in at_three] == [MILESTONE] and state == AlertState(milestone=3)
    assert json.loads(at_three[0].payload)["data"]["milestone"] == 3
    assert at_three[0].message_id == message_id("milestone:3:a1")  # a repeat keeps the id; the store dedupes
    assert r.advance(Tally("a1", 3, 1), state, NOW) == (state, [])  # already sent
    assert r.advance(Tally("a1", 2, 0), state, NOW) == (state, [])  # fewer votes again: nothing taken back


def test_milestones_a_view_missed_are_sent_by_the_next_one_that_sees_them() -> None:
    # Two concurrent votes can each see 2 of 3; the next vote on the article sees 4 and sends 3.
    state, late = rules().advance(Tally("a1", 8, 3), AlertState(), NOW)
    assert [m.dedupe for m in late] == ["milestone:3:a1", "milestone:10:a1"]
    assert state.milestone == 10


def test_sentiment_is_judged_on_the_wilson_bound_with_a_minimum_count() -> None:
    r = rules(milestones=())
    assert r.advance(Tally("a1", 0, 4), AlertState(), NOW)[1] == []  # 0 of 4: too few votes to judge
    assert r.advance(Tally("a1", 0, 5), AlertState(), NOW)[1] == []  # 0 of 5: upper bound 0.43, not below 0.4
    state, [entered] = r.advance(Tally("a1", 0, 6), AlertState(), NOW)  # 0 of 6: upper bound 0.39
    body = json.loads(entered.payload)
    assert entered.type == SENTIMENT and body["data"]["band"] == "below"
    assert entered.dedupe == "sentiment:1:below:a1" and state == AlertState(0, "below", 1)
    assert r.advance(Tally("a1", 0, 7), state, NOW) == (state, [])  # still below: no repeat
    left, none = r.advance(Tally("a1", 7, 7), state, NOW)  # out of the band: remembered, nothing sent
    assert none == [] and left == AlertState(0, None, 1)
    again, [reentered] = r.advance(Tally("a1", 7, 30), left, NOW)
    assert reentered.dedupe == "sentiment:2:below:a1" and again.band_entries == 2
    assert r.band(Tally("a1", 3, 3)) is None  # a raw share of 0.5 with wide bounds: no verdict
    assert r.band(Tally("a1", 20, 80)) == "below"
    assert rules(below=None, above=0.6).band(Tally("a1", 90, 10)) == "above"


def test_refusal_bursts_report_each_doubling_once_per_day() -> None:
    r = rules()
    day = NOW.date()
    rows = [{"day": day, "article_id": "a1", "kind": "captcha_failed", "count": 25},
            {"day": day, "article_id": "a1", "kind": "rate_limited", "count": 16},
            {"day": day, "article_id": "", "kind": "rate_limited", "count": 999},
            {"day": day, "article_id": "a2", "kind": "rate_limited", "count": 9}]
    [burst] = r.refusal_bursts(day, rows, NOW)
    data = json.loads(burst.payload)["data"]
    assert (data["article_id"], data["count"], data["level"]) == ("a1", 41, 40)
    assert burst.dedupe == f"refusals:{day}:40:a1"


def test_slack_format_is_one_escaped_line() -> None:
    [m] = rules(slack=True).advance(Tally("<b>&", 2, 1), AlertState(), NOW)[1]
    assert json.loads(m.payload) == {"text": "&lt;b&gt;&amp; reached 3 votes: 2 yes, 1 no (67% yes)."}
    [d] = rules(slack=True).digest(NOW.date(), [{"article_id": "a", "up": 1, "down": 2}], [], NOW)
    assert json.loads(d.payload)["text"].startswith("Yesterday (2026-11-30): 1 yes, 2 no")


# -- where deliveries may go -----------------------------------------------------------------


def test_destinations_refused_by_settings(make_settings: Callable[..., Settings]) -> None:
    good = {"webhook_secrets": NEW, "webhook_allowed_hosts": "hooks.example"}
    assert make_settings(webhook_urls="https://hooks.example/in", **good).webhook_urls
    for url, sentence in [
        ("https://evil.example/in", "not in FEEDBACKWIDGET_WEBHOOK_ALLOWED_HOSTS"),
        ("http://hooks.example/in", "https"),
    ]:
        with pytest.raises(ConfigError, match=sentence) as caught:
            make_settings(webhook_urls=url, **good)
        assert caught.value.variable == "FEEDBACKWIDGET_WEBHOOK_URLS"
    with pytest.raises(ConfigError, match="private or loopback"):
        make_settings(webhook_urls="http://127.0.0.1:9/in", webhook_secrets=NEW, webhook_allowed_hosts="127.0.0.1")
    with pytest.raises(ConfigError, match="private or loopback"):
        make_settings(webhook_urls="https://10.1.2.3/in", webhook_secrets=NEW, webhook_allowed_hosts="10.1.2.3")
    with pytest.raises(ConfigError, match="WEBHOOK_SECRETS"):
        make_settings(webhook_urls="https://hooks.example/in", webhook_allowed_hosts="hooks.example")
    with pytest.raises(ConfigError, match="whsec_"):
        make_settings(webhook_secrets="not-a-secret")


def test_each_attempt_checks_its_destination_again() -> None:
    allowed = ("hooks.example", "127.0.0.1", "localhost")
    assert refusal("https://hooks.example/in", allowed, False) is None
    assert "not in WEBHOOK_ALLOWED_HOSTS" in (refusal("https://other.example/in", allowed, False) or "")
    assert "https" in (refusal("http://hooks.example/in", allowed, True) or "")
    assert "private" in (refusal("https://127.0.0.1/in", allowed, False) or "")
    assert "loopback" in (refusal("http://localhost:8/in", allowed, False) or "")
    assert refusal("http://127.0.0.1:8/in", allowed, True) is None


def test_a_name_that_resolves_to_a_private_address_is_refused() -> None:
    async def resolve(allow: bool) -> Any:
        resolver = GuardedResolver(allow)
        try:
            return await resolver.resolve("localhost", 80)
        finally:
            await resolver.close()

    with pytest.raises(DestinationRefused):
        asyncio.run(resolve(False))
    assert asyncio.run(resolve(True))


# -- delivery, end to end in one process -----------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver([OLD]) as r:  # knows only the old secret: rotation in progress
        yield r


def webhook_settings(make_settings: Callable[..., Settings], url: str, **more: Any) -> Settings:
    return make_settings(
        webhook_urls=url, webhook_secrets=f"{NEW},{OLD}", webhook_allowed_hosts="127.0.0.1",
        webhook_allow_private=True, webhook_milestones="1,2,3,4,5,6,7,8", webhook_retry_base="0.05",
        webhook_max_attempts=40, webhook_digest_hour="off", **more,
    )


def test_every_vote_event_arrives_signed_once_through_failures_and_a_restart(
    make_settings: Callable[..., Settings], receiver: WebhookReceiver
) -> None:
    settings = webhook_settings(make_settings, receiver.url)
    with TestClient(FeedbackWidget(settings)) as client:
        receiver.failing = True
        for _ in range(4):
            client.cookies.clear()  # a new reader each time
            assert client.post("/api/v1/votes", json=vote_body("a1")).status_code == 200
        receiver.wait_until(lambda r: r.attempts >= 6)  # refused, retried, refused again
        receiver.stop()  # now nobody listens at all
        for _ in range(4):
            client.cookies.clear()
            assert client.post("/api/v1/votes", json=vote_body("a2")).status_code == 200
        receiver.failing = False
        receiver.start()
        receiver.wait_until(lambda r: len(r.received) >= 8)
        expected = {message_id(f"milestone:{m}:{a}") for m in range(1, 5) for a in ("a1", "a2")}
        ids = receiver.ids()
        assert sorted(ids) == sorted(expected)  # all of them, none twice
        assert receiver.rejected == 0
        status = _settled(settings, lambda s: s.delivered == 8)  # recorded just after the receiver answers
        assert (status.pending, status.delivered, status.failed) == (0, 8, 0)
        # The dashboard shows them (pending, delivered, failed; the last error of each), never the URL's path.
        auth = {"Authorization": f"Bearer {EXPORT_TOKEN}"}
        page = client.get("/admin/webhooks", headers=auth)
        assert page.status_code == 200
        assert "0 pending" in page.text and "8 delivered" in page.text and "0 failed" in page.text
        assert all(i in page.text for i in expected) and "HTTP 503" not in page.text
        assert "/hook" not in page.text and f"127.0.0.1:{receiver.port}" in page.text
        assert "8 delivered" in client.get("/admin", headers=auth).text


def _settled(settings: Settings, condition: Callable[[Any], bool], limit: float = 30.0) -> Any:
    """The outbox status once ``condition`` holds for it (polled)."""
    deadline = time.monotonic() + limit
    while not condition(status := asyncio.run(_status(settings))):
        assert time.monotonic() < deadline, status
        time.sleep(0.02)
    return status


async def _status(settings: Settings) -> Any:
    from feedbackwidget.store import open_store

    store = open_store(settings.database_url)
    await store.open()
    try:
        return await store.outbox_status(20)
    finally:
        await store.close()


def test_a_host_not_allowed_is_never_called_nor_a_redirect_followed(
    make_settings: Callable[..., Settings], receiver: WebhookReceiver
) -> None:
    with WebhookReceiver([OLD], host="localhost") as elsewhere:
        settings = webhook_settings(make_settings, receiver.url)
        receiver.redirect_to = elsewhere.url
        with TestClient(FeedbackWidget(settings)) as client:
            # A message queued for a host the settings no longer allow (say, before a change).
            stray = OutboxMessage("msg_stray", elsewhere.url, MILESTONE, "{}")
            asyncio.run(_enqueue(settings, stray))
            assert client.post("/api/v1/votes", json=vote_body("a1")).status_code == 200
            receiver.wait_until(lambda r: r.attempts >= 2)  # the vote's message, redirected, retried
            status = _settled(settings, lambda s: s.failed == 1 and s.recent[0].last_status == 307)
            refused = [r for r in status.recent if r.message_id == "msg_stray"]
            assert refused[0].state == "failed" and "not in WEBHOOK_ALLOWED_HOSTS" in (refused[0].last_error or "")
            ours = [r for r in status.recent if r.message_id != "msg_stray"]
            assert ours[0].state == "pending" and ours[0].last_status == 307
        assert elsewhere.attempts == 0


async def _enqueue(settings: Settings, message: OutboxMessage) -> None:
    from feedbackwidget.store import open_store

    store = open_store(settings.database_url)
    await store.open()
    try:
        await store.enqueue([message])
    finally:
        await store.close()


def test_the_demo_delivers_to_its_receiver_stub_and_its_dashboard_shows_it(fake: Any, tmp_path: Any) -> None:
    from feedbackwidget.demo import ARTICLE_ID, PREFIX, build_demo, demo_webhooks

    with WebhookReceiver([NEW]) as stub:
        demo = build_demo(
            "fake", database_url=f"sqlite:///{tmp_path / 'demo.db'}", fake=fake, export_token=EXPORT_TOKEN,
            **demo_webhooks(stub, NEW),
        )
        with TestClient(demo.app) as client:
            answer = client.post(f"{PREFIX}/api/v1/votes", json=vote_body(ARTICLE_ID))
            assert answer.status_code == 200
            stub.wait_until(lambda r: len(r.received) == 1)
            assert stub.received[0].body["data"]["milestone"] == 1
            auth = {"Authorization": f"Bearer {EXPORT_TOKEN}"}
            deadline = time.monotonic() + 30
            while "1 delivered" not in (page := client.get(f"{PREFIX}/admin/webhooks", headers=auth)).text:
                assert time.monotonic() < deadline, page.text  # the delivery is recorded just after it arrives
                time.sleep(0.02)
            assert stub.received[0].message_id in page.text


def test_without_per_vote_events_a_cast_carries_no_outbox_callback(make_settings: Callable[..., Settings]) -> None:
    from feedbackwidget.store.sqlite import SQLiteStore
    from feedbackwidget.webhooks import Worker

    settings = make_settings(webhook_urls="https://hooks.example/in", webhook_secrets=NEW,
                             webhook_allowed_hosts="hooks.example", webhook_milestones="off")
    worker = Worker(settings, SQLiteStore("unused.db"), lambda: NOW)
    assert settings.webhook_milestones == () and worker.alerts(NOW) is None
    assert Worker(settings.replace(webhook_sentiment_below="0.3"), SQLiteStore("unused.db"), lambda: NOW).alerts(
        NOW) is not None


def test_the_scan_queues_refusal_bursts_and_the_digest_once(make_settings: Callable[..., Settings]) -> None:
    from feedbackwidget.store import open_store
    from feedbackwidget.types import Cast
    from feedbackwidget.webhooks import Worker
    from feedbackwidget.webhooks.events import DIGEST, REFUSALS

    settings = make_settings(webhook_urls="https://hooks.example/in", webhook_secrets=NEW,
                             webhook_allowed_hosts="hooks.example", webhook_refusal_burst=5, webhook_digest_hour=6)
    morning = dt.datetime(2026, 11, 30, 7, 0, tzinfo=dt.UTC)

    async def scenario() -> list[Any]:
        store = open_store(settings.database_url)
        await store.open()
        try:
            for n in range(3):
                await store.cast(Cast("a1", f"v{n}", "down" if n else "up", morning - dt.timedelta(days=1)))
            await store.add_refusals([{"day": morning.date(), "article_id": "a1", "kind": "captcha_failed", "count": 11}])
            early = Worker(settings, store, lambda: morning.replace(hour=5))
            await early.scan()  # before the digest hour: only the burst
            for _server in range(2):  # two servers scanning: each event queued once
                await Worker(settings, store, lambda: morning).scan()
            return await store.claim("test", 10, 60.0)
        finally:
            await store.close()

    claimed = {d.type: d for d in asyncio.run(scenario())}
    assert sorted(claimed) == [REFUSALS, DIGEST]
    assert claimed[REFUSALS].message_id == message_id("refusals:2026-11-30:10:a1")
    assert json.loads(claimed[REFUSALS].payload)["data"]["count"] == 11
    assert claimed[DIGEST].message_id == message_id("digest:2026-11-29")
    digest = json.loads(claimed[DIGEST].payload)["data"]
    assert (digest["day"], digest["up"], digest["down"], digest["refused"]) == ("2026-11-29", 1, 2, 0)
    assert digest["articles"] == [{"site": "default", "article_id": "a1", "up": 1, "down": 2}]


@given(steps=st.lists(st.tuples(st.integers(0, 30), st.sampled_from(["up", "down"]), st.integers(0, 5)),
                      max_size=120))
def test_any_history_of_votes_sends_each_milestone_reached_exactly_once(steps: list[tuple[int, str, int]]) -> None:
    # Each vote judges a view of the tally that may lag behind by a few votes (concurrent casts
    # under READ COMMITTED); the last view is exact (the next vote on the article).
    r = rules(milestones=(1, 5, 10, 25), below=None)
    votes: dict[int, str] = {}
    history = [Tally("a1", 0, 0)]
    state, sent = AlertState(), []
    for voter, vote, lag in steps:  # a new voter, a change of mind or a repeat
        votes[voter] = vote
        history.append(Tally("a1", sum(v == "up" for v in votes.values()), sum(v == "down" for v in votes.values())))
        state, messages = r.advance(history[max(0, len(history) - 1 - lag)], state, NOW)
        sent += [m.dedupe or "" for m in messages]
    state, messages = r.advance(history[-1], state, NOW)
    sent += [m.dedupe or "" for m in messages]
    most = max(t.total for t in history)
    assert sent == [f"milestone:{m}:a1" for m in (1, 5, 10, 25) if m <= most]
