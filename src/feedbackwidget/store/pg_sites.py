"""Several sites in one PostgreSQL store (site_keys.py): the site-wide rollups kept per site,
and the SQL that keeps the rollup reads to one site.

``fw_site_totals`` (one row per site: its current up and down votes, the Bayesian prior) and
``fw_site_daily`` (per UTC day and site) are folded in with the other rollups (pg_rollups.py),
grouped by the site each event's article key names. A read with ``site=None`` sums them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from .site_keys import sql_site_of
from .site_sql import listing_site, numbered, site_where

_SITE_OF = sql_site_of("postgres", "article_id")
_LISTED, _LISTED_SITE = listing_site("postgres", "article_id")

#: Schema version 9 (pg_schema.py): the site-wide rollups per site, rebuilt from the per-article
#: rollups (not from the events, which a retention policy may have pruned) under the fold's
#: lock, so no fold runs meanwhile; and the per-site listing indexes (site_sql.py). Keys written
#: before sites existed are all the default site's.
MIGRATION = f"""
SELECT mark FROM fw_rollup_state FOR UPDATE;

CREATE TABLE fw_site_totals (
    site text COLLATE "C" PRIMARY KEY,
    up   bigint NOT NULL,
    down bigint NOT NULL
);
INSERT INTO fw_site_totals (site, up, down) SELECT {_SITE_OF}, sum(up), sum(down) FROM fw_ranks GROUP BY 1;
ALTER TABLE fw_rollup_state DROP COLUMN up, DROP COLUMN down;

DROP TABLE fw_site_daily;
CREATE TABLE fw_site_daily (
    day  date NOT NULL,
    site text COLLATE "C" NOT NULL,
    up   bigint NOT NULL,
    down bigint NOT NULL,
    PRIMARY KEY (day, site)
);
INSERT INTO fw_site_daily (day, site, up, down) SELECT day, {_SITE_OF}, sum(up), sum(down) FROM fw_daily GROUP BY 1, 2;

CREATE INDEX fw_ranks_site_by_wilson ON fw_ranks ({_LISTED_SITE}, rank_wilson, rank_total, article_id)
    WHERE {_LISTED};
CREATE INDEX fw_ranks_site_by_total ON fw_ranks ({_LISTED_SITE}, rank_total, article_id) WHERE {_LISTED};
CREATE INDEX fw_ranks_site_by_recent ON fw_ranks ({_LISTED_SITE}, rank_recent, article_id) WHERE {_LISTED};
"""

#: The fold's part (pg_rollups.FOLD, whose ``e`` holds the events folded): per site and day, the
#: votes cast or changed to each value, and the change of each site's current votes.
FOLD_SITES = f"""
site AS (
    INSERT INTO fw_site_daily AS r (day, site, up, down)
    SELECT (at AT TIME ZONE 'UTC')::date, {_SITE_OF}, sum(cu), sum(cd) FROM e WHERE cu + cd > 0 GROUP BY 1, 2
    ON CONFLICT (day, site) DO UPDATE SET up = r.up + excluded.up, down = r.down + excluded.down
), totals AS (
    INSERT INTO fw_site_totals AS r (site, up, down)
    SELECT {_SITE_OF}, sum(du), sum(dd) FROM e GROUP BY 1
    ON CONFLICT (site) DO UPDATE SET up = r.up + excluded.up, down = r.down + excluded.down
)"""


def site_totals_sql(site: str | None) -> tuple[str, list[Any]]:
    if site is None:
        return "SELECT coalesce(sum(up), 0)::bigint, coalesce(sum(down), 0)::bigint FROM fw_site_totals", []
    return "SELECT up, down FROM fw_site_totals WHERE site = $1", [site]


def site_daily_sql(start: dt.date, end: dt.date, site: str | None) -> tuple[str, list[Any]]:
    if site is None:
        return ("SELECT day, sum(up)::bigint, sum(down)::bigint FROM fw_site_daily WHERE day >= $1 AND day < $2 "
                "GROUP BY day ORDER BY day", [start, end])
    return ("SELECT day, up, down FROM fw_site_daily WHERE day >= $1 AND day < $2 AND site = $3 ORDER BY day",
            [start, end, site])


def and_site(column: str, site: str | None, first: int) -> tuple[str, list[str]]:
    """`` AND`` the condition keeping ``column`` to ``site`` (its parameters ``$first`` on), or ""."""
    where, params = site_where("postgres", column, site, numbered(first))
    return "".join(f" AND {c}" for c in where), params


def counts_between_sql(site: str | None) -> tuple[str, list[str]]:
    """Whole hours $1 <= hour < $2 from the rollup, the partial ones $3 <= at < $1 and $2 <= at < $4
    from events; with ``site``, its keys only (parameters $5 on)."""
    cond, params = and_site("article_id", site, 5)
    sql = f"""
SELECT article_id, sum(up)::bigint, sum(down)::bigint FROM (
    SELECT article_id, up, down FROM fw_hourly WHERE hour >= $1 AND hour < $2{cond}
    UNION ALL
    SELECT article_id, (vote = 'up')::int, (vote = 'down')::int FROM fw_events
    WHERE at >= $3 AND at < $1 AND action IN ('cast', 'change'){cond}
    UNION ALL  -- two plain ranges, not one OR: a generic plan keeps each an index range (fw_events_by_time)
    SELECT article_id, (vote = 'up')::int, (vote = 'down')::int FROM fw_events
    WHERE at >= $2 AND at < $4 AND action IN ('cast', 'change'){cond}
) u GROUP BY article_id HAVING sum(up) + sum(down) > 0 ORDER BY article_id
"""
    return sql, params


def daily_after_sql(site: str | None) -> tuple[str, list[str]]:
    """The whole-site daily rollup in key order by keyset batches ($1, $2: the day range; $3, $4:
    the last key read; $5 rows; the site's parameters $6 on): each batch is an index range that
    starts at once, where one query over a long range would be planned as a full scan and a sort."""
    cond, params = and_site("article_id", site, 6)
    sql = f"""
SELECT day, article_id, up, down FROM fw_daily
WHERE day >= $1 AND day < $2 AND (day, article_id) > ($3::date, $4::text){cond}
ORDER BY day, article_id LIMIT $5
"""
    return sql, params
