"""Schema rewinds for migration tests: a store taken back to the version before several sites
(SQLite 6, PostgreSQL 8), its data kept, as a store of that version would hold it."""

from __future__ import annotations

from feedbackwidget.store.sqlite_rollups_schema import MIGRATION as SQLITE_ROLLUPS
from feedbackwidget.store.sqlite_sql import statements

#: The version each store had before the sites migration.
BEFORE_SITES = {"sqlite": 6, "postgres": 8}

_OLD_TRIGGERS = ";\n".join(s for s in statements(SQLITE_ROLLUPS) if s.startswith("CREATE TRIGGER"))

#: From the sites migration back to the version before it: one site-wide row, days summed.
TO_BEFORE_SITES = {
    "sqlite": f"""
        DROP TABLE rollup_state;
        DROP INDEX articles_site_by_wilson; DROP INDEX articles_site_by_total; DROP INDEX articles_site_by_recent;
        DROP TABLE site_totals; DROP TABLE site_daily;
        CREATE TABLE site_daily (day INTEGER PRIMARY KEY, up INTEGER NOT NULL, down INTEGER NOT NULL);
        INSERT INTO site_daily SELECT day, SUM(up), SUM(down) FROM daily_rollup GROUP BY day;
        CREATE TABLE site_totals (
            only_row INTEGER PRIMARY KEY CHECK (only_row = 1), up INTEGER NOT NULL, down INTEGER NOT NULL
        );
        INSERT INTO site_totals SELECT 1, COALESCE(SUM(up), 0), COALESCE(SUM(down), 0) FROM articles;
        {_OLD_TRIGGERS};
        PRAGMA user_version = 6;
    """,
    "postgres": """
        DROP INDEX fw_ranks_site_by_wilson, fw_ranks_site_by_total, fw_ranks_site_by_recent;
        ALTER TABLE fw_rollup_state ADD COLUMN up bigint NOT NULL DEFAULT 0, ADD COLUMN down bigint NOT NULL DEFAULT 0;
        UPDATE fw_rollup_state SET up = (SELECT coalesce(sum(up), 0) FROM fw_site_totals),
            down = (SELECT coalesce(sum(down), 0) FROM fw_site_totals);
        DROP TABLE fw_site_totals, fw_site_daily;
        CREATE TABLE fw_site_daily (day date PRIMARY KEY, up bigint NOT NULL, down bigint NOT NULL);
        INSERT INTO fw_site_daily SELECT day, sum(up), sum(down) FROM fw_daily GROUP BY day;
        UPDATE fw_schema SET version = 8;
    """,
}
