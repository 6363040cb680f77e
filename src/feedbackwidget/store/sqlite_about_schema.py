"""SQLite schema version 5: what each article is about (see about_sql.py)."""

from __future__ import annotations

MIGRATION = """
CREATE TABLE article_about (
    article_id   TEXT PRIMARY KEY,
    section      TEXT,
    published_at INTEGER,
    headline     TEXT,
    source       TEXT NOT NULL CHECK (source IN ('embed', 'page')),
    url          TEXT,
    updated_at   INTEGER NOT NULL,
    checked_at   INTEGER
) WITHOUT ROWID;
CREATE INDEX article_about_by_section ON article_about (section, article_id) WHERE section IS NOT NULL;

CREATE TABLE article_labels (
    kind       TEXT NOT NULL CHECK (kind IN ('author', 'tag')),
    name       TEXT NOT NULL,
    article_id TEXT NOT NULL,
    position   INTEGER NOT NULL,
    PRIMARY KEY (kind, name, article_id)
) WITHOUT ROWID;
CREATE INDEX article_labels_by_article ON article_labels (article_id, kind, position);
"""
