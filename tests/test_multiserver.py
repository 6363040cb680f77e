"""Two real ``feedbackwidget serve`` processes on one PostgreSQL database.

Hundreds of readers spread over both servers vote, read tallies and change
their minds through the *other* server; one server is SIGKILLed while requests
are in flight and started again. Every acknowledged vote must be there and the
tallies must be exact; directly and through PgBouncer in transaction mode. Needs
PostgreSQL (see tests/store/conftest.py for the variables) and pgbouncer; skips
saying so without them, unless FEEDBACKWIDGET_REQUIRE_POSTGRES=1.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from feedbackwidget.fakecaptcha import FakeHCaptcha

from .pgtools import PgBouncer, fresh_database
from .processes import ServeProcess

pytestmark = pytest.mark.postgres

EXPORT_TOKEN = "multiserver-export-token-0123"
READERS = 300
LOG_ARGS = ("--log-level", "warning")


@pytest.fixture(params=["direct", "pgbouncer"])
def database(request: pytest.FixtureRequest) -> Iterator[str]:
    """The database URL the servers get: PostgreSQL itself, or a real PgBouncer in transaction mode."""
    with fresh_database("fw_multi_") as url:
        if request.param == "direct":
            yield url
            return
        with PgBouncer("transaction") as bouncer:
            yield bouncer.url(urlsplit(url).path[1:])


async def vote(
    session: aiohttp.ClientSession, server: ServeProcess, article: str, value: str, voter: str | None = None
) -> dict[str, Any] | None:
    """One vote; the JSON answer when acknowledged, None when the server never answered."""
    headers = {"X-Feedback-Voter": voter} if voter else {}
    body = {"article_id": article, "vote": value, "captcha_token": f"PASS-{secrets.token_hex(12)}"}
    try:
        async with session.post(f"{server.url}/api/v1/votes", json=body, headers=headers) as r:
            if r.status != 200:
                assert r.status == 503, await r.text()  # store_unavailable while the other dies is allowed
                return None
            answer: dict[str, Any] = await r.json()
            return answer
    except (TimeoutError, aiohttp.ClientError):
        return None


async def tally(
    session: aiohttp.ClientSession, server: ServeProcess, article: str, voter: str | None = None
) -> dict[str, Any]:
    headers = {"X-Feedback-Voter": voter} if voter else {}
    async with session.get(f"{server.url}/api/v1/articles/{article}", headers=headers) as r:
        assert r.status == 200
        answer: dict[str, Any] = await r.json()
        return answer


async def export(session: aiohttp.ClientSession, server: ServeProcess, kind: str) -> list[dict[str, Any]]:
    import json

    headers = {"Authorization": f"Bearer {EXPORT_TOKEN}"}
    async with session.get(f"{server.url}/api/v1/export?format=ndjson&kind={kind}", headers=headers) as r:
        assert r.status == 200
        text = await r.text()
    return [json.loads(line) for line in text.splitlines() if line]


def test_two_servers_one_database_survive_a_sigkill(database: str, tmp_path: Path) -> None:
    with FakeHCaptcha(latency=0.02) as fake:
        env = {
            **os.environ,
            **fake.env(),
            "FEEDBACKWIDGET_DATABASE_URL": database + "?pool_max=8",
            "FEEDBACKWIDGET_SECRET_KEY": "multiserver-secret-" + secrets.token_hex(16),
            "FEEDBACKWIDGET_EXPORT_TOKEN": EXPORT_TOKEN,
            "FEEDBACKWIDGET_RATE_LIMIT": "100000/second",
        }
        env.pop("FEEDBACKWIDGET_REDIS_URL", None)
        servers = [ServeProcess(env, tmp_path / f"{n}.log", args=LOG_ARGS) for n in "ab"]
        try:
            for server in servers:
                server.start()
            asyncio.run(_scenario(servers))
        finally:
            for server in servers:
                server.stop()


async def _scenario(servers: list[ServeProcess]) -> None:
    a, b = servers
    connector = aiohttp.TCPConnector(limit=2 * READERS, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)
    jar = aiohttp.DummyCookieJar()  # readers identify themselves by header only
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, cookie_jar=jar) as session:
        await asyncio.gather(asyncio.to_thread(a.wait_ready), asyncio.to_thread(b.wait_ready))

        # 1. Hundreds of readers, spread over both servers, vote at once while others read.
        first_votes = [("up" if i % 3 else "down") for i in range(READERS)]
        acks = await asyncio.gather(
            *(vote(session, servers[i % 2], "hot", first_votes[i]) for i in range(READERS)),
            *(tally(session, servers[i % 2], "hot") for i in range(READERS)),
        )
        firsts = acks[:READERS]
        assert all(ack is not None and ack["changed"] for ack in firsts)
        voters = [ack["voter"] for ack in firsts if ack is not None]
        state = dict(zip(voters, first_votes, strict=True))  # last acknowledged vote of each reader
        assert len(set(voters)) == READERS

        # 2. Everyone changes their mind through the *other* server; b dies mid-load.
        #    Changes bound for b go out from a few busy workers, so that when b is
        #    killed some requests are mid-flight and the rest find it gone.
        flips = {v: ("down" if state[v] == "up" else "up") for v in voters}
        to_a = [v for i, v in enumerate(voters) if (i + 1) % 2 == 0]
        to_b = [v for i, v in enumerate(voters) if (i + 1) % 2 == 1]
        queue_b = list(reversed(to_b))
        b_acked = asyncio.Event()
        outcomes: list[tuple[str, dict[str, Any] | None]] = []
        cut_off = 0

        async def b_worker() -> None:
            nonlocal cut_off
            while queue_b:
                voter = queue_b.pop()
                started = b.process is not None and b.process.poll() is None
                answer = await vote(session, b, "hot", flips[voter], voter)
                outcomes.append((voter, answer))
                if answer is None and started and b_acked.is_set():
                    cut_off += 1
                if sum(1 for _, x in outcomes if x is not None) >= 60:
                    b_acked.set()

        async def to_server_a(voter: str) -> None:
            outcomes.append((voter, await vote(session, a, "hot", flips[voter], voter)))

        tasks = [asyncio.create_task(b_worker()) for _ in range(25)]
        tasks += [asyncio.create_task(to_server_a(v)) for v in to_a]
        await b_acked.wait()
        b.stop(signal.SIGKILL)  # no shutdown: requests in flight are cut off
        await asyncio.gather(*tasks)
        assert len(outcomes) == READERS
        assert cut_off > 0, "no request was in flight when b died; the test proved nothing"

        unanswered = [voter for voter, answer in outcomes if answer is None]
        for voter, answer in outcomes:
            if answer is not None:
                assert answer["vote"] == flips[voter]
                state[voter] = flips[voter]

        # 3. b comes back on the same database; the cut-off readers retry there until acknowledged.
        b.start()
        await asyncio.to_thread(b.wait_ready)
        retries = await asyncio.gather(*(vote(session, b, "hot", flips[v], v) for v in unanswered))
        for voter, answer in zip(unanswered, retries, strict=True):
            assert answer is not None and answer["vote"] == flips[voter]
            # Committed before the kill but never acknowledged: the retry is a no-op, not a second vote.
            state[voter] = flips[voter]

        # 4. Exact: both servers agree, and every acknowledged vote is the stored one.
        expected_up = sum(v == "up" for v in state.values())
        expected_down = sum(v == "down" for v in state.values())
        for server in servers:
            answer = await tally(session, server, "hot")
            assert (answer["up"], answer["down"]) == (expected_up, expected_down)
        own = await asyncio.gather(*(tally(session, servers[i % 2], "hot", v) for i, v in enumerate(voters)))
        assert [answer["your_vote"] for answer in own] == [state[v] for v in voters]
        stored = await export(session, a, "votes")
        assert len(stored) == READERS
        assert sorted(row["vote"] for row in stored) == sorted(state.values())
        history = await export(session, b, "events")
        assert sum(e["action"] == "cast" for e in history) == READERS
        assert sum(e["action"] == "change" for e in history) == READERS
        ids = [e["event_id"] for e in history]
        assert ids == sorted(set(ids))
