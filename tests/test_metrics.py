"""GET /metrics against real ``feedbackwidget serve`` processes: protection, every figure the
service, the captcha client, the tally cache and the export record, and ``--workers 2``
adding up both workers' figures."""

from __future__ import annotations

import base64
import csv
import io
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from feedbackwidget.fakecaptcha import FakeHCaptcha
from feedbackwidget.metrics import export_records
from feedbackwidget.webhooks.receiver import WebhookReceiver

from .helpers import EXPORT_TOKEN, vote_body
from .processes import ServeProcess, serve_env

METRICS_TOKEN = "metrics-token-" + "0123456789abcdef"
SCRAPE = {"Authorization": f"Bearer {METRICS_TOKEN}"}

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeHCaptcha]:
    with FakeHCaptcha() as server:
        yield server


def samples(text: str) -> Samples:
    """Every sample of a scrape, keyed by (name, sorted labels)."""
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def scrape(client: httpx2.Client, server: ServeProcess) -> Samples:
    answer = client.get(server.url + "/metrics", headers=SCRAPE)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=")
    return samples(answer.text)


def test_metrics_answer_only_their_own_token(fake: FakeHCaptcha, tmp_path: Path) -> None:
    off = serve_env(fake.env(), f"sqlite:///{tmp_path / 'off.db'}")
    with ServeProcess(off, tmp_path / "off.log") as server, httpx2.Client() as client:
        answer = client.get(server.url + "/metrics", headers=SCRAPE)
        assert answer.status_code == 401
        assert answer.json()["error"] == "unauthorized"
        assert "METRICS_TOKEN" in answer.json()["detail"]
    on = serve_env(fake.env(), f"sqlite:///{tmp_path / 'on.db'}", metrics_token=METRICS_TOKEN)
    with ServeProcess(on, tmp_path / "on.log") as server, httpx2.Client() as client:
        for headers in ({}, {"Authorization": f"Bearer {EXPORT_TOKEN}"}, {"Authorization": "Bearer " + METRICS_TOKEN[:-1]},
                        {"Authorization": f"Basic {METRICS_TOKEN}"}):
            answer = client.get(server.url + "/metrics", headers=headers)
            assert (answer.status_code, answer.json()["error"]) == (401, "unauthorized"), headers
        found = scrape(client, server)
        assert value(found, "feedbackwidget_workers") == 1
        assert value(found, "feedbackwidget_votes_total", outcome="cast") == 0


