"""LOG_FORMAT=json: one JSON object per line from a real ``serve``, with the vote's article and
outcome, and never an address or a token."""

from __future__ import annotations

import json
import logging
import secrets
import sys
from pathlib import Path

import httpx2
import pytest

from feedbackwidget import Settings
from feedbackwidget.errors import ConfigError
from feedbackwidget.fakecaptcha import FakeHCaptcha
from feedbackwidget.logs import JsonFormatter

from .helpers import EXPORT_TOKEN, SECRET, vote_body
from .processes import ServeProcess, serve_env


def test_json_lines_name_the_article_and_outcome_and_no_address_or_token(tmp_path: Path) -> None:
    article = "logged-" + secrets.token_hex(4)
    passed, failed = f"PASS-{secrets.token_hex(8)}", f"FAIL-{secrets.token_hex(8)}"
    with FakeHCaptcha() as fake:
        env = serve_env(fake.env(), f"sqlite:///{tmp_path / 'votes.db'}", log_format="json",
                        trusted_proxies="127.0.0.1")  # the refused reader's address is 203.0.113.9
        server = ServeProcess(env, tmp_path / "serve.log", args=("--access-log", "--workers", "1"))
        with server, httpx2.Client(base_url=server.url) as client:
            first = client.post("/api/v1/votes", json=vote_body(article, token=passed)).json()
            refused = client.post("/api/v1/votes", json=vote_body(article, token=failed),
                                  headers={"X-Forwarded-For": "203.0.113.9"})
            assert refused.status_code == 403
            voter = first["voter"]
            assert client.delete(f"/api/v1/votes/{article}", headers={"X-Feedback-Voter": voter}).status_code == 200
            assert client.get("/api/v1/export?format=csv", headers={"Authorization": f"Bearer {EXPORT_TOKEN}"}).is_success
            assert client.get("/healthz").status_code == 200
    text = server.output()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]  # each line is one object
    assert lines
    for line in lines:
        assert {"time", "level", "logger", "event"} <= set(line), line
        assert line["time"].endswith("Z")
    events = [(line["event"], line.get("article"), line.get("outcome")) for line in lines
              if line["logger"] == "feedbackwidget.events"]
    assert events == [("vote", article, "cast"), ("vote", article, "captcha_failed"), ("withdraw", article, "ok")]
    assert any(line["logger"] == "uvicorn.access" and line["event"] == f"DELETE /api/v1/votes/{article} 200"
               for line in lines)
    for secret in ("203.0.113.9", voter, passed, failed, SECRET, EXPORT_TOKEN, fake.secret):
        assert secret not in text
    # the only address is the server's own, in the line saying where it listens
    assert [line["event"] for line in lines if "127.0.0.1" in json.dumps(line)] == [
        f"Uvicorn running on {server.url} (Press CTRL+C to quit)"]


def test_an_exception_is_one_line_with_its_class() -> None:
    try:
        raise RuntimeError("first\nsecond")
    except RuntimeError:
        record = logging.LogRecord("feedbackwidget", logging.ERROR, __file__, 1, "failed %s", ("here",), sys.exc_info())
    line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert (parsed["level"], parsed["event"], parsed["error"]) == ("error", "failed here", "RuntimeError")
    assert "second" in parsed["traceback"]


def test_log_format_is_text_or_json() -> None:
    assert Settings(secret_key=SECRET, log_format=" JSON ").log_format == "json"
    assert Settings(secret_key=SECRET).log_format == "text"
    with pytest.raises(ConfigError, match="FEEDBACKWIDGET_LOG_FORMAT"):
        Settings(secret_key=SECRET, log_format="xml")
