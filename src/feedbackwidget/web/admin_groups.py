"""Dashboard context for what articles are about: sentiment per section, author or tag
(Wilson intervals, daily votes), and the articles that need attention.

A group's counts are the sum of its articles' current tallies (an article with two
authors counts for each); its days are the votes cast or changed on its articles that
day. No HTTP here (``admin.py``), no markup but the charts, which escape their own text.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from ..charts import daily_chart, fill_days, sparkline
from ..config import Settings
from ..errors import InvalidRequest
from ..export_query import about_filter
from ..sentiment import enough_votes, share_up, wilson_interval
from ..store.base import Row, Store
from ..types import GROUP_BYS, AboutFilter, GroupBy
from .admin_views import DASH, DateRange, article_href, date_range, export_href, percent

#: Groups listed at most, and how many of them get a sparkline (one query each).
MAX_GROUPS = 50
SPARKLINES = 20
#: "Recent" for the attention list: voted on or published within this many days.
ATTENTION_DAYS = 14
#: An article needs attention when even the top of its 95% interval of "yes" is below this.
ATTENTION_BELOW = 0.5
LABELS: dict[GroupBy, str] = {"section": "Section", "author": "Author", "tag": "Tag"}
#: What to show next when a group is chosen: a section's authors, an author's tags, a tag's sections.
_DRILL: dict[GroupBy, GroupBy] = {"section": "author", "author": "tag", "tag": "section"}


def _interval(up: int, down: int, min_votes: int) -> dict[str, Any]:
    total = up + down
    low, high = wilson_interval(up, total)
    return {
        "up": up, "down": down, "total": total, "share": percent(share_up(up, down)),
        "interval": f"{percent(low)} {DASH} {percent(high)}" if total else DASH,
        "low": low, "high": high, "enough": enough_votes(total, min_votes),
    }


def _filters(where: AboutFilter | None) -> dict[str, str]:
    if where is None:
        return {}
    return {k: v for k, v in (("section", where.section), ("author", where.author), ("tag", where.tag)) if v}


def _href(prefix: str, days: DateRange, by: GroupBy, filters: Mapping[str, str]) -> str:
    return f"{prefix}/admin/groups?{urlencode({**days.query(), 'by': by, **filters})}"


async def _group_rows(
    store: Store, settings: Settings, by: GroupBy, where: AboutFilter | None, days: DateRange, prefix: str
) -> list[dict[str, Any]]:
    filters = _filters(where)
    found = await store.groups(by, where, MAX_GROUPS)
    # One pass over the range's history for every sparkline (a group's own query would seek each article).
    names = [str(g["name"]) for g in found[:SPARKLINES]]
    daily: dict[str, list[Row]] = defaultdict(list)
    for row in await store.groups_daily(by, names, days.start, days.end + dt.timedelta(days=1)):
        daily[str(row["name"])].append(row)
    rows = []
    for group in found:
        name = str(group["name"])
        chosen = {**filters, by: name}
        spark = None
        if name in names:
            series = fill_days(daily.get(name, []), days.start, days.end)
            spark = sparkline([d.total for d in series], title=f"Daily votes: {LABELS[by].lower()} {name}")
        rows.append({
            "name": name,
            "articles": group["articles"],
            "href": _href(prefix, days, _DRILL[by] if _DRILL[by] not in chosen else by, chosen),
            "export": export_href(prefix, format="csv", kind="articles", **chosen),
            "spark": spark,
            **_interval(int(group["up"]), int(group["down"]), settings.min_votes),
        })
    return rows


async def attention_rows(
    store: Store, settings: Settings, where: AboutFilter | None, prefix: str, now: dt.datetime
) -> list[dict[str, Any]]:
    """Articles with at least MIN_VOTES votes, recent, whose interval of "yes" lies below one half."""
    since = now - dt.timedelta(days=ATTENTION_DAYS)
    found: list[Row] = await store.attention(settings.min_votes, since, below=ATTENTION_BELOW, limit=20, where=where)
    return [
        {"article_id": r["article_id"], "title": r["title"], "section": r["section"],
         "href": article_href(prefix, str(r["article_id"])),
         **_interval(int(r["up"]), int(r["down"]), settings.min_votes)}
        for r in found
    ]


async def groups_context(
    store: Store, settings: Settings, params: Mapping[str, str], prefix: str, now: dt.datetime
) -> dict[str, Any]:
    """The ``/admin/groups`` page: ``by`` (section, author, tag), optional ``section``/``author``/``tag``
    filters and the ``from``/``to`` days of the charts."""
    by: GroupBy = next((b for b in GROUP_BYS if params.get("by") == b), "section")
    days = date_range(params, now.date())
    problem = days.problem
    try:
        where = about_filter(params)
    except InvalidRequest as error:
        where, problem = None, error.detail
    filters = _filters(where)
    chart = None
    if filters:  # the chosen group's own days
        kind, name = next(iter(filters.items()))
        series = fill_days(await store.group_daily(kind, name, days.start, days.end + dt.timedelta(days=1)),  # type: ignore[arg-type]
                           days.start, days.end)
        chart = daily_chart(series, title=f"Votes per day: {kind} {name}")
    return {
        "days": days,
        "problem": problem,
        "by": by,
        "labels": LABELS,
        "tabs": [{"by": b, "label": LABELS[b], "href": _href(prefix, days, b, filters), "current": b == by}
                 for b in GROUP_BYS],
        "filters": filters,
        "clear_href": _href(prefix, days, by, {}),
        "groups": await _group_rows(store, settings, by, where, days, prefix),
        "chart": chart,
        "attention": await attention_rows(store, settings, where, prefix, now),
        "attention_days": ATTENTION_DAYS,
        "min_votes": settings.min_votes,
        "export_all": export_href(prefix, format="csv", kind="articles", **filters),
    }
