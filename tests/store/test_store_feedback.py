"""One article's summary, reasons after a "No" and refused attempts, on every
backend (see conftest.py): the same questions must get the same answers."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest

from feedbackwidget.store.base import EXPORT_COLUMNS, Row
from feedbackwidget.types import Cast

from .backends import Backend, side_by_side

pytestmark = pytest.mark.anyio

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
D1 = dt.date(2026, 3, 1)
D2 = dt.date(2026, 3, 2)
D3 = dt.date(2026, 3, 3)


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


async def collect(store: Any, kind: Any, **filters: Any) -> list[Row]:
    return [row async for batch in store.export(kind, **filters) for row in batch]


def short(rows: list[Row]) -> list[tuple[Any, ...]]:
    return [tuple(r.values()) for r in rows]


# -- one article ----------------------------------------------------------------


async def test_article_summary(store: Any) -> None:
    assert await store.article("a") is None
    await store.cast(Cast("a", "v1", "up", at(0), title="First"))
    await store.cast(Cast("a", "v2", "down", at(5)))
    await store.cast(Cast("a", "v3", "up", at(9), title="Ignored, not trusted"))
    await store.cast(Cast("b", "v1", "down", at(20)))
    await store.withdraw("a", "v3", at(30))  # a withdrawal is not a vote: last_vote_at stays
    summary = await store.article("a")
    assert summary is not None
    assert (summary.article_id, summary.title, summary.up, summary.down) == ("a", "First", 1, 1)
    assert (summary.first_vote_at, summary.last_vote_at) == (at(0), at(9))
    # The same numbers as the listing shows.
    [listed] = [s for s in await store.articles("total", 10, 0) if s.article_id == "a"]
    assert listed == summary
    assert await store.article("A") is None  # ids are exact, not case-folded


async def test_article_whose_votes_were_all_withdrawn_is_still_known(store: Any) -> None:
    await store.cast(Cast("a", "v1", "down", at(0)))
    await store.withdraw("a", "v1", at(1))
    summary = await store.article("a")
    assert summary is not None
    assert (summary.up, summary.down, summary.first_vote_at, summary.last_vote_at) == (0, 0, at(0), at(0))


# -- reasons -------------------------------------------------------------------


async def test_a_reason_needs_a_current_down_vote(store: Any) -> None:
    assert await store.set_reason("a", "v1", "unclear", None, at(1)) is False  # no vote at all
    await store.cast(Cast("a", "v1", "up", at(0)))
    assert await store.set_reason("a", "v1", "unclear", None, at(1)) is False  # an "up" vote
    await store.cast(Cast("a", "v2", "down", at(2), version="r1"))
    assert await store.set_reason("a", "v1", "unclear", None, at(3)) is False
    assert await store.set_reason("b", "v2", "unclear", None, at(3)) is False  # another article
    assert await collect(store, "reasons") == []

    assert await store.set_reason("a", "v2", "biased", "One-sided.", at(4)) is True
    [row] = await collect(store, "reasons")
    assert tuple(row) == EXPORT_COLUMNS["reasons"]
    assert row == {
        "article_id": "a", "voter": "v2", "reason": "biased", "reason_text": "One-sided.",
        "updated_at": at(4), "article_version": "r1",
    }
    # The vote itself is untouched apart from updated_at; no event, counts unchanged.
    votes = await collect(store, "votes")
    assert [tuple(v) for v in votes] == [EXPORT_COLUMNS["votes"]] * 2
    [v2] = [v for v in votes if v["voter"] == "v2"]
    assert (v2["vote"], v2["created_at"], v2["updated_at"]) == ("down", at(2), at(4))
    assert len(await collect(store, "events")) == 2
    tally = await store.tally("a")
    assert (tally.up, tally.down) == (1, 1)

    # A second reason replaces the first (text too, also with None).
    assert await store.set_reason("a", "v2", "unclear", None, at(5)) is True
    assert short(await collect(store, "reasons")) == [("a", "v2", "unclear", None, at(5), "r1")]


async def test_a_vote_changed_to_up_loses_its_reason(store: Any) -> None:
    await store.cast(Cast("a", "v1", "down", at(0)))
    await store.cast(Cast("a", "v2", "down", at(0)))
    assert await store.set_reason("a", "v1", "unclear", "Why?", at(1))
    assert await store.set_reason("a", "v2", "too_long", None, at(1))
    # Repeating the same vote changes nothing, the reason stays.
    assert (await store.cast(Cast("a", "v1", "down", at(2)))).changed is False
    assert [r["voter"] for r in await collect(store, "reasons")] == ["v1", "v2"]

    await store.cast(Cast("a", "v1", "up", at(3)))
    assert [r["voter"] for r in await collect(store, "reasons")] == ["v2"]
    assert await store.reason_texts("a", 10) == []
    assert await store.reasons("a", None, None) == [{"article_id": "a", "reason": "too_long", "count": 1}]
    # Back to "down": the old reason does not come back.
    await store.cast(Cast("a", "v1", "down", at(4)))
    assert [r["voter"] for r in await collect(store, "reasons")] == ["v2"]
    assert await store.set_reason("a", "v1", "other", None, at(5))
    # Withdrawing or erasing removes the vote and so its reason.
    await store.withdraw("a", "v1", at(6))
    await store.erase("v2", at(7))
    assert await collect(store, "reasons") == []
    assert await store.reasons(None, None, None) == []


async def test_reasons_are_counted_per_article_and_reason(store: Any) -> None:
    plan = [
        ("a", "v1", "unclear", 0), ("a", "v2", "unclear", 10), ("a", "v3", "biased", 20),
        ("b", "v1", "unclear", 30), ("é", "v1", "other", 40), ("Z", "v1", "other", 50),
    ]
    for article_id, voter, reason, minute in plan:
        await store.cast(Cast(article_id, voter, "down", at(minute)))
        assert await store.set_reason(article_id, voter, reason, None, at(minute + 1))
    await store.cast(Cast("a", "v4", "down", at(60)))  # no reason given: not counted

    everything = [(r["article_id"], r["reason"], r["count"]) for r in await store.reasons(None, None, None)]
    assert everything == [
        ("Z", "other", 1), ("a", "biased", 1), ("a", "unclear", 2), ("b", "unclear", 1), ("é", "other", 1),
    ]
    assert all(isinstance(r["count"], int) for r in await store.reasons(None, None, None))
    assert [(r["reason"], r["count"]) for r in await store.reasons("a", None, None)] == [
        ("biased", 1), ("unclear", 2),
    ]
    # updated_at (the moment of the reason) filters: since inclusive, until exclusive.
    window = await store.reasons(None, at(11), at(31))
    assert [(r["article_id"], r["reason"], r["count"]) for r in window] == [("a", "biased", 1), ("a", "unclear", 1)]
    assert await store.reasons("a", at(21), at(21)) == []
    assert [r["count"] for r in await store.reasons("a", at(21), None)] == [1]
    assert [r["count"] for r in await store.reasons("a", None, at(21))] == [2]
    assert await store.reasons("never", None, None) == []


async def test_reason_texts_newest_first_without_empty_ones(store: Any) -> None:
    texts = [("v1", "First <b>text</b>"), ("v2", ""), ("v3", None), ("v4", "Line one\nline two"), ("v5", "Last")]
    for i, (voter, text) in enumerate(texts):
        await store.cast(Cast("a", voter, "down", at(i)))
        assert await store.set_reason("a", voter, "other", text, at(10 + i))
    await store.cast(Cast("b", "v1", "down", at(0)))
    assert await store.set_reason("b", "v1", "other", "Another article", at(30))

    rows = await store.reason_texts("a", 10)
    assert rows == [
        {"updated_at": at(14), "reason": "other", "reason_text": "Last"},
        {"updated_at": at(13), "reason": "other", "reason_text": "Line one\nline two"},
        {"updated_at": at(10), "reason": "other", "reason_text": "First <b>text</b>"},
    ]
    assert [r["reason_text"] for r in await store.reason_texts("a", 2)] == ["Last", "Line one\nline two"]
    assert await store.reason_texts("a", 0) == []
    assert await store.reason_texts("never", 10) == []
    await store.cast(Cast("a", "v5", "up", at(40)))
    assert [r["reason_text"] for r in await store.reason_texts("a", 10)] == ["Line one\nline two", "First <b>text</b>"]


async def test_reasons_export_filters_by_updated_at(store: Any) -> None:
    for i, voter in enumerate(["v3", "v1", "v2"]):
        await store.cast(Cast("a", voter, "down", at(i), version=f"r{i}"))
        assert await store.set_reason("a", voter, "unclear", f"text {voter}", at(10 * (i + 1)))
    await store.cast(Cast("a", "v4", "down", at(5)))  # no reason: not exported
    rows = await collect(store, "reasons")
    assert [r["voter"] for r in rows] == ["v1", "v2", "v3"]  # article_id, voter order
    assert [r["voter"] for r in await collect(store, "reasons", since=at(20))] == ["v1", "v2"]
    assert [r["voter"] for r in await collect(store, "reasons", until=at(20))] == ["v3"]
    assert [r["voter"] for r in await collect(store, "reasons", since=at(20), until=at(30))] == ["v1"]
    assert await collect(store, "reasons", since=at(31)) == []


# -- refused attempts ----------------------------------------------------------


async def seed_articles(store: Any, *article_ids: str) -> None:
    for article_id in article_ids:
        await store.cast(Cast(article_id, "seed", "up", at(0)))


async def test_refusals_add_up_per_day_article_and_kind(store: Any) -> None:
    await seed_articles(store, "a", "é", "Z")
    await store.add_refusals([])  # nothing to write
    assert await store.refusals(None, None, None) == []
    await store.add_refusals([
        {"day": D1, "article_id": "a", "kind": "rate_limited", "count": 3},
        {"day": D1, "article_id": "a", "kind": "captcha_failed", "count": 1},
        {"day": D2, "article_id": "", "kind": "forbidden_origin", "count": 7},
    ])
    await store.add_refusals([
        {"day": D1, "article_id": "a", "kind": "rate_limited", "count": 2},
        {"day": D1, "article_id": "a", "kind": "rate_limited", "count": 1},  # twice in one batch
        {"day": D1, "article_id": "é", "kind": "rate_limited", "count": 4},
        {"day": D1, "article_id": "Z", "kind": "rate_limited", "count": 5},
    ])
    rows = await store.refusals(None, None, None)
    assert [tuple(r) for r in rows] == [("day", "article_id", "kind", "count")] * len(rows)
    assert short(rows) == [
        (D1, "Z", "rate_limited", 5),
        (D1, "a", "captcha_failed", 1),
        (D1, "a", "rate_limited", 6),
        (D1, "é", "rate_limited", 4),
        (D2, "", "forbidden_origin", 7),
    ]
    assert all(type(r["day"]) is dt.date and type(r["count"]) is int for r in rows)
    assert short(await store.refusals("a", None, None)) == [
        (D1, "a", "captcha_failed", 1), (D1, "a", "rate_limited", 6),
    ]
    assert await store.refusals("never", None, None) == []


async def test_refusals_of_unknown_articles_are_pooled_under_empty_id(store: Any) -> None:
    await seed_articles(store, "known")
    await store.add_refusals([
        {"day": D1, "article_id": f"random-{i}", "kind": "captcha_failed", "count": 1} for i in range(50)
    ] + [{"day": D1, "article_id": "known", "kind": "captcha_failed", "count": 2}])
    await store.add_refusals([{"day": D1, "article_id": "other-random", "kind": "captcha_failed", "count": 3}])
    assert short(await store.refusals(None, None, None)) == [
        (D1, "", "captcha_failed", 53), (D1, "known", "captcha_failed", 2),
    ]


async def test_refusals_filter_by_whole_days(store: Any) -> None:
    await seed_articles(store, "a")
    await store.add_refusals([
        {"day": day, "article_id": "a", "kind": "rate_limited", "count": n}
        for n, day in enumerate([dt.date(2026, 2, 28), D1, D2, D3], start=1)
    ])

    async def days(since: dt.datetime | None, until: dt.datetime | None) -> list[dt.date]:
        return [r["day"] for r in await store.refusals("a", since, until)]

    assert await days(midnight(D1), None) == [D1, D2, D3]  # since: inclusive
    assert await days(midnight(D1) + dt.timedelta(hours=15), None) == [D1, D2, D3]  # its day counts
    assert await days(None, midnight(D2)) == [dt.date(2026, 2, 28), D1]  # until at midnight: exclusive
    assert await days(None, midnight(D2) + dt.timedelta(microseconds=1)) == [dt.date(2026, 2, 28), D1, D2]
    assert await days(midnight(D1), midnight(D2) + dt.timedelta(hours=9)) == [D1, D2]  # partly covered
    assert await days(midnight(D2), midnight(D2)) == []
    # Another time zone names the same instant: the UTC day decides.
    paris = dt.timezone(dt.timedelta(hours=1))
    assert await days(dt.datetime(2026, 3, 2, 0, 30, tzinfo=paris), None) == [D1, D2, D3]
    assert await days(None, dt.datetime(2026, 3, 3, 1, 0, tzinfo=paris)) == [dt.date(2026, 2, 28), D1, D2]


async def test_concurrent_refusal_flushes_from_two_processes_lose_nothing(store: Any, backend: Backend) -> None:
    import asyncio

    other = backend.make()
    await other.open()
    await seed_articles(store, "a", "b", "é")
    try:
        keys = [(day, article_id, kind) for day in (D1, D2) for article_id in ("a", "b", "é") for kind in ("x", "y")]

        async def flush(target: Any, seed: int) -> None:
            rows = [{"day": d, "article_id": a, "kind": k, "count": 1} for d, a, k in keys]
            random.Random(seed).shuffle(rows)
            await target.add_refusals(rows)

        await asyncio.gather(*(flush(store if i % 2 else other, i) for i in range(20)))
        rows = await store.refusals(None, None, None)
        assert [(r["day"], r["article_id"], r["kind"]) for r in rows] == sorted(keys)
        assert {r["count"] for r in rows} == {20}
    finally:
        await other.close()


# -- both backends side by side ------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize("seed", [4, 5])
async def test_same_reasons_and_refusals_on_both_backends(seed: int, pg_url: str, tmp_path: Any) -> None:
    async with side_by_side(pg_url, tmp_path, f"feedback_{seed}") as stores:
        rng = random.Random(seed)
        articles = ["a", "b", "Z", "é"]
        voters = [f"v{i}" for i in range(6)]
        reasons = ["unclear", "biased", "too_long", "other"]
        outcomes: list[list[Any]] = [[], []]
        when = T0
        for _ in range(300):
            when += dt.timedelta(minutes=rng.randrange(1, 120), microseconds=rng.randrange(10**6))
            roll = rng.random()
            op: tuple[Any, ...]
            if roll < 0.45:
                op = ("cast", Cast(rng.choice(articles), rng.choice(voters), rng.choice(["up", "down"]), when))
            elif roll < 0.85:
                text = rng.choice([None, "", "Too short.", "=HYPERLINK(1)", "ü\nline"])
                op = ("set_reason", rng.choice(articles), rng.choice(voters), rng.choice(reasons), text, when)
            elif roll < 0.95:
                op = ("withdraw", rng.choice(articles), rng.choice(voters), when)
            else:
                op = ("add_refusals", [
                    {"day": when.date() - dt.timedelta(days=rng.randrange(3)), "article_id": rng.choice(articles),
                     "kind": rng.choice(["rate_limited", "captcha_failed"]), "count": rng.randrange(1, 50)}
                    for _ in range(rng.randrange(1, 6))
                ])
            for i, store in enumerate(stores):
                outcomes[i].append(await getattr(store, op[0])(*op[1:]))
        assert outcomes[0] == outcomes[1]
        assert any(o is True for o in outcomes[0]) and any(o is False for o in outcomes[0])

        async def answers(store: Any) -> dict[str, Any]:
            found: dict[str, Any] = {"export": await collect(store, "reasons")}
            middle = T0 + (when - T0) / 2
            found["export window"] = await collect(store, "reasons", since=T0 + (when - T0) / 4, until=middle)
            for article_id in [None, *articles, "never"]:
                for since, until in [(None, None), (middle, None), (None, middle), (T0, middle)]:
                    found[f"reasons {article_id} {since} {until}"] = await store.reasons(article_id, since, until)
                    found[f"refusals {article_id} {since} {until}"] = await store.refusals(article_id, since, until)
                if article_id is not None:
                    found[f"article {article_id}"] = await store.article(article_id)
                    found[f"texts {article_id}"] = await store.reason_texts(article_id, 5)
            return found

        sqlite_answers = await answers(stores[0])
        pg_answers = await answers(stores[1])
        assert sqlite_answers["export"], "the history should leave some reasons"
        for key in sqlite_answers:
            assert sqlite_answers[key] == pg_answers[key], key


# -- upgrading PostgreSQL from the version before reasons ------------------------


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_upgrade_from_postgres_version_3_keeps_every_vote(backend: Backend) -> None:
    import asyncpg

    from feedbackwidget.store.pg_schema import VERSION

    old = backend.make()
    assert await old.migrate(target=3) == 0
    conn = await asyncpg.connect(backend.url)
    try:
        # A populated version-3 database, written through that version's own fw_cast.
        for article_id, voter, vote, minute, version, title in [
            ("a", "v1", "up", 0, "r1", "Old title"),
            ("a", "v2", "down", 1, None, None),
            ("a", "v3", "down", 2, "r2", None),
            ("a", "v1", "down", 3, "r2", None),  # a change
            ("é", "v2", "up", 4, None, "Été"),
        ]:
            await conn.fetchrow(
                "SELECT * FROM fw_cast($1, $2, $3, $4, $5, $6, false, $7)",
                article_id, voter, vote, at(minute), version, title, minute % 3,
            )
        before_votes = await conn.fetch("SELECT * FROM fw_votes ORDER BY article_id, voter")
        before_events = await conn.fetch("SELECT * FROM fw_events ORDER BY event_id")
        before_counters = await conn.fetch("SELECT * FROM fw_counters ORDER BY article_id, slot")
        secret = await conn.fetchval("SELECT value FROM fw_meta WHERE key = 'secret'")
    finally:
        await conn.close()

    store = backend.make()
    await store.open()
    try:
        assert await store.migrate() == VERSION  # already done by open(): nothing left
        conn = await asyncpg.connect(backend.url)
        try:
            assert await conn.fetchval("SELECT version FROM fw_schema") == VERSION
            after_votes = await conn.fetch("SELECT * FROM fw_votes ORDER BY article_id, voter")
            assert [dict(r) for r in after_votes] == [
                {**dict(r), "reason": None, "reason_text": None} for r in before_votes
            ]
            assert await conn.fetch("SELECT * FROM fw_events ORDER BY event_id") == before_events
            assert await conn.fetch("SELECT * FROM fw_counters ORDER BY article_id, slot") == before_counters
        finally:
            await conn.close()
        assert await store.secret() == secret
        a = await store.article("a")
        assert a is not None and (a.title, a.up, a.down, a.first_vote_at, a.last_vote_at) == (
            "Old title", 0, 3, at(0), at(3),
        )
        assert await store.refusals(None, None, None) == []
        assert await collect(store, "reasons") == []

        # The new columns and the replaced fw_cast work on the migrated rows.
        assert await store.set_reason("a", "v1", "unclear", "Hm.", at(10)) is True
        assert await store.set_reason("é", "v2", "unclear", None, at(10)) is False
        assert short(await collect(store, "reasons")) == [("a", "v1", "unclear", "Hm.", at(10), "r2")]
        moved = await store.cast(Cast("a", "v1", "up", at(11)))
        assert (moved.changed, moved.previous, moved.tally.up, moved.tally.down) == (True, "down", 1, 2)
        assert await collect(store, "reasons") == []
        assert [e["event_id"] for e in await collect(store, "events", after=5)] == [6]
        await store.add_refusals([{"day": D1, "article_id": "a", "kind": "rate_limited", "count": 2}])
        assert short(await store.refusals(None, None, None)) == [(D1, "a", "rate_limited", 2)]
    finally:
        await store.close()
