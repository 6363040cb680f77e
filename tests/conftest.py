"""Shared fixtures: a loopback hCaptcha stand-in, real SQLite files, real servers."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.testclient import TestClient

from feedbackwidget import FeedbackWidget, Settings
from feedbackwidget.cli import server_options
from feedbackwidget.fakecaptcha import FakeHCaptcha

SECRET = "test-secret-key-0123456789abcdef"
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
EXPORT_TOKEN = "export-token-0123456789"


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where browser tests save their screenshots: docs/screenshots/ when
    FEEDBACKWIDGET_UPDATE_SCREENSHOTS=1 (to refresh the docs), else a temporary
    folder, so that a test run leaves the source tree as it found it."""
    if os.environ.get("FEEDBACKWIDGET_UPDATE_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return DOCS_SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="session")
def fake() -> Iterator[FakeHCaptcha]:
    with FakeHCaptcha() as server:
        yield server


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'votes.db'}"


@pytest.fixture
def make_settings(fake: FakeHCaptcha, db_url: str) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": db_url,
            "secret_key": SECRET,
            "export_token": EXPORT_TOKEN,
            "rate_limit": "1000/second",
            **fake.settings(),
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def widget(settings: Settings) -> FeedbackWidget:
    return FeedbackWidget(settings)


@pytest.fixture
def client(widget: FeedbackWidget) -> Iterator[TestClient]:
    with TestClient(widget, base_url="http://testserver") as c:
        yield c


class Served:
    """An app served by a real uvicorn on a loopback port, in a background thread."""

    def __init__(self, app: Any, settings: Settings) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        options = server_options(settings, host="127.0.0.1", port=self.port)
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", **options)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.run(self.server.serve(sockets=[self.sock]))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Served:
        self.thread.start()
        started = threading.Event()

        def check() -> None:
            while self.thread.is_alive() and not self.server.started:
                started.wait(0.01)  # polls a condition; the server sets no event of its own

        check()
        if not self.server.started:
            raise RuntimeError("uvicorn did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        self.sock.close()


@pytest.fixture
def serve() -> Callable[[Any, Settings], Served]:
    return Served


def vote_body(article: str = "article-1", vote: str = "up", token: str | None = None, **extra: Any) -> dict[str, Any]:
    import secrets

    return {"article_id": article, "vote": vote, "captcha_token": token or f"PASS-{secrets.token_hex(8)}", **extra}
