"""PostgreSQL schema, one migration per version (``fw_schema.version`` records the last).

Every object carries the ``fw_`` prefix so the tables can share a database (or a
schema chosen through ``search_path``) with the host application. Article ids and
voter keys use the ``"C"`` collation so that ordering is by code point, exactly as
in the SQLite store.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: votes, their history, per-article counters kept on the article row,
    #    rate-limit state (unlogged: losing it in a crash is harmless), meta.
    """
    CREATE TABLE fw_meta (
        key   text PRIMARY KEY,
        value bytea NOT NULL
    );

    CREATE TABLE fw_articles (
        article_id    text COLLATE "C" PRIMARY KEY,
        title         text,
        up            bigint NOT NULL DEFAULT 0 CHECK (up >= 0),
        down          bigint NOT NULL DEFAULT 0 CHECK (down >= 0),
        first_vote_at timestamptz,
        last_vote_at  timestamptz
    );

    CREATE TABLE fw_votes (
        article_id      text COLLATE "C" NOT NULL,
        voter           text COLLATE "C" NOT NULL,
        vote            text NOT NULL CHECK (vote IN ('up', 'down')),
        created_at      timestamptz NOT NULL,
        updated_at      timestamptz NOT NULL,
        article_version text,
        PRIMARY KEY (article_id, voter)
    );
    CREATE INDEX fw_votes_by_voter ON fw_votes (voter);

    CREATE TABLE fw_events (
        event_id        bigint GENERATED ALWAYS AS IDENTITY (CACHE 1) PRIMARY KEY,
        at              timestamptz NOT NULL,
        article_id      text COLLATE "C" NOT NULL,
        voter           text COLLATE "C" NOT NULL,
        action          text NOT NULL CHECK (action IN ('cast', 'change', 'withdraw', 'erase')),
        vote            text CHECK (vote IN ('up', 'down')),
        article_version text
    );
    CREATE INDEX fw_events_by_time ON fw_events (at);

    CREATE UNLOGGED TABLE fw_rate (
        key text COLLATE "C" PRIMARY KEY,
        tat double precision NOT NULL
    );

    CREATE FUNCTION fw_wilson(up bigint, down bigint) RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT CASE WHEN up + down <= 0 THEN 0.0 ELSE greatest(0.0, (
            up::float8 / (up + down) + 3.841458820694124 / (2 * (up + down))
            - 1.959963984540054 * sqrt(
                (up::float8 / (up + down)) * (1 - up::float8 / (up + down)) / (up + down)
                + 3.841458820694124 / (4.0 * (up + down) * (up + down)))
        ) / (1 + 3.841458820694124 / (up + down))) END
    $$;
    """,
    # 2: the hot-article fix. One row per article serialised every writer of a
    #    viral article on its row lock; counters move to a few slots per article
    #    (a writer picks one at random, readers sum them). first_vote_at stays on
    #    the article row (written once); last_vote_at moves to the slots.
    """
    CREATE TABLE fw_counters (
        article_id   text COLLATE "C" NOT NULL,
        slot         smallint NOT NULL,
        up           bigint NOT NULL DEFAULT 0,
        down         bigint NOT NULL DEFAULT 0,
        last_vote_at timestamptz,
        PRIMARY KEY (article_id, slot)
    ) WITH (fillfactor = 50);

    INSERT INTO fw_counters (article_id, slot, up, down, last_vote_at)
    SELECT article_id, 0, up, down, last_vote_at FROM fw_articles
    WHERE up <> 0 OR down <> 0 OR last_vote_at IS NOT NULL;

    ALTER TABLE fw_articles DROP COLUMN up, DROP COLUMN down, DROP COLUMN last_vote_at;
    """,
)

VERSION = len(MIGRATIONS)

#: Creates the version table itself (version 0 means "nothing migrated yet").
BOOTSTRAP = """
CREATE TABLE IF NOT EXISTS fw_schema (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    version  integer NOT NULL
);
INSERT INTO fw_schema (version) VALUES (0) ON CONFLICT DO NOTHING;
"""
