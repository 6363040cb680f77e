"""What the dashboard pages show: store queries turned into template context.

No HTTP here (that is ``admin.py``) and no markup except the SVG charts, which
escape their own text; templates escape everything else.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from markupsafe import Markup

from .. import validate
from ..charts import daily_chart, fill_days, sparkline
from ..config import Settings
from ..errors import NotFound
from ..sentiment import (
    Prior,
    bayesian_average,
    enough_votes,
    share_up,
    wilson_interval,
)
from ..store.base import Row, Store
from ..types import ORDERS, ArticleOrder

PAGE_SIZE = 50
#: Points of a sparkline at most: a longer range sums consecutive days into one point (read so from the store).
SPARK_POINTS = 120
#: Sparklines drawn between two yields to the event loop: 8 take ~0.3 ms here, so a vote arriving
#: while a page of 50 is drawn waits about that long, not for the whole page.
YIELD_EVERY = 8
DEFAULT_DAYS = 30
MAX_DAYS = 731
DASH = "\u2013"


@dataclass(frozen=True, slots=True)
class DateRange:
    """Whole UTC days ``start`` to ``end`` inclusive."""

    start: dt.date
    end: dt.date
    problem: str | None = None

    @property
    def since(self) -> dt.datetime:
        return dt.datetime.combine(self.start, dt.time(), dt.UTC)

    @property
    def until(self) -> dt.datetime:
        return dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(), dt.UTC)

    def query(self) -> dict[str, str]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}


def _date(text: str | None) -> dt.date | None:
    if not text or len(text) != 10:
        raise ValueError
    return dt.date.fromisoformat(text)


def date_range(params: Mapping[str, str], today: dt.date | None = None) -> DateRange:
    """The ``from``/``to`` filter (inclusive dates); the last 30 days by default."""
    today = today or dt.datetime.now(dt.UTC).date()
    default = DateRange(today - dt.timedelta(days=DEFAULT_DAYS - 1), today)
    if not params.get("from") and not params.get("to"):
        return default
    try:
        end = _date(params.get("to")) if params.get("to") else today
        start = _date(params.get("from")) if params.get("from") else None
    except ValueError:
        return DateRange(default.start, default.end, "Dates must look like 2026-01-31.")
    assert end is not None
    if not all(validate.YEARS[0] <= d.year <= validate.YEARS[1] for d in (start, end) if d):
        return DateRange(default.start, default.end,
                         f"Dates must be between {validate.YEARS[0]}-01-01 and {validate.YEARS[1]}-12-31.")
    start = start or end - dt.timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        return DateRange(default.start, default.end, "The start date is after the end date.")
    if (end - start).days >= MAX_DAYS:
        return DateRange(end - dt.timedelta(days=MAX_DAYS - 1), end,
                         f"Ranges are limited to {MAX_DAYS} days; showing the last {MAX_DAYS}.")
    return DateRange(start, end)


def percent(value: float | None) -> str:
    return DASH if value is None else f"{100 * value:.1f}%"


def _stats(up: int, down: int, prior: Prior, min_votes: int) -> dict[str, Any]:
    total = up + down
    low, high = wilson_interval(up, total)
    return {
        "up": up, "down": down, "total": total,
        "share": percent(share_up(up, down)),
        "interval": f"{percent(low)} {DASH} {percent(high)}" if total else DASH,
        "bayes": percent(bayesian_average(up, total, prior)),
        "enough": enough_votes(total, min_votes),
    }


def when(at: dt.datetime | None) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if at else ""


def article_href(prefix: str, article_id: str, query: Mapping[str, str] | None = None) -> str:
    tail = f"?{urlencode(query)}" if query else ""
    return f"{prefix}/admin/articles/{quote(article_id, safe='')}{tail}"


def export_href(prefix: str, **params: str) -> str:
    """A link to the export endpoint (the session cookie authorises it)."""
    return f"{prefix}/api/v1/export?{urlencode({k: v for k, v in params.items() if v})}"


def _export_links(prefix: str, days: DateRange, reasons: bool) -> list[dict[str, str]]:
    since, until = days.start.isoformat(), (days.end + dt.timedelta(days=1)).isoformat()
    links = []
    kinds = [("articles", "Articles"), ("daily", "Daily counts"),
             ("votes", "Current votes"), ("events", "Vote history")]
    if reasons:
        kinds.append(("reasons", "Reasons after No"))
    for kind, label in kinds:
        ranged = kind != "articles"
        for fmt in ("csv", "ndjson"):
            href = export_href(prefix, format=fmt, kind=kind,
                               since=since if ranged else "", until=until if ranged else "")
            links.append({"label": label, "format": fmt.upper(), "href": href})
    return links


def _point_totals(rows: list[Row], start: dt.date, span: int, size: int) -> list[int]:
    """Votes per sparkline point (``size`` days each) over ``span`` days from ``start``, zero where
    no row, from rows of :meth:`Store.daily_of` read with the same ``size``."""
    totals = [0] * -(-span // size)
    for row in rows:
        totals[(row["day"] - start).days // size] += int(row["up"]) + int(row["down"])
    return totals


async def site_prior(store: Store) -> Prior:
    """The site-wide share of "yes" votes, from the store's site totals (one row, kept with the votes)."""
    totals = await store.site_totals()
    return Prior.from_counts(totals.up, totals.total)