def test_every_figure_follows_what_the_server_did(fake: FakeHCaptcha, tmp_path: Path) -> None:
    env = serve_env(fake.env(), f"sqlite:///{tmp_path / 'votes.db'}", metrics_token=METRICS_TOKEN,
                    rate_limit="1000/second")
    article = "metrics-article-" + secrets.token_hex(4)
    with ServeProcess(env, tmp_path / "serve.log") as server, httpx2.Client(base_url=server.url) as client:
        before = scrape(client, server)
        first = client.post("/api/v1/votes", json=vote_body(article, "up")).json()
        voter = {"X-Feedback-Voter": first["voter"]}
        assert client.post("/api/v1/votes", json=vote_body(article, "up"), headers=voter).json()["changed"] is False
        assert client.post("/api/v1/votes", json=vote_body(article, "down"), headers=voter).json()["changed"] is True
        assert client.post("/api/v1/votes", json=vote_body(article, token="FAIL-x")).status_code == 403
        assert client.post("/api/v1/votes", json=vote_body(article, token="E500-x")).status_code == 503
        assert client.post("/api/v1/votes", json={"article_id": article, "vote": "up"}).status_code == 400
        refused = client.post("/api/v1/votes", json=vote_body(article), headers={"Origin": "https://elsewhere.example"})
        assert refused.status_code == 403
        with httpx2.Client(base_url=server.url) as anonymous:  # no voter cookie: the cached path
            for _ in range(3):  # one miss, then hits (the cache keeps a tally for a second)
                assert anonymous.get(f"/api/v1/articles/{article}").status_code == 200
        auth = {"Authorization": f"Bearer {EXPORT_TOKEN}"}
        events = client.get("/api/v1/export?format=csv&kind=events", headers=auth)
        assert events.status_code == 200
        assert client.get("/api/v1/export?format=ndjson&kind=votes", headers=auth).status_code == 200
        assert client.delete(f"/api/v1/votes/{article}", headers=voter).status_code == 200
        assert client.delete(f"/api/v1/votes/{article}", headers=voter).status_code == 404
        after = scrape(client, server)
        text = client.get("/metrics", headers=SCRAPE).text

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("feedbackwidget_votes_total", outcome="cast") == 1
    assert delta("feedbackwidget_votes_total", outcome="unchanged") == 1
    assert delta("feedbackwidget_votes_total", outcome="changed") == 1
    assert delta("feedbackwidget_votes_total", outcome="captcha_failed") == 1
    assert delta("feedbackwidget_votes_total", outcome="captcha_unavailable") == 1
    assert delta("feedbackwidget_votes_total", outcome="captcha_required") == 1
    assert delta("feedbackwidget_votes_total", outcome="forbidden_origin") == 1
    assert delta("feedbackwidget_refusals_total", kind="captcha_failed") == 1
    assert delta("feedbackwidget_refusals_total", kind="captcha_required") == 1
    assert delta("feedbackwidget_refusals_total", kind="forbidden_origin") == 1
    assert delta("feedbackwidget_refusals_total", kind="rate_limited") == 0
    assert delta("feedbackwidget_siteverify_total", outcome="success") == 3
    assert delta("feedbackwidget_siteverify_total", outcome="failed") == 1
    assert delta("feedbackwidget_siteverify_total", outcome="unavailable") == 1
    assert delta("feedbackwidget_siteverify_seconds_count") == 5
    assert delta("feedbackwidget_siteverify_seconds_bucket", le="+Inf") == 5
    assert delta("feedbackwidget_store_seconds_count", operation="cast") == 3
    assert delta("feedbackwidget_store_seconds_count", operation="withdraw") == 2
    misses = delta("feedbackwidget_tally_cache_total", result="miss")
    assert misses >= 1 and misses + delta("feedbackwidget_tally_cache_total", result="hit") == 3
    assert delta("feedbackwidget_store_seconds_count", operation="tally") == misses  # a miss reads the store
    assert delta("feedbackwidget_store_seconds_count", operation="add_refusals") >= 1
    assert delta("feedbackwidget_store_seconds_count", operation="ping") >= 0  # the readiness polls came first
    assert delta("feedbackwidget_withdrawals_total", action="withdraw", outcome="ok") == 1
    assert delta("feedbackwidget_withdrawals_total", action="withdraw", outcome="not_found") == 1
    assert delta("feedbackwidget_exports_total", kind="events", format="csv") == 1
    assert delta("feedbackwidget_export_rows_total", kind="events", format="csv") == len(events.text.splitlines()) - 1 == 2
    assert delta("feedbackwidget_export_rows_total", kind="votes", format="ndjson") == 1
    assert article not in text  # no label carries an article id
    assert "process_cpu_seconds_total" in text


