"""What each article is about, in SQL both stores share: the schema's shape, the group
queries, the filters and the "needs attention" query, written once for both dialects.

Tables (``fw_`` prefixed on PostgreSQL):

* ``article_about``: one row per article — ``section``, ``published_at``, ``headline``,
  ``source`` (``embed``: signed by ``widget.embed()``; ``page``: read from the page's
  JSON-LD), ``url`` (the page read), ``updated_at``, ``checked_at`` (when the page
  was last read, whatever it said);
* ``article_labels``: authors and tags, one row per (kind, name, article) with the
  name's ``position`` in the article's list; its key serves "articles of this author".

Counts come from each store's current counters (``{counts}`` below: the ``articles``
row on SQLite, the summed counter slots on PostgreSQL), so a group's up and down are
exactly the sum of its articles' tallies.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..types import AboutFilter, GroupBy
from .site_keys import Dialect as SiteDialect
from .site_sql import site_where

LABEL_KINDS = ("author", "tag")


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one store spells what the queries need."""

    #: Table name prefix: "" (SQLite) or "fw_" (PostgreSQL).
    prefix: str
    #: ``FROM`` item with columns ``article_id, title, up, down, first_vote_at, last_vote_at``, alias ``a``.
    counts: str
    #: Placeholder for the n-th parameter (1-based).
    mark: Callable[[int], str]
    #: The Wilson lower bound of (up, down) as SQL.
    wilson: str

    def table(self, name: str) -> str:
        return self.prefix + name

    @property
    def name(self) -> SiteDialect:
        return "sqlite" if self.prefix == "" else "postgres"


class Params:
    """Parameters collected while a query is written, with their placeholders."""

    def __init__(self, dialect: Dialect, first: list[Any] | None = None) -> None:
        self.dialect = dialect
        self.values: list[Any] = list(first or [])

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return self.dialect.mark(len(self.values))


def in_site(d: Dialect, column: str, site: str | None, p: Params) -> list[str]:
    """Conditions (none, or one) keeping ``column`` (an article key) to ``site``'s keys; its
    placeholders come next in ``p`` (so it goes where the text reaches it in that order)."""
    numbers = itertools.count(len(p.values) + 1)
    conditions, values = site_where(d.name, column, site, lambda: d.mark(next(numbers)))
    p.values.extend(values)
    return conditions


def filters(d: Dialect, where: AboutFilter | None, p: Params) -> list[str]:
    """Conditions on ``a.article_id`` for a section, an author and a tag (each exact)."""
    out: list[str] = []
    if where is None:
        return out
    if where.section is not None:
        out.append(f"EXISTS (SELECT 1 FROM {d.table('article_about')} f "
                   f"WHERE f.article_id = a.article_id AND f.section = {p(where.section)})")
    for kind, name in (("author", where.author), ("tag", where.tag)):
        if name is not None:
            out.append(f"EXISTS (SELECT 1 FROM {d.table('article_labels')} f WHERE f.kind = '{kind}' "
                       f"AND f.name = {p(name)} AND f.article_id = a.article_id)")
    return out


def groups_sql(
    d: Dialect, by: GroupBy, where: AboutFilter | None, limit: int, site: str | None = None
) -> tuple[str, list[Any]]:
    """Rows ``name, articles, up, down, last_vote_at`` per section, author or tag (of ``site``'s
    articles, or every site's), most votes first."""
    p = Params(d)
    if by == "section":
        source = f"{d.table('article_about')} g JOIN {d.counts} ON a.article_id = g.article_id"
        name, cond = "g.section", ["g.section IS NOT NULL"]
    else:
        source = f"{d.table('article_labels')} g JOIN {d.counts} ON a.article_id = g.article_id"
        name, cond = "g.name", [f"g.kind = {p(by)}"]
    cond += filters(d, where, p)
    cond += in_site(d, "a.article_id", site, p)
    sql = (
        f"SELECT {name}, count(*), sum(a.up), sum(a.down), max(a.last_vote_at) FROM {source} "
        f"WHERE {' AND '.join(cond)} GROUP BY {name} ORDER BY sum(a.up) + sum(a.down) DESC, {name} "
        f"LIMIT {p(limit)}"
    )
    return sql, p.values


def group_articles_sql(d: Dialect, by: GroupBy, name: str, site: str | None = None) -> tuple[str, list[Any]]:
    """``SELECT article_id`` of the articles in one group (of ``site``, or of every site): a
    subquery for the daily rollups."""
    p = Params(d)
    if by == "section":
        sql = f"SELECT article_id FROM {d.table('article_about')} WHERE section = {p(name)}"
    else:
        sql = f"SELECT article_id FROM {d.table('article_labels')} WHERE kind = {p(by)} AND name = {p(name)}"
    return sql + "".join(f" AND {c}" for c in in_site(d, "article_id", site, p)), p.values


