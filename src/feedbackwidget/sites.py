"""Several sites on one server: what a site is, how its configuration is read, and how a
request's site is decided.

A site is one publication (an edition, a language, a brand): its allowed origins, its
hCaptcha keys, its default language, its export/dashboard tokens and its vote settings
(``min_votes``, ``reasons``, ``reason_text``). Anything a site leaves out it takes from the
server's settings. All sites share one store; article ids are per site
(:mod:`feedbackwidget.store.site_keys`). Without a sites configuration the server has one
site, ``default``, made of its settings — exactly the single-site widget.

The site of a request is decided by the server (:meth:`Sites.decide`): by the embedding
page's ``Origin``, which must belong to the site; a ``site`` the markup declares (the
``site=`` parameter the widget sends) only chooses among sites and is then held to that
site's allowed origins like any other request, so a page can never act for a site whose
origins it is not on.

Configuration: ``FEEDBACKWIDGET_SITES_FILE`` names a TOML file of ``[[site]]`` tables
(read with the standard library's :mod:`tomllib`), or ``FeedbackWidget(settings,
sites=[Site(...), ...])`` in Python. Errors raise :class:`~feedbackwidget.errors.ConfigError`
naming the file (or ``sites``), the site and the key.
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from . import config_values as parse
from . import i18n
from .config import MAX_REASONS, Settings
from .errors import ConfigError
from .origins import allowed
from .store.site_keys import DEFAULT
from .tokens import same_secret

__all__ = ["DEFAULT", "Site", "Sites", "check_stored", "load_sites"]

log = logging.getLogger("feedbackwidget")

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
#: Per-site values that stand in for the server's settings of the same name.
_OVERRIDES = ("hcaptcha_sitekey", "hcaptcha_secret", "allowed_hostnames", "min_votes", "reasons", "reason_text")


def site_id(value: Any) -> str:
    """A site id as written (ValueError otherwise)."""
    if not isinstance(value, str) or not _ID.match(value):
        raise ValueError(f"{value!r} is not a site id: 1 to 32 of a-z, 0-9, '_', '-', first a letter or digit")
    return value


def _lang(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or i18n.negotiate(value) != value.strip().lower().split("-")[0]:
        raise ValueError(f"{value!r} is not a supported language ({', '.join(i18n.languages())})")
    return i18n.negotiate(value)


def _tokens(value: Any) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else list(value or ())
    if not all(isinstance(v, str) and v.strip() for v in values):
        raise ValueError("tokens must be a list of non-empty strings")
    if any(len(v.strip()) < 16 for v in values):
        raise ValueError("a token must be at least 16 characters (a long random string)")
    return tuple(dict.fromkeys(v.strip() for v in values))


def _reasons(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    codes = tuple(parse.reason_code(item) for item in parse.items(value))
    if len(codes) > MAX_REASONS or len(set(codes)) != len(codes):
        raise ValueError(f"at most {MAX_REASONS} distinct reason codes")
    return codes


_PARSERS: dict[str, Any] = {
    "id": site_id,
    "name": lambda v: None if v is None else str(v).strip() or None,
    "allowed_origins": lambda v: tuple(dict.fromkeys(parse.origin(o) for o in parse.items(v))),
    "lang": _lang,
    "tokens": _tokens,
    "hcaptcha_sitekey": lambda v: None if v is None else str(v).strip() or None,
    "hcaptcha_secret": lambda v: None if v is None else str(v).strip() or None,
    "allowed_hostnames": lambda v: None if v is None else tuple(parse.hostname(h) for h in parse.items(v)),
    "min_votes": lambda v: None if v is None else parse.whole_number(v),
    "reasons": _reasons,
    "reason_text": lambda v: None if v is None else parse.flag(v),
}


@dataclass(frozen=True, slots=True, init=False)
class Site:
    """One site. ``None`` (or an empty list of tokens) means "the server's setting".

    ``allowed_origins``: the origins of the site's pages (``scheme://host[:port]``, or
    ``scheme://*.domain``), none shared with another site; ``tokens``: export/dashboard
    bearer tokens that see this site only (the server's ``EXPORT_TOKEN`` sees every site);
    ``lang``: the widget's language when the page names none. Raises ValueError naming the
    key for a value that cannot be normalised.
    """

    id: str
    allowed_origins: tuple[str, ...]
    name: str | None
    lang: str | None
    tokens: tuple[str, ...]
    hcaptcha_sitekey: str | None
    hcaptcha_secret: str | None
    allowed_hostnames: tuple[str, ...] | None
    min_votes: int | None
    reasons: tuple[str, ...] | None
    reason_text: bool | None

    def __init__(
        self,
        id: str,
        allowed_origins: str | Iterable[str] = (),
        *,
        name: str | None = None,
        lang: str | None = None,
        tokens: str | Iterable[str] = (),
        hcaptcha_sitekey: str | None = None,
        hcaptcha_secret: str | None = None,
        allowed_hostnames: str | Iterable[str] | None = None,
        min_votes: int | str | None = None,
        reasons: str | Iterable[str] | None = None,
        reason_text: bool | str | None = None,
    ) -> None:
        given = locals()
        for key, parser in _PARSERS.items():
            try:
                object.__setattr__(self, key, parser(given[key]))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{key}: {exc}") from None

    @property
    def title(self) -> str:
        """What editors call the site (its name, else its id)."""
        return self.name or self.id

    def settings(self, server: Settings) -> Settings:
        """The server's settings as this site sees them: its origins, keys and vote settings."""
        changes: dict[str, Any] = {k: getattr(self, k) for k in _OVERRIDES if getattr(self, k) is not None}
        return server.replace(allowed_origins=self.allowed_origins, **changes)

    def __repr__(self) -> str:  # keys and tokens are secrets
        return f"Site(id={self.id!r}, allowed_origins={self.allowed_origins!r})"


class Sites:
    """The sites of one server, checked together: unique ids, origins no two sites share.

    ``named``: the server was given sites (a file or ``sites=``, even just one), so each site's
    settings, ids and tokens apply and answers say their site; False for the one site made of
    the environment's settings, which behaves exactly as the single-site widget always did.
    Raises ConfigError (variable ``where``).
    """

    def __init__(
        self, sites: Sequence[Site], server_tokens: Iterable[str | None] = (), where: str = "sites",
        *, named: bool = True,
    ) -> None:
        if not sites:
            raise ConfigError(where, "names no site")
        if not all(isinstance(site, Site) for site in sites):
            raise ConfigError(where, "must be a list of feedbackwidget.sites.Site")
        self.all: tuple[Site, ...] = tuple(sites)
        self.primary = self.all[0]
        self.named = named
        self._by_id: dict[str, Site] = {}
        for site in self.all:
            if site.id in self._by_id:
                raise ConfigError(where, f"site {site.id!r} is named twice")
            self._by_id[site.id] = site
        if len(self.all) > 1:
            _check_origins(self.all, where)
        #: Tokens that see every site (the server's EXPORT_TOKEN).
        self.server_tokens: tuple[str, ...] = tuple(t for t in server_tokens if t)

    @classmethod
    def single(cls, settings: Settings) -> Sites:
        """The one site of a configuration from the environment."""
        return cls([Site(DEFAULT, settings.allowed_origins)], [settings.export_token], named=False)

    def __iter__(self) -> Iterator[Site]:
        return iter(self.all)

    def get(self, site_id: str) -> Site | None:
        return self._by_id.get(site_id)

    def for_origin(self, origin: str) -> Site | None:
        """The site whose allowed origins name ``origin`` (canonical form), if any."""
        for site in self.all:
            if allowed(site.allowed_origins).names(origin):
                return site
        return None

    def decide(self, origin: str | None, declared: str | None) -> Site | None:
        """The request's site: the declared one (None when no site has that id), else the one
        the ``Origin`` belongs to, else the primary site. The caller then holds the request to
        that site's origins (a declared site the page is not on is refused as a foreign origin)."""
        if declared is not None:
            return self._by_id.get(declared)
        if origin is not None:
            found = self.for_origin(origin.strip().lower())
            if found is not None:
                return found
        return self.primary

    def tokens_of(self, site: Site) -> tuple[str, ...]:
        """The bearer tokens that may read ``site``: its own and the server's."""
        return (*site.tokens, *self.server_tokens)

    def visible_to(self, token: str | None) -> tuple[Site, ...]:
        """The sites ``token`` may read (every site for a server token), compared in constant time."""
        if not token:
            return ()
        if any(same_secret(token, t) for t in self.server_tokens):
            return self.all
        return tuple(s for s in self.all if any(same_secret(token, t) for t in s.tokens))


def check_stored(sites: Sites, stored: Iterable[str]) -> None:
    """Hold a server's sites to the sites its store already holds (``Store.sites()``).

    Raises ConfigError when the server has no sites configured but the store holds articles of
    named sites: it would count their pages' votes as its one site's and show their articles
    under their store keys (one server of a fleet started without the others' sites file).
    Logs a warning for stored sites the configuration no longer names (kept, served by none).
    """
    others = sorted(set(stored) - {DEFAULT})
    if not sites.named and others:
        raise ConfigError("FEEDBACKWIDGET_SITES_FILE", f"is not set, but this store holds the sites "
                          f"{', '.join(others)}: give this server the sites file the others have")
    unknown = sorted(set(stored) - {site.id for site in sites})
    if sites.named and unknown:
        log.warning("the store holds sites this configuration does not name (their votes are kept, "
                    "no page or token reaches them): %s", ", ".join(unknown))


def _check_origins(sites: Sequence[Site], where: str) -> None:
    """No origin may belong to two sites, exactly or through a pattern: the Origin decides."""
    for site in sites:
        if "*" in site.allowed_origins:
            raise ConfigError(where, f"site {site.id!r}: '*' would take every other site's pages; name its origins")
        if not site.allowed_origins:
            raise ConfigError(where, f"site {site.id!r} has no allowed_origins (several sites are told apart by them)")
    for i, one in enumerate(sites):
        for other in sites[i + 1:]:
            for origin in one.allowed_origins:
                probe = origin.replace("*.", "x.")  # a pattern stands for its subdomains
                if allowed(other.allowed_origins).names(probe) or origin in other.allowed_origins:
                    raise ConfigError(where, f"{origin} belongs to both {one.id!r} and {other.id!r}")
            for origin in other.allowed_origins:
                if allowed(one.allowed_origins).names(origin.replace("*.", "x.")):
                    raise ConfigError(where, f"{origin} belongs to both {one.id!r} and {other.id!r}")


def load_sites(path: str | Path) -> list[Site]:
    """The ``[[site]]`` tables of a TOML file, in order (the first is the primary site).

    Raises ConfigError naming the file, the site and the key for an unreadable file, a key
    that is not a site setting (a typo would otherwise be silently ignored), or a bad value.
    """
    where = f"sites file {path}"
    try:
        with open(path, "rb") as file:
            data = tomllib.load(file)
    except OSError as exc:
        raise ConfigError(where, f"cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(where, "is not UTF-8 text (TOML files are)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(where, f"is not valid TOML ({exc})") from None
    extra = set(data) - {"site"}
    if extra:
        raise ConfigError(where, f"unknown top-level key(s) {sorted(extra)}: write each site as a [[site]] table")
    tables = data.get("site")
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(where, "has no [[site]] table (write each site as a [[site]] table of its settings)")
    return [site_from_table(table, where, index) for index, table in enumerate(tables, 1)]


def site_from_table(table: Mapping[str, Any], where: str, index: int = 1) -> Site:
    """One site from a mapping of its settings (a TOML table); raises ConfigError."""
    label = f"site {table.get('id', index)!r}"
    known = {f.name for f in fields(Site)}
    unknown = set(table) - known
    if unknown:
        raise ConfigError(where, f"{label}: unknown key(s) {sorted(unknown)} (known: {', '.join(sorted(known))})")
    if "id" not in table:
        raise ConfigError(where, f"site #{index} has no id")
    try:
        return Site(**table)
    except (ValueError, TypeError) as exc:
        raise ConfigError(where, f"{label}: {exc}") from None
