"""SQLite and PostgreSQL, fed the same random history, must answer every question alike."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from typing import Any

import pytest

from feedbackwidget.store.base import EXPORT_COLUMNS
from feedbackwidget.types import Cast

from .backends import side_by_side

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

T0 = dt.datetime(2026, 3, 1, 20, 0, tzinfo=dt.UTC)


async def everything(store: Any, articles: list[str], voters: list[str]) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for kind in EXPORT_COLUMNS:
        answers[kind] = [row async for batch in store.export(kind) for row in batch]
    answers["after"] = [row async for batch in store.export("events", after=5) for row in batch]
    answers["window"] = [
        row
        async for batch in store.export("votes", since=T0 + dt.timedelta(hours=2), until=T0 + dt.timedelta(hours=9))
        for row in batch
    ]
    for order in ("wilson", "total", "recent"):
        answers[order] = await store.articles(order, 100, 0)
        answers[order + "-page"] = await store.articles(order, 2, 1)
    for article in [*articles, "never"]:
        answers["tally " + article] = await store.tally(article)
        answers["versions " + article] = await store.versions(article)
        answers["daily " + article] = await store.daily(article, None, None)
        for voter in voters:
            answers[f"vote {article} {voter}"] = await store.vote_of(article, voter)
    return answers


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_same_history_same_answers(seed: int, pg_url: str, tmp_path: Any) -> None:
    async with side_by_side(pg_url, tmp_path, f"agree_{seed}") as stores:
        rng = random.Random(seed)
        articles = ["a", "b", "Z", "é", "a b"]
        voters = [f"v{i}" for i in range(8)]
        at = T0
        outcomes: list[list[Any]] = [[], []]
        for _ in range(250):
            at += dt.timedelta(minutes=rng.randrange(0, 90))
            roll = rng.random()
            if roll < 0.75:
                op: Any = (
                    "cast",
                    Cast(
                        rng.choice(articles),
                        rng.choice(voters),
                        rng.choice(["up", "down"]),
                        at,
                        version=rng.choice([None, "r1", "r2"]),
                        title=rng.choice([None, "", "Title one", "Title two", "=cmd"]),
                        title_trusted=rng.random() < 0.3,
                    ),
                )
            elif roll < 0.95:
                op = ("withdraw", rng.choice(articles), rng.choice(voters), at)
            else:
                op = ("erase", rng.choice(voters), at)
            for i, store in enumerate(stores):
                result = await getattr(store, op[0])(*op[1:])
                outcomes[i].append(sorted(result) if op[0] == "erase" else result)
        assert outcomes[0] == outcomes[1]
        sqlite_answers, pg_answers = await asyncio.gather(
            everything(stores[0], articles, voters), everything(stores[1], articles, voters)
        )
        for key in sqlite_answers:
            assert sqlite_answers[key] == pg_answers[key], key