def test_two_workers_add_up_in_every_scrape(fake: FakeHCaptcha, tmp_path: Path) -> None:
    """Votes spread over two worker processes; whichever worker answers a scrape counts them
    all (multi-process mode in a folder ``serve`` makes and removes)."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = serve_env(fake.env(), f"sqlite:///{tmp_path / 'votes.db'}", metrics_token=METRICS_TOKEN,
                    rate_limit="1000/second")
    env["TMPDIR"] = str(scratch)
    votes = 40
    with ServeProcess(env, tmp_path / "serve.log", args=("--workers", "2")) as server:
        for i in range(votes):  # a fresh connection each: the workers take turns accepting
            with httpx2.Client() as client:
                answer = client.post(server.url + "/api/v1/votes", json=vote_body(f"spread-{i}"))
                assert answer.status_code == 200, answer.text
        assert len(list(scratch.glob("feedbackwidget-metrics-*/counter_*.db"))) >= 1
        for _ in range(6):
            with httpx2.Client() as client:
                found = scrape(client, server)
            assert value(found, "feedbackwidget_workers") == 2
            assert value(found, "feedbackwidget_votes_total", outcome="cast") == votes
            assert value(found, "feedbackwidget_siteverify_total", outcome="success") == votes
            assert value(found, "feedbackwidget_store_seconds_count", operation="cast") == votes
    assert list(scratch.glob("feedbackwidget-metrics-*")) == []  # removed when the server stopped


def test_webhook_attempts_are_counted_by_outcome(fake: FakeHCaptcha, tmp_path: Path) -> None:
    secret = "whsec_" + base64.b64encode(b"m" * 32).decode()
    with WebhookReceiver([secret]) as receiver:
        env = serve_env(fake.env(), f"sqlite:///{tmp_path / 'votes.db'}", metrics_token=METRICS_TOKEN,
                        webhook_urls=receiver.url, webhook_secrets=secret, webhook_allowed_hosts="127.0.0.1",
                        webhook_allow_private="true", webhook_milestones="1", webhook_retry_base="0.05",
                        webhook_digest_hour="off")
        with ServeProcess(env, tmp_path / "serve.log") as server, httpx2.Client(base_url=server.url) as client:
            receiver.failing = True
            assert client.post("/api/v1/votes", json=vote_body("hooked")).status_code == 200
            receiver.wait_until(lambda r: r.attempts >= 2)  # refused, tried again, refused again
            receiver.failing = False
            receiver.wait_until(lambda r: len(r.received) == 1)
            deadline = time.monotonic() + 30
            while value(found := scrape(client, server), "feedbackwidget_webhook_deliveries_total",
                        outcome="delivered") < 1:
                assert time.monotonic() < deadline, "the delivery was never counted"
                time.sleep(0.02)  # polling interval of the condition
    retries = value(found, "feedbackwidget_webhook_deliveries_total", outcome="retry")
    assert retries >= 2 and value(found, "feedbackwidget_webhook_deliveries_total", outcome="failed") == 0
    assert value(found, "feedbackwidget_webhook_deliveries_total", outcome="delivered") == 1
    assert value(found, "feedbackwidget_webhook_seconds_count") == retries + 1


@pytest.mark.parametrize(
    ("fmt", "chunk", "records"),
    [
        ("ndjson", b'{"a":"x\\ny"}\n{"a":2}\n', 2),
        ("csv", b"a,b\r\n1,2\r\n", 2),
        ("csv", b'1,"two\r\nlines"\r\n2,"say ""hi""\r\n"\r\n', 2),
        ("csv", b"", 0),
        ("parquet", b"PAR1\n\n", 0),
    ],
)
def test_export_records_are_counted_by_record_not_by_line(fmt: str, chunk: bytes, records: int) -> None:
    assert export_records(fmt, chunk) == records


@given(st.lists(st.lists(st.text(alphabet='a,"\r\n =', max_size=6), min_size=1, max_size=4), max_size=8))
def test_csv_records_are_counted_whatever_the_cells_hold(rows: list[list[str]]) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    assert export_records("csv", buffer.getvalue().encode()) == len(rows)


def test_docs_list_every_metric_and_no_other() -> None:
    from feedbackwidget.metrics import REGISTRY, Metrics

    Metrics()  # the families exist once a recorder was made
    ours = {family.name for family in REGISTRY.collect() if family.name.startswith("feedbackwidget_")}
    docs = (Path(__file__).resolve().parents[1] / "docs" / "metrics.md").read_text()
    listed = set(re.findall(r"^\| `(feedbackwidget_\w+?)(?:_total)?` \|", docs, re.MULTILINE))
    assert ours and listed == ours


def test_vote_outcomes_are_contract_error_codes() -> None:
    from feedbackwidget.metrics import VOTE_REFUSED
    from feedbackwidget.web.openapi import ERROR_CODES

    assert set(VOTE_REFUSED) <= set(ERROR_CODES)  # which the OpenAPI test holds to web/errors.py
