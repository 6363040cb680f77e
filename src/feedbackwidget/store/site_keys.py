"""How several sites share one store: each article's key names its site.

An article id is the publisher's (1..256 characters, no control characters), unique only
within its site. The store keys articles by ``SITE + U+001F + ARTICLE_ID``; the site named
:data:`DEFAULT` (the one site of a configuration from the environment) keeps bare ids, so a
store written before sites existed needs no migration and a single-site installation reads
and writes exactly what it did. U+001F (INFORMATION SEPARATOR ONE) cannot occur in a site id
or an article id (both refuse control characters), so a key splits back unambiguously.

Every query that serves one site filters with :func:`sql_filter`; the site-wide rollups
group by :func:`sql_site_of`. Both compare bytes (SQLite's BINARY collation; in PostgreSQL
``starts_with``/``strpos``, which ignore the database's collation).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from ..types import ArticleId

SEP = "\x1f"
#: The site whose article keys are the bare article ids (the environment's single site).
DEFAULT = "default"

Dialect = Literal["sqlite", "postgres"]

__all__ = ["DEFAULT", "SEP", "key", "split", "sql_filter", "sql_site_of"]


def key(site: str, article_id: ArticleId) -> str:
    """The store's key for ``article_id`` of ``site`` (an empty article id: the site's own key,
    where refusals for no known article are counted)."""
    return article_id if site == DEFAULT else f"{site}{SEP}{article_id}"


def split(stored: str) -> tuple[str, ArticleId]:
    """``(site, article_id)`` of a stored key."""
    site, sep, article_id = stored.partition(SEP)
    return (site, article_id) if sep else (DEFAULT, stored)


def sql_filter(
    dialect: Dialect, column: str, site: str, mark: Callable[[], str] = lambda: "?"
) -> tuple[str, list[str]]:
    """A predicate on ``column`` (an article key) true for the keys of ``site``, and its
    parameters in order; ``mark`` gives each parameter's placeholder (``?``, or ``$n`` numbered
    on from the caller's own)."""
    if site == DEFAULT:
        return (f"instr({column}, char(31)) = 0" if dialect == "sqlite" else f"strpos({column}, chr(31)) = 0"), []
    if dialect == "sqlite":
        # A range in the binary collation (every key of the site sorts between "site\x1f" and
        # "site\x20"): served by any index that leads with the key.
        return f"({column} >= {mark()} AND {column} < {mark()})", [site + SEP, site + chr(ord(SEP) + 1)]
    return f"starts_with({column}, {mark()})", [site + SEP]


def sql_site_of(dialect: Dialect, column: str) -> str:
    """An expression giving the site of the article key in ``column``."""
    if dialect == "sqlite":
        return (f"CASE WHEN instr({column}, char(31)) > 0 THEN substr({column}, 1, instr({column}, char(31)) - 1)"
                f" ELSE '{DEFAULT}' END")
    return f"CASE WHEN strpos({column}, chr(31)) > 0 THEN split_part({column}, chr(31), 1) ELSE '{DEFAULT}' END"
