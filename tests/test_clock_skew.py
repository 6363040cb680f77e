"""Servers whose clocks disagree: one reader stays one reader, and the tally stays exact.

Two real ``feedbackwidget serve`` processes share one store (a SQLite file, or
a PostgreSQL database); one runs with its clock shifted by ``faketime``. A
reader votes on one server and changes their mind, withdraws or signs in to
the dashboard on the other, in both directions. Every signed token must be
accepted across clocks up to five minutes apart (CONTRACT.md, "Additions").
"""

from __future__ import annotations

import email.utils
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from feedbackwidget.fakecaptcha import FakeHCaptcha

from .pgtools import fresh_database
from .processes import ServeProcess, faketime_or_skip

EXPORT_TOKEN = "skew-export-token-0123456789"


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'votes.db'}"
    else:
        with fresh_database("fw_skew_") as url:
            yield url


@pytest.fixture
def env(database: str) -> Iterator[dict[str, str]]:
    with FakeHCaptcha() as fake:
        yield {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            **fake.env(),
            "FEEDBACKWIDGET_DATABASE_URL": database,
            "FEEDBACKWIDGET_SECRET_KEY": "skew-secret-" + secrets.token_hex(16),
            "FEEDBACKWIDGET_EXPORT_TOKEN": EXPORT_TOKEN,
            # RATE_LIMIT stays at its default (30/minute): all readers here share one address, and
            # the shared limit must not lock a reader out for as long as the clocks are apart.
        }


def vote(client: httpx2.Client, server: ServeProcess, article: str, value: str, voter: str | None) -> dict[str, Any]:
    headers = {"X-Feedback-Voter": voter} if voter else {}
    body = {"article_id": article, "vote": value, "captcha_token": f"PASS-{secrets.token_hex(8)}"}
    answer = client.post(server.url + "/api/v1/votes", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


def clock_of(client: httpx2.Client, server: ServeProcess) -> float:
    """The server's wall clock, from its Date header (to prove the shift is real)."""
    date = client.get(server.url + "/healthz").headers["date"]
    return email.utils.parsedate_to_datetime(date).timestamp()


@pytest.mark.parametrize("offset", [5, 290])
def test_a_reader_keeps_one_identity_across_servers_with_different_clocks(
    env: dict[str, str], tmp_path: Path, offset: int
) -> None:
    faketime_or_skip()
    fast = ServeProcess(env, tmp_path / "fast.log", clock_offset=offset)
    steady = ServeProcess(env, tmp_path / "steady.log")
    with fast, steady, httpx2.Client(timeout=30) as client:
        assert clock_of(client, fast) - clock_of(client, steady) >= offset - 2, "faketime did not shift the clock"

        # The handed case: Yes on the fast server, then No on the other with the token it gave.
        first = vote(client, fast, "a", "up", None)
        second = vote(client, steady, "a", "down", first["voter"])
        assert second["changed"] is True
        assert second["voter"] == first["voter"], "the reader's identity was replaced"
        assert (second["sentiment"]["up"], second["sentiment"]["down"], second["sentiment"]["total"]) == (0, 1, 1)
        assert second["sentiment"]["your_vote"] == "down"

        # The other direction: cast on the steady server, changed on the fast one.
        third = vote(client, steady, "b", "down", None)
        fourth = vote(client, fast, "b", "up", third["voter"])
        assert fourth["voter"] == third["voter"]
        assert (fourth["sentiment"]["up"], fourth["sentiment"]["total"]) == (1, 1)

        # The first vote can still be withdrawn, on either server.
        headers = {"X-Feedback-Voter": first["voter"]}
        withdrawn = client.delete(steady.url + "/api/v1/votes/a", headers=headers)
        assert withdrawn.status_code == 200, withdrawn.text
        assert withdrawn.json()["sentiment"]["total"] == 0
        again = client.delete(fast.url + "/api/v1/votes/a", headers=headers)
        assert again.status_code == 404  # recognised, and there is nothing left to withdraw

        # The reader's own view on the steady server names the fast server's reader.
        own = client.get(steady.url + "/api/v1/articles/b", headers={"X-Feedback-Voter": third["voter"]})
        assert own.json()["your_vote"] == "up"

        events = client.get(
            fast.url + "/api/v1/export?format=ndjson&kind=events", headers={"Authorization": f"Bearer {EXPORT_TOKEN}"}
        )
        actions = [line.split('"action":"')[1].split('"')[0] for line in events.text.splitlines()]
        assert sorted(actions) == ["cast", "cast", "change", "change", "withdraw"]


def test_dashboard_session_signed_on_a_fast_server_is_good_on_a_slow_one(env: dict[str, str], tmp_path: Path) -> None:
    faketime_or_skip()
    fast = ServeProcess(env, tmp_path / "fast.log", clock_offset=290)
    steady = ServeProcess(env, tmp_path / "steady.log")
    with fast, steady, httpx2.Client(timeout=30) as client:
        signed_in = client.post(fast.url + "/admin/login", data={"token": EXPORT_TOKEN})
        assert signed_in.status_code == 303
        cookie = signed_in.cookies["feedbackwidget_admin"]
        client.cookies.clear()
        page = client.get(steady.url + "/admin", headers={"Accept": "text/html", "Cookie": f"feedbackwidget_admin={cookie}"})
        assert page.status_code == 200
        assert "sign-out" in page.text.lower() or "sign out" in page.text.lower()


def test_too_far_apart_is_said_in_the_log(env: dict[str, str], tmp_path: Path) -> None:
    """Beyond the tolerance a token is refused, and the operator is told why."""
    faketime_or_skip()
    fast = ServeProcess(env, tmp_path / "fast.log", clock_offset=360)
    steady = ServeProcess(env, tmp_path / "steady.log")
    with fast, steady, httpx2.Client(timeout=30) as client:
        first = vote(client, fast, "a", "up", None)
        vote(client, steady, "a", "down", first["voter"])
        deadline = time.monotonic() + 10
        while "clocks disagree" not in steady.output() and time.monotonic() < deadline:
            time.sleep(0.05)  # the log is written by another process: poll the condition
        assert "clocks disagree" in steady.output()
        assert first["voter"] not in steady.output()
