"""Shared fixtures: a loopback hCaptcha stand-in, real SQLite files, real servers."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from feedbackwidget import FeedbackWidget, Settings
from feedbackwidget.fakecaptcha import FakeHCaptcha

from .helpers import DOCS_SCREENSHOTS, EXPORT_TOKEN, SECRET, Served


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




@pytest.fixture
def serve() -> Callable[[Any, Settings], Served]:
    return Served


