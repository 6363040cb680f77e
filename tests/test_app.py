"""The app's life cycle and public surface."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Callable
from pathlib import Path

import httpx2

import feedbackwidget
from feedbackwidget import FeedbackWidget, Settings
from feedbackwidget.store import Store, open_store

ROOT = Path(__file__).resolve().parents[1]


class CountingStores:
    """A store factory that records every store it builds (a collaborator, injected)."""

    def __init__(self) -> None:
        self.built: list[Store] = []

    def __call__(self, settings: Settings) -> Store:
        store = open_store(settings.database_url)
        self.built.append(store)
        return store


def test_lazy_open_is_once_per_loop_and_race_free(settings: Settings) -> None:
    stores = CountingStores()
    widget = FeedbackWidget(settings, store_factory=stores)

    async def burst() -> list[int]:
        transport = httpx2.ASGITransport(app=widget)
        async with httpx2.AsyncClient(transport=transport, base_url="http://t") as client:
            answers = await asyncio.gather(*(client.get(f"/api/v1/articles/a{i}") for i in range(50)))
        return [a.status_code for a in answers]

    assert asyncio.run(burst()) == [200] * 50
    assert len(stores.built) == 1
    # the loop has shut down: the runtime it opened was closed with it
    assert getattr(stores.built[0], "_writer", "closed") is None
    assert asyncio.run(burst()) == [200] * 50  # a new loop gets its own
    assert len(stores.built) == 2


def test_host_lifespan_opens_once_and_closes(settings: Settings) -> None:
    stores = CountingStores()
    widget = FeedbackWidget(settings, store_factory=stores)

    async def scenario() -> int:
        async with widget.lifespan(None):
            transport = httpx2.ASGITransport(app=widget)
            async with httpx2.AsyncClient(transport=transport, base_url="http://t") as client:
                statuses = [(await client.get("/healthz")).status_code for _ in range(5)]
            assert statuses == [200] * 5
            return len(stores.built)

    assert asyncio.run(scenario()) == 1
    assert getattr(stores.built[0], "_writer", "closed") is None


def test_public_surface_is_explicit() -> None:
    assert sorted(feedbackwidget.__all__) == sorted(
        name for name in vars(feedbackwidget) if not name.startswith("_") and name not in {"annotations"}
        and not isinstance(getattr(feedbackwidget, name), type(feedbackwidget))
    )


def test_every_setting_is_documented_in_readme_and_contract_names(make_settings: Callable[..., Settings]) -> None:
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", readme, flags=re.M))
    names = {f.name.upper() for f in dataclasses.fields(Settings) if f.init and f.name != "demo"}
    assert names == documented


def test_every_cli_command_is_in_the_readme() -> None:
    from feedbackwidget.cli import parser

    readme = (ROOT / "README.md").read_text()
    commands = parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name, sub in commands.items():
        assert f"feedbackwidget {name}" in readme
        for action in sub._actions:
            for option in action.option_strings:
                if option.startswith("--") and option not in ("--help", "--log-level", "--access-log"):
                    assert option in readme, f"{name} {option} is not documented"
