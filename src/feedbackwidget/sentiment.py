"""Pure statistics over tallies: shares, Wilson intervals, Bayesian averages, rankings.

Nothing here touches I/O. A raw share ranks "2 of 2" above "90 of 100"; the
Wilson lower bound and the Bayesian average do not, which is why listings
order by them and the dashboard shows them next to the share.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .types import ORDERS, ArticleOrder, ArticleSummary, Tally, Vote

#: Two-sided 95% normal quantile.
Z95 = 1.959963984540054

#: Below this many votes an article is "not enough votes yet": shown, but not judged.
DEFAULT_MIN_VOTES = 10

#: How many pseudo-votes the site-wide prior weighs in a Bayesian average.
DEFAULT_PRIOR_WEIGHT = 10.0

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def share_up(up: int, down: int) -> float | None:
    """``up / (up + down)``; None when there are no votes."""
    total = up + down
    return None if total == 0 else up / total


def wilson_interval(up: int, total: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of ``up / total``; (0.0, 0.0) for no votes."""
    if total <= 0:
        return (0.0, 0.0)
    p = up / total
    z2 = z * z
    denom = 1 + z2 / total
    centre = p + z2 / (2 * total)
    margin = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total))
    return (max(0.0, (centre - margin) / denom), min(1.0, (centre + margin) / denom))


def wilson_lower(up: int, total: int, z: float = Z95) -> float:
    return wilson_interval(up, total, z)[0]


def wilson_upper(up: int, total: int, z: float = Z95) -> float:
    return wilson_interval(up, total, z)[1]


@dataclass(frozen=True, slots=True)
class Prior:
    """A site-wide prior for Bayesian averages: ``weight`` pseudo-votes at share ``mean``."""

    mean: float = 0.5
    weight: float = DEFAULT_PRIOR_WEIGHT

    def __post_init__(self) -> None:
        if not 0.0 <= self.mean <= 1.0:
            raise ValueError("prior mean must be within [0, 1]")
        if not (self.weight >= 0.0 and math.isfinite(self.weight)):
            raise ValueError("prior weight must be a finite number >= 0")

    @classmethod
    def from_tallies(cls, tallies: Iterable[Tally | ArticleSummary],
                     weight: float = DEFAULT_PRIOR_WEIGHT) -> Prior:
        """The site's overall share of "yes" votes as the prior mean (0.5 with no votes)."""
        up = total = 0
        for tally in tallies:
            up += tally.up
            total += tally.up + tally.down
        return cls.from_counts(up, total, weight)

    @classmethod
    def from_counts(cls, up: int, total: int, weight: float = DEFAULT_PRIOR_WEIGHT) -> Prior:
        return cls(0.5 if total <= 0 else up / total, weight)


def bayesian_average(up: int, total: int, prior: Prior | None = None) -> float:
    """``(up + w·m) / (total + w)``: the share pulled towards the site's mean.

    ``prior`` defaults to a neutral 0.5 with ``DEFAULT_PRIOR_WEIGHT`` pseudo-votes.
    With no votes this is the prior mean itself.
    """
    prior = prior or Prior()
    denominator = total + prior.weight
    if denominator <= 0:
        return prior.mean
    return (up + prior.weight * prior.mean) / denominator


def enough_votes(total: int, minimum: int = DEFAULT_MIN_VOTES) -> bool:
    """Whether an article has enough votes to be judged (``total >= minimum``)."""
    return total >= max(0, minimum)


def sentiment_object(
    tally: Tally,
    your_vote: Vote | None = None,
    *,
    min_votes: int = DEFAULT_MIN_VOTES,
    prior: Prior | None = None,
) -> dict[str, Any]:
    """The contract's sentiment object for one article.

    Contract fields: ``article_id, up, down, total, share_up, wilson_lower,
    your_vote``. Added: ``wilson_upper``, ``bayesian_average`` (towards
    ``prior``, neutral 0.5 when not given) and ``enough_votes`` (False below
    ``min_votes``: the numbers are shown but should not be judged yet).
    """
    total = tally.total
    low, high = wilson_interval(tally.up, total)
    return {
        "article_id": tally.article_id,
        "up": tally.up,
        "down": tally.down,
        "total": total,
        "share_up": share_up(tally.up, tally.down),
        "wilson_lower": low,
        "wilson_upper": high,
        "bayesian_average": bayesian_average(tally.up, total, prior),
        "enough_votes": enough_votes(total, min_votes),
        "your_vote": your_vote,
    }


# -- rankings ---------------------------------------------------------------------------

#: Sort keys compare numbers first, then the article id (code point order).
RankKey = tuple[float | str, ...]


def _by_wilson(article: ArticleSummary) -> RankKey:
    return (-wilson_lower(article.up, article.total), -float(article.total), article.article_id)


def _by_total(article: ArticleSummary) -> RankKey:
    return (-float(article.total), article.article_id)


def _by_recent(article: ArticleSummary) -> RankKey:
    last = article.last_vote_at
    stamp = -math.inf if last is None else (last - _EPOCH).total_seconds()
    return (-stamp, article.article_id)


_KEYS: dict[str, Callable[[ArticleSummary], RankKey]] = {
    "wilson": _by_wilson,
    "total": _by_total,
    "recent": _by_recent,
}



def rank_key(order: ArticleOrder) -> Callable[[ArticleSummary], RankKey]:
    """A sort key for ``order``, best first; the same order the stores' listings use.

    ``wilson``: highest 95% Wilson lower bound, then most votes; ``total``: most
    votes; ``recent``: latest vote first (articles never voted on last). Remaining
    ties go by article id.
    """
    try:
        return _KEYS[order]
    except KeyError:
        raise ValueError(f"unknown order {order!r}; expected one of {', '.join(ORDERS)}") from None


def rank(articles: Iterable[ArticleSummary], order: ArticleOrder) -> list[ArticleSummary]:
    """``articles`` sorted best first for ``order``."""
    return sorted(articles, key=rank_key(order))
