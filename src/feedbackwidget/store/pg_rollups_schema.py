"""The PostgreSQL rollups' schema (version 5): built from what is stored; pg_rollups.py folds
new events into them, pg_sites.py keeps the site-wide ones per site (version 9)."""

from __future__ import annotations

_MAX_KEY = 9223372036854775807


def migration(lock_ns: int, lock_events: int) -> str:
    """Schema version 5: the rollups, built from what is stored under the event lock (writers wait
    for the build: without it, an event committed during it could be missed for ever)."""
    return f"""
    SELECT pg_advisory_xact_lock({lock_ns}, {lock_events});

    CREATE FUNCTION fw_recent_key(at timestamptz) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT CASE WHEN at IS NULL THEN {_MAX_KEY}
                    WHEN at = 'infinity' THEN -{_MAX_KEY}
                    WHEN at = '-infinity' THEN {_MAX_KEY - 1}
                    ELSE -(extract(epoch FROM at) * 1000000)::bigint END
    $$;

    CREATE TABLE fw_rollup_state (
        only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
        mark     bigint NOT NULL,
        up       bigint NOT NULL,
        down     bigint NOT NULL
    );
    CREATE TABLE fw_daily (
        day        date NOT NULL,
        article_id text COLLATE "C" NOT NULL,
        up         bigint NOT NULL,
        down       bigint NOT NULL,
        PRIMARY KEY (day, article_id)
    );
    -- Covering: a dashboard reads an article's days from the index alone, not one heap page per day.
    CREATE INDEX fw_daily_by_article ON fw_daily (article_id, day) INCLUDE (up, down);
    CREATE TABLE fw_hourly (
        hour       timestamptz NOT NULL,
        article_id text COLLATE "C" NOT NULL,
        up         bigint NOT NULL,
        down       bigint NOT NULL,
        PRIMARY KEY (hour, article_id)
    );
    CREATE TABLE fw_site_daily (
        day  date PRIMARY KEY,
        up   bigint NOT NULL,
        down bigint NOT NULL
    );
    CREATE TABLE fw_ranks (
        article_id   text COLLATE "C" PRIMARY KEY,
        up           bigint NOT NULL,
        down         bigint NOT NULL,
        last_vote_at timestamptz,
        rank_wilson  double precision NOT NULL,
        rank_total   bigint NOT NULL,
        rank_recent  bigint NOT NULL
    );

    INSERT INTO fw_ranks
    SELECT a.article_id, coalesce(c.up, 0), coalesce(c.down, 0), c.last_vote_at,
           -fw_wilson(coalesce(c.up, 0), coalesce(c.down, 0)), -(coalesce(c.up, 0) + coalesce(c.down, 0)),
           fw_recent_key(c.last_vote_at)
    FROM fw_articles a LEFT JOIN (
        SELECT article_id, sum(up)::bigint AS up, sum(down)::bigint AS down, max(last_vote_at) AS last_vote_at
        FROM fw_counters GROUP BY article_id
    ) c USING (article_id);
    CREATE INDEX fw_ranks_by_wilson ON fw_ranks (rank_wilson, rank_total, article_id);
    CREATE INDEX fw_ranks_by_total ON fw_ranks (rank_total, article_id);
    CREATE INDEX fw_ranks_by_recent ON fw_ranks (rank_recent, article_id);

    INSERT INTO fw_daily
    SELECT (at AT TIME ZONE 'UTC')::date, article_id,
           count(*) FILTER (WHERE vote = 'up'), count(*) FILTER (WHERE vote = 'down')
    FROM fw_events WHERE action IN ('cast', 'change') GROUP BY 1, 2;
    INSERT INTO fw_hourly
    SELECT date_trunc('hour', at, 'UTC'), article_id,
           count(*) FILTER (WHERE vote = 'up'), count(*) FILTER (WHERE vote = 'down')
    FROM fw_events WHERE action IN ('cast', 'change') GROUP BY 1, 2;
    INSERT INTO fw_site_daily SELECT day, sum(up), sum(down) FROM fw_daily GROUP BY day;
    INSERT INTO fw_rollup_state (mark, up, down)
    SELECT coalesce((SELECT max(event_id) FROM fw_events), 0), coalesce(sum(up), 0), coalesce(sum(down), 0)
    FROM fw_ranks;
    """
