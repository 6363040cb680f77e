"""Which events a change causes, and their bodies: pure functions of tallies and counts.

Event types (the ``type`` of every body):

- ``article.milestone``: an article's vote count reached one of ``WEBHOOK_MILESTONES``
  (once per article and milestone).
- ``article.sentiment``: an article with at least ``WEBHOOK_MIN_VOTES`` votes crossed
  into a sentiment band judged on the 95% Wilson interval, not the raw share:
  ``"below"`` when even the upper bound is under ``WEBHOOK_SENTIMENT_BELOW`` (readers
  clearly dislike it), ``"above"`` when even the lower bound is over
  ``WEBHOOK_SENTIMENT_ABOVE``. Sent when the band is entered, not on every vote in it
  (each entry once: its id is derived from the article and the entry's number).
- ``article.refusals``: refused attempts on one article in one UTC day reached
  ``WEBHOOK_REFUSAL_BURST`` (and again at twice, four times … that number).
- ``digest.daily``: yesterday's votes per article and refused attempts, once a day.

A body is ``{"type", "timestamp", "data"}`` (Standard Webhooks' recommended shape); with
``WEBHOOK_FORMAT=slack`` it is ``{"text": "…"}``, which a Slack incoming webhook posts
as is. Nothing in a body identifies a reader.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..config import Settings
from ..sentiment import share_up, wilson_interval
from ..store import site_keys
from ..store.base import Row
from ..store.outbox import AlertState, OutboxMessage
from ..types import Tally

MILESTONE = "article.milestone"
SENTIMENT = "article.sentiment"
REFUSALS = "article.refusals"
DIGEST = "digest.daily"
TYPES = (MILESTONE, SENTIMENT, REFUSALS, DIGEST)

def message_id(dedupe: str | None) -> str:
    """``msg_`` + 26 characters: random, or derived from the dedupe key (a repeat keeps its id)."""
    if dedupe is None:
        return "msg_" + secrets.token_hex(13)
    return "msg_" + hashlib.sha256(dedupe.encode()).hexdigest()[:26]


def _article(tally: Tally) -> dict[str, Any]:
    low, high = wilson_interval(tally.up, tally.total)
    site, article_id = site_keys.split(tally.article_id)
    return {
        "site": site,
        "article_id": article_id,
        "up": tally.up,
        "down": tally.down,
        "total": tally.total,
        "share_up": share_up(tally.up, tally.down),
        "wilson_lower": low,
        "wilson_upper": high,
    }


def _site_and_id(stored: str) -> dict[str, str]:
    site, article_id = site_keys.split(stored)
    return {"site": site, "article_id": article_id}


@dataclass(frozen=True, slots=True)
class Rules:
    """The events configured by :class:`~feedbackwidget.config.Settings`, as message builders."""

    endpoints: tuple[str, ...]
    slack: bool
    milestones: tuple[int, ...]
    below: float | None
    above: float | None
    min_votes: int
    refusal_burst: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Rules:
        return cls(
            endpoints=settings.webhook_urls,
            slack=settings.webhook_format == "slack",
            milestones=settings.webhook_milestones,
            below=settings.webhook_sentiment_below,
            above=settings.webhook_sentiment_above,
            min_votes=settings.webhook_min_votes,
            refusal_burst=settings.webhook_refusal_burst,
        )

    @property
    def per_vote(self) -> bool:
        """Whether some event depends on single votes (milestones, sentiment thresholds)."""
        return bool(self.endpoints) and bool(self.milestones or self.below is not None or self.above is not None)

    # -- builders -----------------------------------------------------------------------------

    def messages(self, kind: str, data: dict[str, Any], at: dt.datetime, dedupe: str | None) -> list[OutboxMessage]:
        """One message per endpoint (same id: it is one event) with the body in the configured format."""
        if self.slack:
            body: dict[str, Any] = {"text": slack_text(kind, data)}
        else:
            body = {"type": kind, "timestamp": at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"), "data": data}
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        mid = message_id(dedupe)
        return [OutboxMessage(mid, url, kind, payload, dedupe) for url in self.endpoints]

    # -- the events -----------------------------------------------------------------------------

    def advance(self, tally: Tally, state: AlertState, at: dt.datetime) -> tuple[AlertState, list[OutboxMessage]]:
        """The article's alert state once ``tally`` is seen, and the messages for what it reached since
        ``state``: each milestone at or below the total not yet sent, and the band if it entered one.

        "Reached", not "crossed by this vote": a milestone two concurrent votes both missed is sent
        with the next vote on the article. The state returned equals ``state`` when nothing moved.
        """
        if not self.endpoints:
            return state, []
        out: list[OutboxMessage] = []
        reached = [mark for mark in self.milestones if state.milestone < mark <= tally.total]
        for mark in reached:
            dedupe = f"milestone:{mark}:{tally.article_id}"
            out += self.messages(MILESTONE, {"milestone": mark, "article": _article(tally)}, at, dedupe)
        band, entries = self.band(tally), state.band_entries
        if band is not None and band != state.band:
            entries += 1
            threshold = self.below if band == "below" else self.above
            data = {"band": band, "threshold": threshold, "min_votes": self.min_votes, "article": _article(tally)}
            out += self.messages(SENTIMENT, data, at, f"sentiment:{entries}:{band}:{tally.article_id}")
        return AlertState(max(reached, default=state.milestone), band, entries), out

    def band(self, tally: Tally) -> str | None:
        """``"below"``, ``"above"`` or None (too few votes, or the interval straddles the thresholds)."""
        if tally.total < self.min_votes or (self.below is None and self.above is None):
            return None
        low, high = wilson_interval(tally.up, tally.total)
        if self.below is not None and high < self.below:
            return "below"
        if self.above is not None and low > self.above:
            return "above"
        return None

    def refusal_bursts(self, day: dt.date, rows: Sequence[Row], at: dt.datetime) -> list[OutboxMessage]:
        """Messages for articles whose refusals that day reached the burst level (or a doubling of it)."""
        if self.refusal_burst <= 0:
            return []
        totals: dict[str, dict[str, int]] = {}
        for row in rows:
            if site_keys.split(row["article_id"])[1]:  # "" gathers refusals for articles never voted on
                kinds = totals.setdefault(row["article_id"], {})
                kinds[row["kind"]] = kinds.get(row["kind"], 0) + int(row["count"])
        out: list[OutboxMessage] = []
        for article_id, kinds in sorted(totals.items()):
            count, level = sum(kinds.values()), self.refusal_burst
            if count < level:
                continue
            while level * 2 <= count:
                level *= 2
            site, bare = site_keys.split(article_id)
            data = {"site": site, "article_id": bare, "day": day.isoformat(), "level": level, "count": count,
                    "kinds": kinds}
            out += self.messages(REFUSALS, data, at, f"refusals:{day.isoformat()}:{level}:{article_id}")
        return out

    def digest(
        self, day: dt.date, daily: Sequence[Row], refusals: Sequence[Row], at: dt.datetime
    ) -> list[OutboxMessage]:
        """The daily digest of ``day``: votes cast or changed per article (most first, at most 50)."""
        articles = sorted(daily, key=lambda r: (-(r["up"] + r["down"]), r["article_id"]))
        data = {
            "day": day.isoformat(),
            "up": sum(r["up"] for r in daily),
            "down": sum(r["down"] for r in daily),
            "refused": sum(int(r["count"]) for r in refusals),
            "articles": [{**_site_and_id(r["article_id"]), "up": r["up"], "down": r["down"]} for r in articles[:50]],
        }
        return self.messages(DIGEST, data, at, f"digest:{day.isoformat()}")


def slack_text(kind: str, data: dict[str, Any]) -> str:
    """One line a newsroom channel can read (Slack mrkdwn: ``&``, ``<`` and ``>`` escaped)."""
    if kind == DIGEST:
        text = f"Yesterday ({data['day']}): {data['up']} yes, {data['down']} no, {data['refused']} refused attempts."
    elif kind == REFUSALS:
        text = f"{data['count']} refused vote attempts today on {data['article_id']}."
    else:
        article = data["article"]
        lead = (
            f"{article['article_id']} reached {data['milestone']} votes"
            if kind == MILESTONE
            else f"Readers' verdict on {article['article_id']} is now clearly "
            + ("negative" if data["band"] == "below" else "positive")
        )
        share = article["share_up"]
        percent = f" ({share:.0%} yes)." if share is not None else "."
        text = f"{lead}: {article['up']} yes, {article['down']} no{percent}"
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
