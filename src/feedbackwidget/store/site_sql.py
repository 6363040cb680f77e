"""SQL both stores use to answer for one site (site_keys.py says how a key names its site).

A read given ``site=None`` answers for every site, exactly as before sites existed; given a
site id, only for the article keys of that site. The listing of a site other than the
default one has indexes of its own (a partial index per order that leads with the site, over
the keys that name a site): walking the global sort index and skipping the other sites' rows
would read the whole of a big site before the first row of a small one. Default-site keys
are not in those indexes, so a single-site installation's votes maintain nothing more.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from .site_keys import DEFAULT, Dialect, sql_filter

__all__ = ["listing_site", "listing_where", "numbered", "own_key_sql", "site_where"]


def site_where(
    dialect: Dialect, column: str, site: str | None, mark: Callable[[], str] = lambda: "?"
) -> tuple[list[str], list[str]]:
    """Conditions (none, or one) restricting ``column`` (an article key) to ``site``'s keys, and
    their parameters in order; ``mark`` gives each placeholder (see :func:`site_keys.sql_filter`)."""
    if site is None:
        return [], []
    condition, params = sql_filter(dialect, column, site, mark)
    return [condition], params


def numbered(first: int, spell: Callable[[int], str] = lambda n: f"${n}") -> Callable[[], str]:
    """A ``mark`` giving ``$first``, ``$first + 1``, … (PostgreSQL), or ``?first`` … with ``spell``."""
    counter = itertools.count(first)
    return lambda: spell(next(counter))


def own_key_sql(dialect: Dialect, column: str) -> str:
    """The site's own key (``site`` U+001F, or "" for the default site) of the key in ``column``:
    where refusals for an article the store does not know are counted."""
    if dialect == "sqlite":
        return f"substr({column}, 1, instr({column}, char(31)))"
    return f"left({column}, strpos({column}, chr(31)))"


def listing_site(dialect: Dialect, column: str) -> tuple[str, str]:
    """``(predicate, expression)`` of the per-site listing indexes: the predicate holds for keys
    that name a site other than the default one, the expression is their site."""
    if dialect == "sqlite":
        return f"instr({column}, char(31)) > 0", f"substr({column}, 1, instr({column}, char(31)) - 1)"
    return f"strpos({column}, chr(31)) > 0", f"split_part({column}, chr(31), 1)"


def listing_where(dialect: Dialect, column: str, site: str | None, mark: str) -> str:
    """Conditions (`` AND``-joined, or "") that keep a listing to ``site`` in a form the per-site
    indexes serve (``mark``: the site's placeholder, used only for a site other than the default)."""
    if site is None:
        return ""
    if site == DEFAULT:
        return sql_filter(dialect, column, site)[0]
    predicate, expression = listing_site(dialect, column)
    return f"{predicate} AND {expression} = {mark}"
