"""The reference deployment (examples/deployment), started for real and driven from a
cross-site publisher page in Chromium with third-party cookies blocked.

nginx terminates TLS and serves the widget under /feedback (stripping the prefix); two
``feedbackwidget serve`` processes behind it, one with its clock shifted by faketime;
PgBouncer in transaction mode; PostgreSQL; Redis. A reader votes, reloads, changes their
mind and withdraws, in the script widget and in the iframe embed; the tallies must equal
the acknowledged votes, with nothing counted twice and both servers having served votes.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import ssl
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from feedbackwidget import Settings
from feedbackwidget.fakecaptcha import FakeHCaptcha

from .helpers import Served
from .pgtools import fresh_database

pytestmark = [pytest.mark.browser, pytest.mark.postgres]
playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "deployment" / "stack.py"
REQUIRED = ("nginx", "pgbouncer", "openssl", "faketime", "chromium")
CLOCK_OFFSET = 120  # seconds the second app server's clock runs ahead


def load_stack_module() -> Any:
    spec = importlib.util.spec_from_file_location("deployment_stack", EXAMPLE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def missing_tools() -> list[str]:
    return [tool for tool in REQUIRED if not (shutil.which(tool) or Path(f"/usr/sbin/{tool}").exists())]


@pytest.fixture
def publisher() -> Iterator[tuple[Served, dict[str, str]]]:
    pages: dict[str, str] = {}

    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(pages[request.path_params["name"]], headers={"Cache-Control": "no-store"})

    app = Starlette(routes=[Route("/news/{name}", page)])
    with Served(app, Settings(secret_key="unused-" + "x" * 24)) as served:
        yield served, pages


class Api:
    """The deployment's HTTP API as an analyst's script sees it: through nginx, over TLS."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token
        self.context = ssl.create_default_context()
        self.context.check_hostname, self.context.verify_mode = False, ssl.CERT_NONE  # self-signed

    def get(self, path: str) -> bytes:
        request = urllib.request.Request(self.base + path, headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(request, timeout=10, context=self.context) as answer:
            body: bytes = answer.read()
            return body

    def tally(self, article: str) -> tuple[int, int]:
        answer = json.loads(self.get(f"/api/v1/articles/{article}"))
        return answer["up"], answer["down"]

    def rows(self, kind: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.get(f"/api/v1/export?format=ndjson&kind={kind}").splitlines()]


def test_reference_deployment_from_a_cross_site_page(publisher: tuple[Served, dict[str, str]]) -> None:
    if missing_tools():
        message = f"the reference deployment needs {', '.join(missing_tools())} (Debian packages; .ci/run installs them)"
        if os.environ.get("FEEDBACKWIDGET_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    with fresh_database("fw_deploy_probe_"):
        pass  # PostgreSQL reachable (or the test skips or fails, as every PostgreSQL test does)
    served, pages = publisher
    page_origin = f"http://localhost:{served.port}"
    stack_module = load_stack_module()
    with FakeHCaptcha() as fake:
        stack = stack_module.Stack(fake.env(), allowed_origins=page_origin, clock_offset=CLOCK_OFFSET, access_log=True)
        with stack:
            api = Api(stack.public_url, stack.export_token)
            pages["story"] = (
                '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Story</title></head><body>'
                '<main><p>Story text.</p><div data-feedback-article="deploy-script"></div>'
                f'<iframe src="{stack.public_url}/embed/deploy-frame" title="Reader feedback" width="520" height="190">'
                f'</iframe></main><script src="{stack.public_url}/widget.js" async></script></body></html>'
            )
            _read_vote_reload_change_withdraw(f"{page_origin}/news/story")
            assert api.tally("deploy-script") == (1, 0)
            assert api.tally("deploy-frame") == (0, 1)
            votes = api.rows("votes")
            assert sorted((v["article_id"], v["vote"]) for v in votes) == [("deploy-frame", "down"),
                                                                             ("deploy-script", "up")]
            events = api.rows("events")
            casts = [e for e in events if e["action"] == "cast"]
            # One reader per widget: exactly one cast each, however many servers and reloads.
            assert sorted(e["article_id"] for e in casts) == ["deploy-frame", "deploy-frame", "deploy-script",
                                                                "deploy-script"]
            assert sum(e["action"] == "withdraw" for e in events) == 2
            voters = {(e["article_id"], e["voter"]) for e in events}
            assert len(voters) == 2, "a reader was given a second identity"
            served_by = [stack.vote_requests(n) for n in (1, 2)]
        assert all(count > 0 for count in served_by), f"votes per server: {served_by}"


def _read_vote_reload_change_withdraw(url: str) -> None:
    from .browser.harness import CHROMIUM_ARGS, chromium_path

    executable = chromium_path()
    assert executable is not None
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=executable, args=[*CHROMIUM_ARGS, "--test-third-party-cookie-phaseout"]
        )
        try:
            context = browser.new_context(ignore_https_errors=True)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(url)
            _script_widget(page)
            _iframe_widget(page)
            assert errors == []
        finally:
            browser.close()


def _script_widget(page: Any) -> None:
    w = page.locator('[data-feedback-article="deploy-script"]')
    yes, no = (w.get_by_role("button", name=n, exact=True) for n in ("Yes", "No"))
    yes.click()
    expect(w.locator(".fw-t")).to_have_text("Yes: 1 · No: 0")
    page.reload()
    expect(yes).to_have_attribute("aria-pressed", "true")  # recognised after a reload
    no.click()
    expect(w.locator(".fw-t")).to_have_text("Yes: 0 · No: 1")  # moved, not added
    w.get_by_role("button", name="Withdraw vote").click()
    expect(w.locator(".fw-t")).to_have_text("Yes: 0 · No: 0")
    yes.click()
    expect(w.locator(".fw-t")).to_have_text("Yes: 1 · No: 0")


def _iframe_widget(page: Any) -> None:
    frame = page.frame_locator("iframe")
    yes, no = (frame.get_by_role("button", name=n, exact=True) for n in ("Yes", "No"))
    yes.click()
    expect(frame.locator(".fw-t")).to_have_text("Yes: 1 · No: 0")
    page.reload()
    frame = page.frame_locator("iframe")
    yes, no = (frame.get_by_role("button", name=n, exact=True) for n in ("Yes", "No"))
    expect(yes).to_have_attribute("aria-pressed", "true")  # recognised inside the cross-site frame
    no.click()
    expect(frame.locator(".fw-t")).to_have_text("Yes: 0 · No: 1")
    frame.get_by_role("button", name="Withdraw vote").click()
    expect(frame.locator(".fw-t")).to_have_text("Yes: 0 · No: 0")
    no.click()
    expect(frame.locator(".fw-t")).to_have_text("Yes: 0 · No: 1")
