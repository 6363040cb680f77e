"""PostgreSQL schema, one migration per version (``fw_schema.version`` records the last).

Every object carries the ``fw_`` prefix so the tables can share a database (or a
schema chosen through ``search_path``) with the host application. Article ids and
voter keys use the ``"C"`` collation so that ordering is by code point, exactly as
in the SQLite store.
"""

from __future__ import annotations

from .pg_about import MIGRATION as ABOUT
from .pg_rollups_schema import migration as rollups_migration
from .pg_sites import MIGRATION as SITES

#: Advisory lock namespace ("FWDG") and the locks in it (see postgres.py for their use).
LOCK_NS = 0x46574447
LOCK_MIGRATE = 1
LOCK_EVENTS = 2

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
    # 3: a cast in one round trip. The same statements the store used to send
    #    one by one, in the same order, run inside the server as one statement
    #    (and so one transaction): from ~7 round trips per vote to 1.
    f"""
    CREATE FUNCTION fw_cast(
        p_article text, p_voter text, p_vote text, p_at timestamptz, p_version text,
        p_title text, p_trusted boolean, p_slot smallint,
        OUT r_changed boolean, OUT r_previous text, OUT r_up bigint, OUT r_down bigint
    ) LANGUAGE plpgsql AS $$
    DECLARE
        v_inserted boolean;
    BEGIN
        -- The shared event lock first, before any row lock (see postgres.py).
        PERFORM pg_advisory_xact_lock_shared({LOCK_NS}, {LOCK_EVENTS});
        INSERT INTO fw_articles (article_id, title, first_vote_at) VALUES (p_article, p_title, p_at)
        ON CONFLICT (article_id) DO NOTHING;
        INSERT INTO fw_votes AS v (article_id, voter, vote, created_at, updated_at, article_version)
        VALUES (p_article, p_voter, p_vote, p_at, p_at, p_version)
        ON CONFLICT (article_id, voter) DO UPDATE
            SET vote = excluded.vote, updated_at = excluded.updated_at,
                article_version = excluded.article_version
            WHERE v.vote <> excluded.vote
        RETURNING (xmax = 0) INTO v_inserted;
        IF FOUND THEN
            r_changed := true;
            r_previous := CASE WHEN v_inserted THEN NULL
                               WHEN p_vote = 'up' THEN 'down' ELSE 'up' END;
            INSERT INTO fw_events (at, article_id, voter, action, vote, article_version)
            VALUES (p_at, p_article, p_voter,
                    CASE WHEN v_inserted THEN 'cast' ELSE 'change' END, p_vote, p_version);
            INSERT INTO fw_counters AS c (article_id, slot, up, down, last_vote_at)
            VALUES (p_article, p_slot,
                    (p_vote = 'up')::int - (r_previous IS NOT DISTINCT FROM 'up')::int,
                    (p_vote = 'down')::int - (r_previous IS NOT DISTINCT FROM 'down')::int,
                    p_at)
            ON CONFLICT (article_id, slot) DO UPDATE
                SET up = c.up + excluded.up, down = c.down + excluded.down,
                    last_vote_at = greatest(c.last_vote_at, excluded.last_vote_at);
        ELSE
            r_changed := false;
            r_previous := p_vote;
        END IF;
        IF p_title IS NOT NULL AND p_title <> '' THEN
            IF p_trusted THEN
                UPDATE fw_articles SET title = p_title
                WHERE article_id = p_article AND title IS DISTINCT FROM p_title;
            ELSE
                UPDATE fw_articles SET title = p_title
                WHERE article_id = p_article AND (title IS NULL OR title = '');
            END IF;
        END IF;
        SELECT coalesce(sum(c.up), 0), coalesce(sum(c.down), 0) INTO r_up, r_down
        FROM fw_counters c WHERE c.article_id = p_article;
    END
    $$;
    """,
    # 4: an optional reason (and free text) on a "No" vote, dropped when the vote
    #    changes; refused attempts aggregated per UTC day. fw_cast is replaced
    #    (same signature) so that a changed vote loses its reason.
    f"""
    ALTER TABLE fw_votes ADD COLUMN reason text COLLATE "C", ADD COLUMN reason_text text;
    -- Few votes carry a reason: site-wide counts and the export read only those
    -- (1M votes, 1.7% with a reason: counts 99 -> 22 ms, export 167 -> 86 ms; built in 0.14 s).
    CREATE INDEX fw_votes_with_reason ON fw_votes (article_id, voter) WHERE reason IS NOT NULL;
    -- One article's daily history (the dashboard's article page): a range scan, not a full one.
    CREATE INDEX fw_events_by_article ON fw_events (article_id, at);

    CREATE TABLE fw_refusals (
        day        date NOT NULL,
        article_id text COLLATE "C" NOT NULL,
        kind       text COLLATE "C" NOT NULL,
        count      bigint NOT NULL CHECK (count >= 0),
        PRIMARY KEY (day, article_id, kind)
    );

    CREATE OR REPLACE FUNCTION fw_cast(
        p_article text, p_voter text, p_vote text, p_at timestamptz, p_version text,
        p_title text, p_trusted boolean, p_slot smallint,
        OUT r_changed boolean, OUT r_previous text, OUT r_up bigint, OUT r_down bigint
    ) LANGUAGE plpgsql AS $$
    DECLARE
        v_inserted boolean;
    BEGIN
        -- The shared event lock first, before any row lock (see postgres.py).
        PERFORM pg_advisory_xact_lock_shared({LOCK_NS}, {LOCK_EVENTS});
        INSERT INTO fw_articles (article_id, title, first_vote_at) VALUES (p_article, p_title, p_at)
        ON CONFLICT (article_id) DO NOTHING;
        INSERT INTO fw_votes AS v (article_id, voter, vote, created_at, updated_at, article_version)
        VALUES (p_article, p_voter, p_vote, p_at, p_at, p_version)
        ON CONFLICT (article_id, voter) DO UPDATE
            SET vote = excluded.vote, updated_at = excluded.updated_at,
                article_version = excluded.article_version,
                reason = NULL, reason_text = NULL
            WHERE v.vote <> excluded.vote
        RETURNING (xmax = 0) INTO v_inserted;
        IF FOUND THEN
            r_changed := true;
            r_previous := CASE WHEN v_inserted THEN NULL
                               WHEN p_vote = 'up' THEN 'down' ELSE 'up' END;
            INSERT INTO fw_events (at, article_id, voter, action, vote, article_version)
            VALUES (p_at, p_article, p_voter,
                    CASE WHEN v_inserted THEN 'cast' ELSE 'change' END, p_vote, p_version);
            INSERT INTO fw_counters AS c (article_id, slot, up, down, last_vote_at)
            VALUES (p_article, p_slot,
                    (p_vote = 'up')::int - (r_previous IS NOT DISTINCT FROM 'up')::int,
                    (p_vote = 'down')::int - (r_previous IS NOT DISTINCT FROM 'down')::int,
                    p_at)
            ON CONFLICT (article_id, slot) DO UPDATE
                SET up = c.up + excluded.up, down = c.down + excluded.down,
                    last_vote_at = greatest(c.last_vote_at, excluded.last_vote_at);
        ELSE
            r_changed := false;
            r_previous := p_vote;
        END IF;
        IF p_title IS NOT NULL AND p_title <> '' THEN
            IF p_trusted THEN
                UPDATE fw_articles SET title = p_title
                WHERE article_id = p_article AND title IS DISTINCT FROM p_title;
            ELSE
                UPDATE fw_articles SET title = p_title
                WHERE article_id = p_article AND (title IS NULL OR title = '');
            END IF;
        END IF;
        SELECT coalesce(sum(c.up), 0), coalesce(sum(c.down), 0) INTO r_up, r_down
        FROM fw_counters c WHERE c.article_id = p_article;
    END
    $$;
    """,
    # 5: rollups (daily, hourly, site-wide) and the listing's sort keys, folded in from the
    #    events after the vote's transaction (pg_rollups.py says why), built here for what is stored.
    rollups_migration(LOCK_NS, LOCK_EVENTS),
    # 6: the webhook outbox (see store/outbox.py), written in the transaction of the vote that
    #    caused each message. A claim moves next_at to the end of its lease; servers claim with
    #    FOR UPDATE SKIP LOCKED, so they never wait for each other nor take the same row.
    """
    CREATE TABLE fw_outbox (
        id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        message_id   text NOT NULL,
        endpoint     text NOT NULL,
        type         text NOT NULL,
        payload      text NOT NULL,
        dedupe       text COLLATE "C",
        created_at   timestamptz NOT NULL DEFAULT now(),
        next_at      timestamptz NOT NULL DEFAULT now(),
        attempts     integer NOT NULL DEFAULT 0,
        lease_owner  text,
        delivered_at timestamptz,
        failed_at    timestamptz,
        last_status  integer,
        last_error   text
    );
    CREATE UNIQUE INDEX fw_outbox_once ON fw_outbox (dedupe, endpoint) WHERE dedupe IS NOT NULL;
    CREATE INDEX fw_outbox_due ON fw_outbox (next_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
    """,
    # 7: what each article is about: section, authors, tags, publication time (pg_about.py).
    ABOUT,
    # 8: what each article's alerts have already said (store/outbox.py AlertState). A cast reads
    #    it without a lock; only a cast that moves it (a milestone reached, a band entered or
    #    left) locks the article's row, so one article's writers queue only at those moments.
    #    Articles voted on before start settled up to their vote count: turning this version on
    #    sends no milestone an article had passed already (as before it).
    """
    CREATE TABLE fw_alert_state (
        article_id        text COLLATE "C" PRIMARY KEY,
        milestone_reached bigint NOT NULL DEFAULT 0,
        band              text,
        band_entries      integer NOT NULL DEFAULT 0
    );
    INSERT INTO fw_alert_state (article_id, milestone_reached)
    SELECT article_id, sum(up + down) FROM fw_counters GROUP BY article_id;
    """,
    # 9: several sites in one store (site_keys.py): the site-wide rollups per site, and a listing
    #    index per order that leads with the site, for keys that name a site (pg_sites.py).
    SITES,
    # 10: the hour rollup's key carries its counts (INCLUDE), so a daily export in a time zone
    #     reads a month of hours from the index alone (an index-only scan) instead of one heap
    #     page per row: at 20,000 articles a 32-day chunk's scan went from ~150 ms to ~30 ms.
    #     One index replaces the other: no second copy of the keys to maintain.
    """
    ALTER TABLE fw_hourly DROP CONSTRAINT fw_hourly_pkey,
        ADD CONSTRAINT fw_hourly_pkey PRIMARY KEY (hour, article_id) INCLUDE (up, down);
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
