"""Webhooks from two real ``feedbackwidget serve`` processes sharing one store, on PostgreSQL
and on SQLite: readers vote through both at once while the receiver fails on purpose, then
goes away, then comes back. Every event arrives, verified by the Standard Webhooks library,
and no ``webhook-id`` arrives twice."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from feedbackwidget.fakecaptcha import FakeHCaptcha
from feedbackwidget.store import open_store
from feedbackwidget.webhooks.events import message_id
from feedbackwidget.webhooks.receiver import WebhookReceiver

from .pgtools import fresh_database
from .processes import ServeProcess

SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
VOTES = 16  # per article: milestones 1..VOTES, each one event
ARTICLES = ("alpha", "beta", "gamma")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'votes.db'}"
        return
    with fresh_database("fw_hooks_") as url:
        yield url


async def vote(session: aiohttp.ClientSession, server: ServeProcess, article: str) -> None:
    body = {"article_id": article, "vote": "up", "captcha_token": f"PASS-{secrets.token_hex(12)}"}
    async with session.post(f"{server.url}/api/v1/votes", json=body) as answer:
        assert answer.status == 200, await answer.text()


async def votes(servers: list[ServeProcess], articles: tuple[str, ...], count: int) -> None:
    """``count`` new readers per article, alternating servers, all at once."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        await asyncio.gather(*(
            vote(session, servers[i % 2], article) for article in articles for i in range(count)
        ))


async def outbox(url: str) -> Any:
    store = open_store(url)
    await store.open()
    try:
        return await store.outbox_status(5)
    finally:
        await store.close()


def test_two_servers_deliver_every_event_once_through_a_failing_receiver(database: str, tmp_path: Path) -> None:
    with FakeHCaptcha() as fake, WebhookReceiver([SECRET]) as receiver:
        env = {
            **os.environ,
            **fake.env(),
            "FEEDBACKWIDGET_DATABASE_URL": database,
            "FEEDBACKWIDGET_SECRET_KEY": "webhooks-served-" + secrets.token_hex(16),
            "FEEDBACKWIDGET_RATE_LIMIT": "100000/second",
            "FEEDBACKWIDGET_WEBHOOK_URLS": receiver.url,
            "FEEDBACKWIDGET_WEBHOOK_SECRETS": SECRET,
            "FEEDBACKWIDGET_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
            "FEEDBACKWIDGET_WEBHOOK_ALLOW_PRIVATE": "true",
            "FEEDBACKWIDGET_WEBHOOK_MILESTONES": ",".join(str(n) for n in range(1, VOTES + 1)),
            "FEEDBACKWIDGET_WEBHOOK_RETRY_BASE": "0.1",
            "FEEDBACKWIDGET_WEBHOOK_MAX_ATTEMPTS": "200",
            "FEEDBACKWIDGET_WEBHOOK_DIGEST_HOUR": "off",
        }
        env.pop("FEEDBACKWIDGET_REDIS_URL", None)
        servers = [ServeProcess(env, tmp_path / f"{n}.log", args=("--log-level", "warning")) for n in "ab"]
        try:
            for server in servers:
                server.start()
            for server in servers:
                server.wait_ready()
            receiver.failing = True
            asyncio.run(votes(servers, ARTICLES[:2], VOTES))
            receiver.wait_until(lambda r: r.attempts >= 2 * VOTES)  # refused on purpose, and retried
            receiver.stop()  # gone: connections refused
            asyncio.run(votes(servers, ARTICLES[2:], VOTES))
            receiver.failing = False
            receiver.start()
            expected = {message_id(f"milestone:{m}:{a}") for m in range(1, VOTES + 1) for a in ARTICLES}
            receiver.wait_until(lambda r: set(r.ids()) >= expected)
            deadline = time.monotonic() + 30
            while (status := asyncio.run(outbox(database))).pending:  # recorded just after the receiver answers
                assert time.monotonic() < deadline, status
                time.sleep(0.05)
            assert status.failed == 0
            ids = receiver.ids()
            assert sorted(ids) == sorted(expected)  # every event, none twice
            assert status.delivered == len(expected)
            assert receiver.rejected == 0
        finally:
            for server in servers:
                server.stop()
