"""The SQLite rollups folded in once per group commit, not once per event.

Until schema 8 a trigger on ``events`` moved four rollup rows for every vote (the day's and
the hour's of its article, its site's day and its site's totals): about a quarter of the
writer's time per vote. Now the writer (sqlite_writer.py), after a batch's operations and
before its ``COMMIT``, runs :func:`fold`: each rollup table takes the batch's new events
(``event_id`` above the mark in ``rollup_state``) aggregated by one ``INSERT … SELECT …
GROUP BY … ON CONFLICT`` statement, and the mark moves to the last of them, all in that
transaction. So the rollups still commit with the votes that change them (no reader ever
sees one without the other), each event is folded exactly once (event ids only grow:
``AUTOINCREMENT``), and a batch's votes on one article and day cost one row write.

Any writer of the file that runs this code folds every event above the mark, its own and
any another program inserted since. What deletes events folds first (sqlite_retention.py),
so no event leaves unfolded.
"""

from __future__ import annotations

import sqlite3

from .rollups import wilson_sql
from .site_keys import sql_site_of

DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000
_SITE = sql_site_of("sqlite", "article_id")
#: rank_recent of an article without any vote time: after every other.
NO_TIME = 2**63 - 1


def floor_sql(column: str, unit: int) -> str:
    """Whole ``unit``s since the epoch (floor division, also before 1970)."""
    return f"(({column} - ((({column} % {unit}) + {unit}) % {unit})) / {unit})"


#: Schema version 8: the triggers go; the mark starts at the last event they folded.
MIGRATION = """
DROP TRIGGER events_totals;
DROP TRIGGER events_rollups;
CREATE TABLE rollup_state (
    only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
    mark     INTEGER NOT NULL
);
INSERT INTO rollup_state (only_row, mark) SELECT 1, COALESCE(MAX(event_id), 0) FROM events;
"""

#: The events above the mark (``?1``) per UTC hour and article, in a table of the writer's
#: connection: ``counted`` cast or changed, ``cu``/``cd`` of them to up/down (what the day and
#: hour rollups count; ``IS``: a row written by another program may lack its vote, and then
#: counts for nothing, as it did in the trigger), ``du``/``dd`` the change of the current up/down
#: votes (a cast adds its vote, a change also takes one of the other value away, a withdrawal
#: or an erasure takes its vote away). Every rollup is then written from these few rows: the
#: events are read once, not once per rollup.
_BATCH = (
    "CREATE TEMP TABLE IF NOT EXISTS fold_batch (hour INTEGER, article_id TEXT, counted INTEGER, "
    "cu INTEGER, cd INTEGER, du INTEGER, dd INTEGER)",
    "DELETE FROM temp.fold_batch",
    f"INSERT INTO temp.fold_batch SELECT {floor_sql('at', HOUR_US)}, article_id, SUM(action IN ('cast', 'change')), "
    "SUM(action IN ('cast', 'change') AND vote IS 'up'), SUM(action IN ('cast', 'change') AND vote IS 'down'), "
    "SUM(CASE WHEN action IN ('cast', 'change') "
    "THEN (vote IS 'up') - (action = 'change' AND vote IS 'down') ELSE -(vote IS 'up') END), "
    "SUM(CASE WHEN action IN ('cast', 'change') "
    "THEN (vote IS 'down') - (action = 'change' AND vote IS 'up') ELSE -(vote IS 'down') END) "
    "FROM events WHERE event_id > ?1 GROUP BY 1, 2",
)
_ADD = "DO UPDATE SET up = up + excluded.up, down = down + excluded.down"
_DAY = floor_sql("hour", 24)  # a day is 24 hours: floor(floor(at / hour) / 24) = floor(at / day)
_STATEMENTS = (
    "INSERT INTO hourly_rollup (hour, article_id, up, down) SELECT hour, article_id, cu, cd "
    f"FROM temp.fold_batch WHERE counted > 0 ON CONFLICT (hour, article_id) {_ADD}",
    f"INSERT INTO daily_rollup (day, article_id, up, down) SELECT {_DAY}, article_id, SUM(cu), SUM(cd) "
    f"FROM temp.fold_batch WHERE counted > 0 GROUP BY 1, 2 ON CONFLICT (day, article_id) {_ADD}",
    f"INSERT INTO site_daily (day, site, up, down) SELECT {_DAY}, {_SITE}, SUM(cu), SUM(cd) "
    f"FROM temp.fold_batch WHERE counted > 0 GROUP BY 1, 2 ON CONFLICT (day, site) {_ADD}",
    f"INSERT INTO site_totals (site, up, down) SELECT {_SITE}, SUM(du), SUM(dd) "
    f"FROM temp.fold_batch WHERE true GROUP BY 1 ON CONFLICT (site) {_ADD}",
    # The listing's sort keys of the articles those events moved (from their counters, which
    # every vote moves at once): each article's index entries move once per fold, not per vote.
    f"UPDATE articles SET rank_wilson = -{wilson_sql('up', 'down')}, rank_total = -(up + down), "
    f"rank_recent = COALESCE(-last_vote_at, {NO_TIME}) "
    "WHERE article_id IN (SELECT article_id FROM temp.fold_batch)",
)


def fold(conn: sqlite3.Connection) -> int:
    """Fold the events above the mark into the rollups and move the mark, in the caller's
    transaction (the writer's batch); returns how many events it folded (0 costs two point reads)."""
    mark = conn.execute("SELECT mark FROM rollup_state").fetchone()
    high = conn.execute("SELECT MAX(event_id) FROM events").fetchone()[0]
    if mark is None or high is None or high <= mark[0]:
        return 0
    for sql in _BATCH:
        conn.execute(sql, (mark[0],) if "?1" in sql else ())
    for sql in _STATEMENTS:
        conn.execute(sql)
    conn.execute("UPDATE rollup_state SET mark = ?", (high,))
    return int(high - mark[0])
