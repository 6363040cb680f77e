"""SQLite schema, versioned with ``PRAGMA user_version`` (one entry per version)."""

from __future__ import annotations

from .sqlite_about_schema import MIGRATION as ABOUT
from .sqlite_fold import MIGRATION as FOLD
from .sqlite_rollups_schema import MIGRATION as ROLLUPS
from .sqlite_rollups_schema import SITES_MIGRATION as SITES

MIGRATIONS: tuple[str, ...] = (
    # 1: votes, their history, per-article counters, rate-limit state, meta.
    """
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value BLOB NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO meta (key, value) VALUES ('secret', randomblob(32));

    CREATE TABLE articles (
        article_id    TEXT PRIMARY KEY,
        title         TEXT,
        up            INTEGER NOT NULL DEFAULT 0 CHECK (up >= 0),
        down          INTEGER NOT NULL DEFAULT 0 CHECK (down >= 0),
        first_vote_at INTEGER,
        last_vote_at  INTEGER
    ) WITHOUT ROWID;

    CREATE TABLE votes (
        article_id      TEXT NOT NULL,
        voter           TEXT NOT NULL,
        vote            TEXT NOT NULL CHECK (vote IN ('up', 'down')),
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL,
        article_version TEXT,
        PRIMARY KEY (article_id, voter)
    ) WITHOUT ROWID;
    CREATE INDEX votes_by_voter ON votes (voter);

    CREATE TABLE events (
        event_id        INTEGER PRIMARY KEY AUTOINCREMENT,
        at              INTEGER NOT NULL,
        article_id      TEXT NOT NULL,
        voter           TEXT NOT NULL,
        action          TEXT NOT NULL CHECK (action IN ('cast', 'change', 'withdraw', 'erase')),
        vote            TEXT CHECK (vote IN ('up', 'down')),
        article_version TEXT
    );
    CREATE INDEX events_by_time ON events (at);

    CREATE TABLE rate_limits (
        key TEXT PRIMARY KEY,
        tat REAL NOT NULL
    ) WITHOUT ROWID;
    """,
    # 2: an optional reason (and free text) on a "No" vote; refused attempts, aggregated per day.
    """
    ALTER TABLE votes ADD COLUMN reason TEXT;
    ALTER TABLE votes ADD COLUMN reason_text TEXT;
    CREATE INDEX votes_with_reason ON votes (article_id, voter) WHERE reason IS NOT NULL;
    -- One article's daily history (the dashboard's article page): 122 ms -> 1 ms at 100k votes.
    CREATE INDEX events_by_article ON events (article_id, at);

    CREATE TABLE refusals (
        day        TEXT NOT NULL,
        article_id TEXT NOT NULL,
        kind       TEXT NOT NULL,
        count      INTEGER NOT NULL CHECK (count >= 0),
        PRIMARY KEY (day, article_id, kind)
    ) WITHOUT ROWID;
    """,
    # 3: rollups kept with the data (daily, hourly, site-wide) and the listing's sort keys.
    ROLLUPS,
    # 4: the webhook outbox, written in the transaction of the vote that caused each message.
    #    A message is due while neither delivered nor failed and next_at has come; a claim
    #    moves next_at to the end of its lease, so a server that dies mid-delivery only
    #    delays it. dedupe makes some messages once-only per endpoint (a milestone, a digest).
    """
    CREATE TABLE outbox (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        message_id   TEXT NOT NULL,
        endpoint     TEXT NOT NULL,
        type         TEXT NOT NULL,
        payload      TEXT NOT NULL,
        dedupe       TEXT,
        created_at   INTEGER NOT NULL,
        next_at      INTEGER NOT NULL,
        attempts     INTEGER NOT NULL DEFAULT 0,
        lease_owner  TEXT,
        delivered_at INTEGER,
        failed_at    INTEGER,
        last_status  INTEGER,
        last_error   TEXT
    );
    CREATE UNIQUE INDEX outbox_once ON outbox (dedupe, endpoint) WHERE dedupe IS NOT NULL;
    CREATE INDEX outbox_due ON outbox (next_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
    """,
    # 5: what each article is about: section, authors, tags, publication time (sqlite_about*.py).
    ABOUT,
    # 6: what each article's alerts have already said (store/outbox.py AlertState): milestones at
    #    or below milestone_reached are settled, the sentiment band it is in and how many times it
    #    entered one. Articles voted on before start settled up to their vote count, so turning
    #    this version on sends no milestone an article had passed already (as before it).
    """
    CREATE TABLE alert_state (
        article_id        TEXT PRIMARY KEY,
        milestone_reached INTEGER NOT NULL DEFAULT 0,
        band              TEXT,
        band_entries      INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;
    INSERT INTO alert_state (article_id, milestone_reached) SELECT article_id, up + down FROM articles;
    """,
    # 7: several sites in one store (site_keys.py): the site-wide rollups per site, and a listing
    #    index per order that leads with the site, for keys that name a site (sqlite_rollups.py).
    SITES,
    # 8: the rollups folded in once per group commit by the writer (sqlite_fold.py), not by a
    #    trigger once per event.
    FOLD,
)

VERSION = len(MIGRATIONS)
