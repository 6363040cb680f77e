"""Dashboard context for what readers said after "No" and for refused attempts.

Reasons are counted over current votes (a reader who changes to "yes" takes
their reason back); refusals are the aggregates the web layer writes once a
minute (captcha missing or failed, rate limited, foreign origin), so an editor
can see an attack on one article.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from typing import Any

from ..charts import fill_days, sparkline
from ..config import Settings
from ..i18n import reason_label
from ..refusals import KINDS
from ..store.base import Store
from .admin_views import DateRange, article_href, percent, when

REFUSAL_LABELS = {
    "captcha_required": "No captcha answer",
    "captcha_failed": "Captcha failed",
    "rate_limited": "Rate limited",
    "forbidden_origin": "Foreign origin",
}
TEXTS_SHOWN = 50
TOP_ARTICLES = 10


async def reasons_context(
    store: Store, settings: Settings, article_id: str | None, days: DateRange
) -> dict[str, Any]:
    """Counts per reason (configured codes first, then any no longer configured) and,
    for one article, the latest free texts."""
    counts: Counter[str] = Counter()
    for row in await store.reasons(article_id, days.since, days.until):
        counts[str(row["reason"])] += int(row["count"])
    codes = [*settings.reasons, *sorted(c for c in counts if c not in settings.reasons)]
    total = sum(counts.values())
    items = [
        {"code": code, "label": reason_label(code), "count": counts[code],
         "share": percent(counts[code] / total) if total else percent(None)}
        for code in codes
    ]
    texts = []
    if article_id is not None:
        for row in await store.reason_texts(article_id, TEXTS_SHOWN):
            texts.append({"when": when(row["updated_at"]), "reason": reason_label(str(row["reason"])),
                          "text": row["reason_text"]})
    return {"enabled": bool(settings.reasons), "items": items, "total": total, "texts": texts,
            "show": bool(settings.reasons) or total > 0}


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


async def refusals_context(
    store: Store, article_id: str | None, days: DateRange, prefix: str
) -> dict[str, Any]:
    """Refused attempts per day and kind, a sparkline of the daily total and, site-wide,
    the most refused articles."""
    per_day: dict[dt.date, Counter[str]] = defaultdict(Counter)
    per_article: Counter[str] = Counter()
    by_kind: Counter[str] = Counter()
    for row in await store.refusals(article_id, days.since, days.until):
        day, kind, n = _as_date(row["day"]), str(row["kind"]), int(row["count"])
        per_day[day][kind] += n
        per_article[str(row["article_id"])] += n
        by_kind[kind] += n
    kinds = [k for k in KINDS if k in REFUSAL_LABELS]
    series = fill_days(({"day": d, "up": sum(c.values()), "down": 0} for d, c in per_day.items()),
                       days.start, days.end)
    rows = [{"day": d.isoformat(), "counts": [c[k] for k in kinds], "total": sum(c.values())}
            for d, c in sorted(per_day.items(), reverse=True)]
    top = []
    if article_id is None:
        query = days.query()
        for aid, n in per_article.most_common(TOP_ARTICLES):
            top.append({"article_id": aid, "count": n,
                        "href": article_href(prefix, aid, query) if aid else None})
    total = sum(by_kind.values())
    title = "Refused attempts per day" + ("" if article_id is None else ", this article")
    return {
        "total": total,
        "kinds": [{"code": k, "label": REFUSAL_LABELS[k], "count": by_kind[k]} for k in kinds],
        "days": rows,
        "top": top,
        "spark": sparkline([d.up for d in series], title=title, width=240, height=32),
    }