def member_join(d: Dialect, by: GroupBy, names: list[str], p: Params, source: str = "e") -> tuple[str, str]:
    """The ``JOIN`` that gives each row of ``source`` its group ``g.name`` (one of ``names``), and the
    name column: a time-ordered scan of the history meets each article's group by the article's key.

    On SQLite the join is spelled so that its planner looks each row's article up (``CROSS JOIN``
    keeps the scan outside, ``+`` keeps the names from choosing the index): left to itself it seeks
    (name, article) once per name and row — 12 sections made a 30-day section view 10 s at 100k
    articles, 2 s this way (docs/performance.md)."""
    sqlite = d.prefix == ""
    join = " CROSS JOIN" if sqlite else " JOIN"
    plus = "+" if sqlite else ""
    # Placeholders in the order of the text (SQLite's are positional).
    if by == "section":
        marks = ", ".join(p(n) for n in names)
        return (f"{join} {d.table('article_about')} g ON g.article_id = {source}.article_id "
                f"AND {plus}g.section IN ({marks})", "g.section")
    kind = p(by)
    marks = ", ".join(p(n) for n in names)
    hint = " INDEXED BY article_labels_by_article" if sqlite else ""
    return (f"{join} {d.table('article_labels')} g{hint} ON g.article_id = {source}.article_id AND g.kind = {kind} "
            f"AND {plus}g.name IN ({marks})", "g.name")


def attention_sql(
    d: Dialect, min_votes: int, since: Any, below: float, limit: int, where: AboutFilter | None,
    site: str | None = None,
) -> tuple[str, list[Any]]:
    """Articles with at least ``min_votes`` votes, a vote or a publication since ``since``, whose
    95% Wilson upper bound of the share of "Yes" is under ``below``; the lowest bound first.

    The upper bound of (up, down) is one minus the lower bound of (down, up): ordering by the
    latter descending is ordering by the former ascending."""
    p = Params(d)
    about = d.table("article_about")
    upper = d.wilson.format(up="a.down", down="a.up")
    # Placeholders are numbered (or, in SQLite, positional) in the order p() is called: keep it the text's.
    cond = [f"a.up + a.down >= {p(min_votes)}"]
    cond.append(f"(a.last_vote_at >= {p(since)} OR EXISTS (SELECT 1 FROM {about} f "
                f"WHERE f.article_id = a.article_id AND f.published_at >= {p(since)}))")
    cond.append(f"1 - {upper} < {p(below)}")
    cond += filters(d, where, p)
    cond += in_site(d, "a.article_id", site, p)
    sql = (
        f"SELECT a.article_id, a.title, a.up, a.down, a.first_vote_at, a.last_vote_at, m.section, m.published_at "
        f"FROM {d.counts} LEFT JOIN {about} m ON m.article_id = a.article_id "
        f"WHERE {' AND '.join(cond)} ORDER BY {upper} DESC, a.up + a.down DESC, a.article_id LIMIT {p(limit)}"
    )
    return sql, p.values


def articles_export_sql(
    d: Dialect, time_cond: list[str], p: Params, where: AboutFilter | None, site: str | None = None
) -> str:
    """The articles export with what each is about: ``article_id, title, up, down, first_vote_at,
    last_vote_at, section, published_at, authors, tags`` (authors and tags as one text each, names
    joined by a line feed — a name never holds one — in their order), by article id."""
    about, labels = d.table("article_about"), d.table("article_labels")
    agg = "group_concat(name, char(10))" if d.prefix == "" else "string_agg(name, E'\\n' ORDER BY position)"
    order = " ORDER BY position" if d.prefix == "" else ""

    def names(kind: str) -> str:
        inner = f"SELECT name FROM {labels} l WHERE l.article_id = a.article_id AND l.kind = '{kind}'{order}"
        return f"(SELECT {agg} FROM ({inner}) x)" if d.prefix == "" else (
            f"(SELECT {agg} FROM {labels} l WHERE l.article_id = a.article_id AND l.kind = '{kind}')")

    cond = time_cond + filters(d, where, p)
    cond += in_site(d, "a.article_id", site, p)
    return (
        f"SELECT a.article_id, a.title, a.up, a.down, a.first_vote_at, a.last_vote_at, m.section, m.published_at, "
        f"{names('author')}, {names('tag')} FROM {d.counts} LEFT JOIN {about} m ON m.article_id = a.article_id"
        f"{' WHERE ' + ' AND '.join(cond) if cond else ''} ORDER BY a.article_id"
    )


def split_names(text: str | None) -> tuple[str, ...]:
    return tuple(text.split("\n")) if text else ()


def day_bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """UTC midnights of ``start`` and ``end``."""
    return (dt.datetime(start.year, start.month, start.day, tzinfo=dt.UTC),
            dt.datetime(end.year, end.month, end.day, tzinfo=dt.UTC))
