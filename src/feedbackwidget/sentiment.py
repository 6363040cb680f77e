"""Pure statistics over tallies: shares and the Wilson score interval."""

from __future__ import annotations

import math
from typing import Any

from .types import Tally, Vote

#: Two-sided 95% normal quantile.
Z95 = 1.959963984540054


def share_up(up: int, down: int) -> float | None:
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


def sentiment_object(tally: Tally, your_vote: Vote | None = None) -> dict[str, Any]:
    """The contract's sentiment object for one article."""
    total = tally.total
    return {
        "article_id": tally.article_id,
        "up": tally.up,
        "down": tally.down,
        "total": total,
        "share_up": share_up(tally.up, tally.down),
        "wilson_lower": wilson_lower(tally.up, total),
        "your_vote": your_vote,
    }
