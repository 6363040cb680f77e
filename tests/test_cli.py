"""The command line, run as a reader would run it: real processes, real ports."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from feedbackwidget.fakecaptcha import FakeHCaptcha

from .helpers import EXPORT_TOKEN, SECRET, free_port

CLI = [sys.executable, "-m", "feedbackwidget.cli"]


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("FEEDBACKWIDGET_")}
    return {**base, **extra}


def run(args: list[str], environ: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(CLI + args, env=environ, cwd=cwd, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({}, "FEEDBACKWIDGET_SECRET_KEY"),
        ({"FEEDBACKWIDGET_SECRET_KEY": "k", "FEEDBACKWIDGET_RATE_LIMIT": "lots"}, "FEEDBACKWIDGET_RATE_LIMIT"),
        ({"FEEDBACKWIDGET_SECRET_KEY": "k", "FEEDBACKWIDGET_DATABASE_URL": "mysql://x"}, "FEEDBACKWIDGET_DATABASE_URL"),
        ({"FEEDBACKWIDGET_SECRET_KEY": "k", "FEEDBACKWIDGET_HCAPTCHA_TIMEOUT": "-1"}, "FEEDBACKWIDGET_HCAPTCHA_TIMEOUT"),
        ({"FEEDBACKWIDGET_SECRET_KEY": "k", "FEEDBACKWIDGET_ALLOWED_ORIGINS": "news.example"}, "FEEDBACKWIDGET_ALLOWED_ORIGINS"),
        ({"FEEDBACKWIDGET_SECRET_KEY": "k", "FEEDBACKWIDGET_TRUSTED_PROXIES": "proxy"}, "FEEDBACKWIDGET_TRUSTED_PROXIES"),
    ],
)
def test_bad_settings_stop_serve_with_one_line(tmp_path: Path, variables: dict[str, str], named: str) -> None:
    result = run(["serve", "--port", "1"], env(**variables), tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "feedbackwidget.db").exists()


def test_secrets_never_appear_in_errors(tmp_path: Path) -> None:
    result = run(["serve"], env(FEEDBACKWIDGET_SECRET_KEY="s3cr3t-value", FEEDBACKWIDGET_HCAPTCHA_SECRET="hc-s3cr3t",
                                FEEDBACKWIDGET_RATE_LIMIT="nope"), tmp_path)
    assert result.returncode == 2
    assert "s3cr3t" not in result.stderr + result.stdout


def test_migrate_is_idempotent_and_export_matches_the_api(tmp_path: Path, fake: FakeHCaptcha) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    for _ in range(2):
        result = run(["migrate", "--database-url", url], env(), tmp_path)
        assert result.returncode == 0, result.stderr
    from starlette.testclient import TestClient

    from feedbackwidget import FeedbackWidget, Settings

    widget = FeedbackWidget(Settings(database_url=url, secret_key=SECRET, export_token=EXPORT_TOKEN, **fake.settings()))
    with TestClient(widget) as client:
        for i in range(7):
            client.cookies.clear()
            client.post("/api/v1/votes", json={"article_id": f"=cmd{i % 2}", "vote": "up", "captcha_token": f"PASS-cli-{i}"})
        for kind in ("votes", "events", "articles", "daily"):
            for fmt in ("csv", "ndjson"):
                api = client.get(f"/api/v1/export?kind={kind}&format={fmt}", headers={"Authorization": f"Bearer {EXPORT_TOKEN}"})
                out = tmp_path / f"{kind}.{fmt}"
                result = run(["export", "--format", fmt, "--kind", kind, "--database-url", url, "--output", str(out)], env(), tmp_path)
                assert result.returncode == 0, result.stderr
                assert out.read_bytes() == api.content
    assert b"'=cmd0" in (tmp_path / "votes.csv").read_bytes()
    assert b'"=cmd0"' in (tmp_path / "votes.ndjson").read_bytes()


def wait_for_health(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Wait, bounded, for the condition "healthz answers 200" (or the process dying)."""
    for _ in range(600):
        if proc.poll() is not None:
            raise RuntimeError(f"serve exited: {log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(0.05)  # returns early if the process exits
    raise RuntimeError("serve did not become healthy")


@pytest.fixture
def served_cli(tmp_path: Path, fake: FakeHCaptcha) -> Iterator[str]:
    port = free_port()
    environ = env(FEEDBACKWIDGET_SECRET_KEY=SECRET, FEEDBACKWIDGET_RATE_LIMIT="2/minute", **fake.env())
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            CLI + ["serve", "--port", str(port), "--database-url", f"sqlite:///{tmp_path / 'served.db'}"],
            env=environ, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(url, proc, log)
        yield url
    finally:
        proc.terminate()
        proc.wait(20)


def test_serve_does_not_believe_forwarded_for_from_loopback(served_cli: str) -> None:
    """uvicorn's own default would take X-Forwarded-For from 127.0.0.1 as the client."""
    statuses = []
    for i, address in enumerate(["1.1.1.1", "2.2.2.2", "3.3.3.3"]):
        request = urllib.request.Request(
            f"{served_cli}/api/v1/votes",
            data=json.dumps({"article_id": "s", "vote": "up", "captcha_token": f"PASS-serve-{i}"}).encode(),
            headers={"Content-Type": "application/json", "X-Forwarded-For": address},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                statuses.append(r.status)
        except urllib.error.HTTPError as error:
            statuses.append(error.code)
            assert json.loads(error.read())["error"] == "rate_limited"
            assert int(error.headers["Retry-After"]) >= 1
    assert statuses == [200, 200, 429]


@pytest.mark.parametrize(
    ("args", "status"),
    [
        (["migrate", "--database-url", "postgresql://postgres@127.0.0.1:5432/no_such_database_fw"], 1),
        (["migrate", "--database-url", "postgresql://no_such_role_fw@127.0.0.1:5432/postgres"], 1),
        (["migrate", "--database-url", "postgresql://postgres@127.0.0.1:abc/postgres"], 2),
        (["migrate", "--database-url", "sqlite:///"], 2),
        (["export", "--format", "csv", "--output", "/nonexistent-dir/x.csv"], 1),
    ],
)
def test_operational_problems_are_one_line_too(tmp_path: Path, args: list[str], status: int) -> None:
    result = run(args, env(), tmp_path)
    assert result.returncode == status, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr, result.stderr


def test_an_unknown_variable_is_one_warning_line_and_work_goes_on(tmp_path: Path) -> None:
    result = run(["migrate"], env(FEEDBACKWIDGET_ALLOWED_ORIGIN="https://news.example"), tmp_path)
    assert result.returncode == 0, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "FEEDBACKWIDGET_ALLOWED_ORIGIN " in line and "FEEDBACKWIDGET_ALLOWED_ORIGINS" in line
