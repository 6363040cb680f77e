"""The command line through a real PgBouncer (Debian's 1.18), run as an operator would.

The issue's two inputs: ``migrate`` through PgBouncer in transaction mode, which
refused the store's startup parameter, and ``serve`` with that parameter ignored
by PgBouncer, which died on a prepared statement; and every start-up failure a
pooler can add, which must be one line naming its cause.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from feedbackwidget.fakecaptcha import FakeHCaptcha

from .pgtools import PgBouncer, free_port, fresh_database
from .test_cli import wait_for_health

pytestmark = pytest.mark.postgres

CLI = [sys.executable, "-m", "feedbackwidget.cli"]
SECRET = "pooler-cli-secret-0123456789abcdef"


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("FEEDBACKWIDGET_")}
    return {**base, "FEEDBACKWIDGET_SECRET_KEY": SECRET, **extra}


def run(args: list[str], cwd: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(CLI + args, env=env(**extra), cwd=cwd, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with fresh_database("fw_cli_pool_") as url:
        yield urlsplit(url).path[1:]


def documented_settings() -> dict[str, str | int | None]:
    """The ``[pgbouncer]`` settings of the pgbouncer.ini in docs/deployment.md, except where
    it listens and how it authenticates (the test's own)."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "deployment.md").read_text()
    block = text.split("```ini\n", 1)[1].split("```", 1)[0]
    section = block.split("[pgbouncer]", 1)[1]
    pairs = [line.split("=", 1) for line in section.splitlines() if "=" in line and not line.startswith(";")]
    skip = {"listen_addr", "listen_port", "auth_type", "auth_file"}
    return {name.strip(): value.strip() for name, value in pairs if name.strip() not in skip}


@pytest.mark.parametrize(
    "ignored", ["", "idle_in_transaction_session_timeout"], ids=["refusing-startup-parameters", "ignoring-one"]
)
def test_migrate_serve_and_export_through_transaction_pooling(
    ignored: str, database: str, tmp_path: Path, fake: FakeHCaptcha
) -> None:
    """With the documented pgbouncer.ini; as the issue found it, PgBouncer refusing the startup
    parameter the store sent, and ignoring it (where serve died on a prepared statement)."""
    article = f"pooled-{ignored or 'strict'}"
    documented = documented_settings()
    assert documented["pool_mode"] == "transaction"
    extra = {**documented, "ignore_startup_parameters": ignored or None}
    with PgBouncer(**extra) as bouncer:
        url = bouncer.url(database)
        migrated = run(["migrate", "--database-url", url], tmp_path)
        assert migrated.returncode == 0 and "up to date" in migrated.stdout, migrated.stderr

        port = free_port()
        log = tmp_path / "serve.log"
        with log.open("wb") as out:
            serve = subprocess.Popen(
                CLI + ["serve", "--port", str(port), "--database-url", url],
                env=env(**fake.env()), cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
            )
        try:
            wait_for_health(f"http://127.0.0.1:{port}", serve, log)
            vote = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/v1/votes",
                data=json.dumps({"article_id": article, "vote": "up", "captcha_token": f"PASS-{secrets.token_hex(8)}"}).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(vote, timeout=10) as answer:
                assert json.loads(answer.read())["sentiment"]["up"] == 1
        finally:
            serve.terminate()
            serve.wait(20)
        assert "Traceback" not in log.read_text(errors="replace")

        exported = run(["export", "--format", "ndjson", "--kind", "events", "--database-url", url], tmp_path)
        assert exported.returncode == 0, exported.stderr
        assert [json.loads(line)["article_id"] for line in exported.stdout.splitlines()].count(article) == 1


@pytest.fixture(scope="module")
def strict_bouncer(database: str) -> Iterator[PgBouncer]:
    """A PgBouncer that knows two databases (one whose server is down), lets in only
    the roles in its auth_file, and gives up on a server login after a second."""
    listed = f"fw_known = host=127.0.0.1 port=5432 dbname={database}\nfw_dead = host=127.0.0.1 port={free_port()}"
    with PgBouncer("transaction", databases=listed, auth_user=None, client_login_timeout=1) as bouncer:
        yield bouncer


FAILURES = {
    "unknown database in the pooler": (lambda b: b.url("fw_unknown_db"), "no such database"),
    "server behind the pooler down": (lambda b: b.url("fw_dead"), "server down"),
    "login refused by the pooler": (
        lambda b: b.url("fw_known").replace("postgres@", "fw_stranger:hunter2@"), "authentication failed"
    ),
    "pooler down": (lambda b: f"postgresql://postgres@127.0.0.1:{free_port()}/fw_known", "Connection refused"),
}


@pytest.mark.parametrize("command", ["migrate", "export", "serve"])
@pytest.mark.parametrize("failure", list(FAILURES))
def test_a_pooler_failure_at_start_up_is_one_line_naming_its_cause(
    failure: str, command: str, strict_bouncer: PgBouncer, tmp_path: Path
) -> None:
    make_url, cause = FAILURES[failure]
    url = make_url(strict_bouncer)
    args = {"migrate": ["migrate"], "export": ["export", "--format", "csv"], "serve": ["serve", "--port", "1"]}[command]
    result = run([*args, "--database-url", url], tmp_path)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert cause in lines[0], lines[0]
    for hidden in ("hunter2", "fw_stranger", "fw_unknown_db"):  # the server's words, without the URL's values
        assert hidden not in result.stderr + result.stdout
