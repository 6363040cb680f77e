"""Nothing accepted is lost when the server stops, whether or not the host app runs the
widget's lifespan: refused-attempt counts that were answered are in the store.

A host Starlette app mounts the widget (with and without ``lifespan=widget.lifespan``)
under a real uvicorn process; one good vote and refused attempts of three kinds; then
SIGTERM (uvicorn re-raises it after its own shutdown, so no loop clean-up runs) or SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from feedbackwidget.fakecaptcha import FakeHCaptcha

from .processes import ServeProcess

HOST_APP = """
from starlette.applications import Starlette
from starlette.routing import Mount
from feedbackwidget import FeedbackWidget, Settings

widget = FeedbackWidget(Settings.from_env())
with_lifespan = Starlette(routes=[Mount("/feedback", app=widget)], lifespan=widget.lifespan)
without_lifespan = Starlette(routes=[Mount("/feedback", app=widget)])
"""


def post(url: str, body: dict[str, str], headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


@pytest.mark.parametrize("app", ["without_lifespan", "with_lifespan"])
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
def test_answered_refusals_survive_the_stop(tmp_path: Path, app: str, stop: signal.Signals) -> None:
    (tmp_path / "host.py").write_text(HOST_APP)
    database = tmp_path / "votes.db"
    with FakeHCaptcha() as fake:
        env = {
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])),
            **fake.env(),
            "FEEDBACKWIDGET_DATABASE_URL": f"sqlite:///{database}",
            "FEEDBACKWIDGET_SECRET_KEY": "shutdown-secret-" + "x" * 20,
        }
        argv = [sys.executable, "-m", "uvicorn", f"host:{app}", "--port", "{port}", "--log-level", "warning"]
        server = ServeProcess(env, tmp_path / "server.log", argv=argv, health="/feedback/healthz").start()
        try:
            server.wait_ready()
            votes = server.url + "/feedback/api/v1/votes"
            assert post(votes, {"article_id": "a", "vote": "up", "captcha_token": "PASS-ok"}) == 200
            for n in range(3):
                assert post(votes, {"article_id": "a", "vote": "up", "captcha_token": f"FAIL-{n}"}) == 403
            assert post(votes, {"article_id": "a", "vote": "up"}) == 400
            assert post(votes, {"article_id": "a", "vote": "up", "captcha_token": "PASS-x"},
                        {"Origin": "https://evil.example"}) == 403
        finally:
            status = server.stop(stop)
    assert status is not None
    with sqlite3.connect(database) as db:
        counts = dict(db.execute("SELECT kind, sum(count) FROM refusals GROUP BY kind").fetchall())
        assert db.execute("SELECT count(*) FROM votes").fetchone() == (1,)
    assert counts == {"captcha_failed": 3, "captcha_required": 1, "forbidden_origin": 1}
