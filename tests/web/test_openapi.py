"""The OpenAPI description: every route of the table is in it and nothing else, it is what the
server serves, and schemathesis finds no answer of a live server that breaks it."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest
from starlette.testclient import TestClient

from feedbackwidget.errors import ConfigError
from feedbackwidget.fakecaptcha import FakeHCaptcha
from feedbackwidget.web.errors import STATUS
from feedbackwidget.web.openapi import ERROR_CODES, description
from feedbackwidget.web.routes import ROUTES

from ..helpers import EXPORT_TOKEN, vote_body
from ..processes import ServeProcess, serve_env

#: The checks the issue asks for (schemathesis' names).
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
#: Test cases per operation and phase; FEEDBACKWIDGET_SCHEMATHESIS_EXAMPLES raises it for a longer hunt.
EXAMPLES = int(os.environ.get("FEEDBACKWIDGET_SCHEMATHESIS_EXAMPLES", "60"))
SEED = int(os.environ.get("FEEDBACKWIDGET_SCHEMATHESIS_SEED", "20261130"))


def route_table() -> set[tuple[str, str]]:
    """(method, OpenAPI path) of every route; HEAD comes with GET and is not listed."""
    return {
        (method, route.path.replace(":path}", "}"))
        for route in ROUTES
        for method in (route.methods or ())
        if method != "HEAD"
    }


def described() -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in description()["paths"].items() for method in item}


def test_every_route_is_described_and_nothing_else() -> None:
    assert described() == route_table()


def test_error_codes_are_every_code_a_request_can_get() -> None:
    """Every code the web layer answers with (a ConfigError stops start-up, it answers nothing)."""
    assert {cls.code for cls in STATUS if cls is not ConfigError} == set(ERROR_CODES)


def test_the_server_serves_the_description(client: TestClient) -> None:
    answer = client.get("/api/v1/openapi.json")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == json.loads(json.dumps(description()))
    assert answer.json()["openapi"] == "3.1.0"


@pytest.mark.parametrize("sites", [False, True], ids=["one-site", "two-sites"])
def test_schemathesis_finds_nothing_against_a_live_server(tmp_path: Path, sites: bool) -> None:
    """A real ``serve`` (SQLite, siteverify answered by the loopback stand-in) under every phase
    of schemathesis (examples, coverage, fuzzing, stateful), positive and negative data. The
    export token opens the token endpoints (the metrics token is the same string here, so one
    header opens both), and a real reader's voter token lets withdrawals, erasures and reasons
    get past the 401. ``two-sites``: the same server given two sites (docs/sites.md), whose
    ``site`` parameter schemathesis fills too."""
    more: dict[str, str] = {}
    if sites:
        path = tmp_path / "sites.toml"
        path.write_text('[[site]]\nid = "default"\nallowed_origins = ["https://north.example"]\n'
                        'reasons = ["inaccurate", "unclear"]\nreason_text = true\n\n'
                        '[[site]]\nid = "south"\nallowed_origins = ["https://south.example"]\n')
        more["sites_file"] = str(path)
    with FakeHCaptcha() as fake:
        env = serve_env(fake.env(), f"sqlite:///{tmp_path / 'votes.db'}", metrics_token=EXPORT_TOKEN,
                        rate_limit="1000000/second", reasons="inaccurate,unclear", reason_text="true", **more)
        with ServeProcess(env, tmp_path / "serve.log") as server:
            with httpx2.Client(base_url=server.url) as client:
                voted = client.post("/api/v1/votes", json=vote_body("st-" + secrets.token_hex(4), "down"))
                assert voted.status_code == 200, voted.text
            report = tmp_path / "report.json"
            done = subprocess.run(
                [
                    sys.executable, "-m", "schemathesis.cli", "run", f"{server.url}/api/v1/openapi.json",
                    "--url", server.url, "--checks", CHECKS, "--max-examples", str(EXAMPLES), "--seed", str(SEED),
                    "--workers", "1", "--no-color",
                    "-H", f"Authorization: Bearer {EXPORT_TOKEN}",
                    "-H", f"X-Feedback-Voter: {voted.json()['voter']}",
                    "--report", "json", "--report-json-path", str(report),
                ],
                capture_output=True, text=True, timeout=900, check=False, cwd=tmp_path,
            )
            log = server.output()
    found = json.loads(report.read_text())
    summary = f"operations {found['operations']}, test cases {found['test_cases']}"
    print(f"schemathesis (seed {SEED}, {EXAMPLES} examples): {summary}")
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert found["failures"] == [] and found["errors"] == [], summary
    operations = found["operations"]
    # (schemathesis' total is the operations it selected; /admin and /admin/ may count as one)
    assert operations["tested"] == operations["total"] >= len(route_table()) - 1, summary
    assert found["test_cases"]["generated"] >= 20 * len(route_table()), summary
    assert "unexpected error" not in log
