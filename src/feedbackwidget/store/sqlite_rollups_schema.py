"""The SQLite rollups' schema: built from what is stored (schema 3) and kept per site (schema 7).

Both migrations also installed the triggers on ``events`` that kept the rollups until schema 8
(sqlite_fold.py, where the writer folds them instead, drops them); they stay as they ran, since
a file at any older version migrates through them.
"""

from __future__ import annotations

from .rollups import wilson_sql
from .site_keys import sql_site_of
from .site_sql import listing_site
from .sqlite_fold import DAY_US, HOUR_US, NO_TIME, floor_sql

#: Change of the site's current up / down votes that one event makes (``IS``: a row written by
#: something else than this store may lack its vote; it then counts for nothing, never fails).
_D_UP = (
    "CASE WHEN NEW.action IN ('cast', 'change') "
    "THEN (NEW.vote IS 'up') - (NEW.action = 'change' AND NEW.vote IS 'down') "
    "ELSE -(NEW.vote IS 'up') END"
)
_D_DOWN = (
    "CASE WHEN NEW.action IN ('cast', 'change') "
    "THEN (NEW.vote IS 'down') - (NEW.action = 'change' AND NEW.vote IS 'up') "
    "ELSE -(NEW.vote IS 'down') END"
)


def _build(source: str, key: str, unit: int, per_article: bool) -> str:
    article = "article_id, " if per_article else ""
    return (
        f"INSERT INTO {source} ({key}, {article}up, down) "
        f"SELECT {floor_sql('at', unit)}, {article}SUM(vote = 'up'), SUM(vote = 'down') FROM events "
        f"WHERE action IN ('cast', 'change') GROUP BY 1{', 2' if per_article else ''}"
    )


def _bump(table: str, key: str, unit: int, per_article: bool) -> str:
    article = ("article_id, ", "NEW.article_id, ", ", article_id") if per_article else ("", "", "")
    return (
        f"INSERT INTO {table} ({key}, {article[0]}up, down) "
        f"VALUES ({floor_sql('NEW.at', unit)}, {article[1]}NEW.vote IS 'up', NEW.vote IS 'down') "
        f"ON CONFLICT ({key}{article[2]}) DO UPDATE SET up = up + excluded.up, down = down + excluded.down"
    )


#: Schema version 3 (sqlite_schema.py): the rollups, built from what is stored, and kept from then on.
MIGRATION = f"""
ALTER TABLE articles ADD COLUMN rank_wilson REAL NOT NULL DEFAULT 0;
ALTER TABLE articles ADD COLUMN rank_total INTEGER NOT NULL DEFAULT 0;
ALTER TABLE articles ADD COLUMN rank_recent INTEGER NOT NULL DEFAULT {NO_TIME};
UPDATE articles SET rank_wilson = -{wilson_sql("up", "down")}, rank_total = -(up + down),
    rank_recent = COALESCE(-last_vote_at, {NO_TIME});
CREATE INDEX articles_by_wilson ON articles (rank_wilson, rank_total, article_id);
CREATE INDEX articles_by_total ON articles (rank_total, article_id);
CREATE INDEX articles_by_recent ON articles (rank_recent, article_id);

CREATE TABLE daily_rollup (
    day        INTEGER NOT NULL,
    article_id TEXT NOT NULL,
    up         INTEGER NOT NULL,
    down       INTEGER NOT NULL,
    PRIMARY KEY (day, article_id)
) WITHOUT ROWID;
CREATE INDEX daily_rollup_by_article ON daily_rollup (article_id, day);
CREATE TABLE hourly_rollup (
    hour       INTEGER NOT NULL,
    article_id TEXT NOT NULL,
    up         INTEGER NOT NULL,
    down       INTEGER NOT NULL,
    PRIMARY KEY (hour, article_id)
) WITHOUT ROWID;
CREATE TABLE site_daily (
    day  INTEGER PRIMARY KEY,
    up   INTEGER NOT NULL,
    down INTEGER NOT NULL
);
CREATE TABLE site_totals (
    only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
    up       INTEGER NOT NULL,
    down     INTEGER NOT NULL
);
INSERT INTO site_totals (only_row, up, down) SELECT 1, COALESCE(SUM(up), 0), COALESCE(SUM(down), 0) FROM articles;
{_build("daily_rollup", "day", DAY_US, True)};
{_build("hourly_rollup", "hour", HOUR_US, True)};
{_build("site_daily", "day", DAY_US, False)};

CREATE TRIGGER events_totals AFTER INSERT ON events BEGIN
    UPDATE site_totals SET up = up + {_D_UP}, down = down + {_D_DOWN};
END;
CREATE TRIGGER events_rollups AFTER INSERT ON events WHEN NEW.action IN ('cast', 'change') BEGIN
    {_bump("daily_rollup", "day", DAY_US, True)};
    {_bump("hourly_rollup", "hour", HOUR_US, True)};
    {_bump("site_daily", "day", DAY_US, False)};
END;"""


_SITE_OF_NEW = sql_site_of("sqlite", "NEW.article_id")
_LISTED, _LISTED_SITE = listing_site("sqlite", "article_id")

#: Schema version 7 (sqlite_schema.py): the site-wide rollups per site, rebuilt from the per-article
#: ones (not from the events, which a retention policy may have pruned), and the per-site listing
#: indexes (site_sql.py). Keys written before sites existed are all the default site's.
SITES_MIGRATION = f"""
DROP TRIGGER events_totals;
DROP TRIGGER events_rollups;
DROP TABLE site_totals;
DROP TABLE site_daily;
CREATE TABLE site_totals (
    site TEXT PRIMARY KEY,
    up   INTEGER NOT NULL,
    down INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO site_totals (site, up, down)
SELECT {sql_site_of("sqlite", "article_id")}, SUM(up), SUM(down) FROM articles GROUP BY 1;
CREATE TABLE site_daily (
    day  INTEGER NOT NULL,
    site TEXT NOT NULL,
    up   INTEGER NOT NULL,
    down INTEGER NOT NULL,
    PRIMARY KEY (day, site)
) WITHOUT ROWID;
INSERT INTO site_daily (day, site, up, down)
SELECT day, {sql_site_of("sqlite", "article_id")}, SUM(up), SUM(down) FROM daily_rollup GROUP BY 1, 2;

CREATE TRIGGER events_totals AFTER INSERT ON events BEGIN
    INSERT INTO site_totals (site, up, down) VALUES ({_SITE_OF_NEW}, {_D_UP}, {_D_DOWN})
    ON CONFLICT (site) DO UPDATE SET up = up + excluded.up, down = down + excluded.down;
END;
CREATE TRIGGER events_rollups AFTER INSERT ON events WHEN NEW.action IN ('cast', 'change') BEGIN
    {_bump("daily_rollup", "day", DAY_US, True)};
    {_bump("hourly_rollup", "hour", HOUR_US, True)};
    INSERT INTO site_daily (day, site, up, down)
    VALUES ({floor_sql('NEW.at', DAY_US)}, {_SITE_OF_NEW}, NEW.vote IS 'up', NEW.vote IS 'down')
    ON CONFLICT (day, site) DO UPDATE SET up = up + excluded.up, down = down + excluded.down;
END;

CREATE INDEX articles_site_by_wilson ON articles ({_LISTED_SITE}, rank_wilson, rank_total, article_id)
    WHERE {_LISTED};
CREATE INDEX articles_site_by_total ON articles ({_LISTED_SITE}, rank_total, article_id) WHERE {_LISTED};
CREATE INDEX articles_site_by_recent ON articles ({_LISTED_SITE}, rank_recent, article_id) WHERE {_LISTED};"""