async def dashboard_context(
    store: Store, settings: Settings, params: Mapping[str, str], prefix: str
) -> dict[str, Any]:
    """What ``/admin`` shows. Everything comes from rollups and indexes, and what is read is
    bounded by what is shown: one page of articles, their days in the range, the site's days
    in the range, one row of site totals — never the event history."""
    days = date_range(params)
    order: ArticleOrder = "wilson"
    for candidate in ORDERS:
        if params.get("order") == candidate:
            order = candidate
    raw_page = params.get("page", "")
    page_given = raw_page.isascii() and raw_page.isdigit() and len(raw_page) < 7
    page = max(int(raw_page), 1) if page_given else 1
    # "Next" pages by keyset (after= the last article shown: an index seek however deep);
    # page= alone (a typed URL, "Previous") skips by offset. Like a bad page=, a bad after= is
    # ignored: the dashboard always shows a page. A keyset page reached without page= has no
    # number to show (and offers the first page instead of a previous one).
    after = params["after"] if validate.is_article_id(params.get("after")) else None
    numbered = page_given or after is None  # whether this page's number is known
    found = await store.articles(order, PAGE_SIZE + 1, 0 if after else (page - 1) * PAGE_SIZE, after)
    shown = found[:PAGE_SIZE]
    after_end = days.end + dt.timedelta(days=1)
    span = (days.end - days.start).days + 1
    size = -(-span // SPARK_POINTS)  # days per sparkline point
    daily = await store.daily_of([s.article_id for s in shown], days.start, after_end, size)
    site_days = fill_days(await store.site_daily(days.start, after_end), days.start, days.end)
    prior = await site_prior(store)

    per_article: dict[str, list[Row]] = defaultdict(list)
    for row in daily:
        per_article[str(row["article_id"])].append(row)
    rows = []
    for n, summary in enumerate(shown):
        if n % YIELD_EVERY == YIELD_EVERY - 1:
            await asyncio.sleep(0)  # let votes waiting on the event loop run between sparklines
        totals = _point_totals(per_article.get(summary.article_id, []), days.start, span, size)
        name = summary.title or summary.article_id
        unit = "on one day" if size == 1 else f"in {size} days"
        desc = f"{sum(totals)} votes over {span} days, at most {max(totals)} {unit}."
        rows.append({
            "article_id": summary.article_id,
            "title": summary.title,
            "href": article_href(prefix, summary.article_id, days.query()),
            "in_range": sum(totals),
            "spark": sparkline(totals, title=f"Daily votes: {name}", desc=desc),
            "last_vote": when(summary.last_vote_at),
            **_stats(summary.up, summary.down, prior, settings.min_votes),
        })

    def nav(p: int | None, after: str | None = None) -> str:
        where = {**({"page": str(p)} if p else {}), **({"after": after} if after else {})}
        return f"{prefix}/admin?{urlencode({**days.query(), 'order': order, **where})}"

    chart: Markup = daily_chart(site_days, title="Votes per day, all articles")
    return {
        "days": days,
        "order": order,
        "orders": ORDERS,
        "articles": rows,
        "page": page if numbered else None,
        "first_href": nav(1) if page > 2 or not numbered else None,
        "prev_href": nav(page - 1) if page > 1 and numbered else None,
        "next_href": nav(page + 1 if numbered else None, shown[-1].article_id) if len(found) > PAGE_SIZE else None,
        "chart": chart,
        "range_up": sum(d.up for d in site_days),
        "range_down": sum(d.down for d in site_days),
        "prior": percent(prior.mean),
        "min_votes": settings.min_votes,
        "exports": _export_links(prefix, days, bool(settings.reasons)),
    }


async def article_context(
    store: Store, settings: Settings, article_id: str, params: Mapping[str, str], prefix: str
) -> dict[str, Any]:
    validate.article_id(article_id)  # the same rule as every other entry point's
    days = date_range(params)
    info = await store.article(article_id)
    if info is None:
        raise NotFound("No votes were ever recorded for this article.")
    prior = await site_prior(store)
    series = fill_days(
        await store.daily_of([article_id], days.start, days.end + dt.timedelta(days=1)), days.start, days.end
    )
    versions = []
    for row in await store.versions(article_id):
        up, down = int(row["up"] or 0), int(row["down"] or 0)
        versions.append({"version": row["article_version"],
                         **_stats(up, down, prior, settings.min_votes)})
    name = info.title or article_id
    return {
        "article_id": article_id,
        "title": info.title,
        "days": days,
        "stats": _stats(info.up, info.down, prior, settings.min_votes),
        "first_vote": when(info.first_vote_at),
        "last_vote": when(info.last_vote_at),
        "chart": daily_chart(series, title=f"Votes per day: {name}"),
        "range_up": sum(d.up for d in series),
        "range_down": sum(d.down for d in series),
        "versions": versions,
        "prior": percent(prior.mean),
        "min_votes": settings.min_votes,
        "exports": _export_links(prefix, days, bool(settings.reasons)),
        "back_href": f"{prefix}/admin?{urlencode(days.query())}",
    }
