"""Statistics against values worked out by hand (z = 1.96, four decimals)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedbackwidget import sentiment
from feedbackwidget.sentiment import (
    Prior,
    bayesian_average,
    enough_votes,
    rank,
    rank_key,
    sentiment_object,
    share_up,
    wilson_interval,
    wilson_lower,
    wilson_upper,
)
from feedbackwidget.types import ArticleSummary, Tally


def test_share_up() -> None:
    assert share_up(0, 0) is None
    assert share_up(3, 1) == 0.75
    assert share_up(0, 4) == 0.0


@pytest.mark.parametrize(
    ("up", "total", "low", "high"),
    [
        # p = 0.9, n = 100: centre 0.919207, margin 0.061856, denominator 1.038415
        (90, 100, 0.8256, 0.9448),
        # p = 1, n = 2: centre 1.960365, margin 0.960380, denominator 2.920729
        (2, 2, 0.3424, 1.0),
        # p = 0.5, n = 10: symmetric around one half
        (5, 10, 0.2366, 0.7634),
        # p = 0, n = 3: lower bound is exactly 0; upper = z²/(n + z²) = 3.8415/6.8415
        (0, 3, 0.0, 0.5615),
    ],
)
def test_wilson_interval_by_hand(up: int, total: int, low: float, high: float) -> None:
    got_low, got_high = wilson_interval(up, total)
    assert got_low == pytest.approx(low, abs=1e-4)
    assert got_high == pytest.approx(high, abs=1e-4)
    assert wilson_lower(up, total) == got_low
    assert wilson_upper(up, total) == got_high


def test_wilson_ranks_ninety_of_hundred_above_two_of_two() -> None:
    assert share_up(2, 0) > share_up(90, 10)  # type: ignore[operator]
    assert wilson_lower(90, 100) > wilson_lower(2, 2)


def test_no_votes() -> None:
    assert wilson_interval(0, 0) == (0.0, 0.0)
    obj = sentiment_object(Tally("a"))
    assert obj["share_up"] is None
    assert obj["wilson_lower"] == 0.0
    assert obj["total"] == 0
    assert obj["enough_votes"] is False
    assert obj["bayesian_average"] == 0.5


@given(st.integers(0, 10_000), st.integers(0, 10_000))
def test_interval_contains_share(up: int, down: int) -> None:
    total = up + down
    low, high = wilson_interval(up, total)
    assert 0.0 <= low <= high <= 1.0
    share = share_up(up, down)
    if share is not None:
        assert low - 1e-12 <= share <= high + 1e-12
    # mirror image: the interval of "no" is one minus the interval of "yes"
    mlow, mhigh = wilson_interval(down, total)
    if total:
        assert mlow == pytest.approx(1 - high, abs=1e-9)
        assert mhigh == pytest.approx(1 - low, abs=1e-9)


def test_bayesian_average_by_hand() -> None:
    prior = Prior(mean=0.7, weight=10)
    # (2 + 10·0.7) / (2 + 10) = 9 / 12
    assert bayesian_average(2, 2, prior) == pytest.approx(0.75)
    # (90 + 7) / 110
    assert bayesian_average(90, 100, prior) == pytest.approx(0.881818, abs=1e-6)
    assert bayesian_average(0, 0, prior) == pytest.approx(0.7)
    # default prior: neutral, DEFAULT_PRIOR_WEIGHT pseudo-votes
    assert bayesian_average(10, 10) == pytest.approx((10 + 5) / 20)


def test_prior_from_site() -> None:
    tallies = [Tally("a", 60, 20), Tally("b", 10, 10)]
    prior = Prior.from_tallies(tallies, weight=4)
    assert prior.mean == pytest.approx(70 / 100)
    assert prior.weight == 4
    assert Prior.from_tallies([]).mean == 0.5
    with pytest.raises(ValueError):
        Prior(mean=1.5)
    with pytest.raises(ValueError):
        Prior(weight=-1)


def test_not_enough_votes() -> None:
    assert not enough_votes(9)
    assert enough_votes(sentiment.DEFAULT_MIN_VOTES)
    assert enough_votes(3, minimum=3)
    assert not enough_votes(2, minimum=3)
    assert sentiment_object(Tally("a", 2, 0), min_votes=3)["enough_votes"] is False
    assert sentiment_object(Tally("a", 2, 1), min_votes=3)["enough_votes"] is True


def test_sentiment_object_contract_fields() -> None:
    obj = sentiment_object(Tally("x/1", 90, 10), "up", prior=Prior(0.7, 10))
    assert obj["article_id"] == "x/1"
    assert (obj["up"], obj["down"], obj["total"]) == (90, 10, 100)
    assert obj["share_up"] == 0.9
    assert obj["wilson_lower"] == pytest.approx(0.8256, abs=1e-4)
    assert obj["wilson_upper"] == pytest.approx(0.9448, abs=1e-4)
    assert obj["bayesian_average"] == pytest.approx(97 / 110)
    assert obj["your_vote"] == "up"


def _summary(aid: str, up: int, down: int, last_day: int | None) -> ArticleSummary:
    last = None if last_day is None else dt.datetime(2026, 1, last_day, tzinfo=dt.UTC)
    return ArticleSummary(aid, None, up, down, last, last)


def test_rankings() -> None:
    items = [
        _summary("two-of-two", 2, 0, 5),
        _summary("ninety", 90, 10, 1),
        _summary("none", 0, 0, None),
        _summary("many-no", 10, 200, 3),
    ]
    def ids(order: sentiment.ArticleOrder) -> list[str]:
        return [a.article_id for a in rank(items, order)]

    assert ids("wilson") == ["ninety", "two-of-two", "many-no", "none"]
    assert ids("total") == ["many-no", "ninety", "two-of-two", "none"]
    assert ids("recent") == ["two-of-two", "many-no", "ninety", "none"]
    with pytest.raises(ValueError):
        rank_key("best")  # type: ignore[arg-type]


def test_rank_ties_are_stable_by_id() -> None:
    items = [_summary("b", 1, 1, 2), _summary("a", 1, 1, 2)]
    for order in sentiment.ORDERS:
        assert [a.article_id for a in rank(items, order)] == ["a", "b"]
