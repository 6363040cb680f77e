"""Settings: read once, at the edge, validated and normalised at construction.

Only :meth:`Settings.from_env` (and the CLI) touch ``os.environ``. Each setting
has one parser (:mod:`feedbackwidget.config_values`) that either normalises
what a publisher wrote (``https://News.Example:443/`` is the origin browsers
send, ``30 per min`` is ``30/minute``) or raises
:class:`~feedbackwidget.errors.ConfigError` naming the variable, so start-up
stops with one clear line and a value is never accepted only to silently never
match. An unknown ``FEEDBACKWIDGET_*`` variable is reported as a warning.
"""

from __future__ import annotations

import difflib
import ipaddress
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit

from . import config_values as parse
from .config_values import PublicUrl, RateLimit
from .errors import ConfigError

log = logging.getLogger("feedbackwidget")

PREFIX = "FEEDBACKWIDGET_"
MAX_REASONS = 12
#: Settings whose values are never shown (repr, logs, errors).
SECRETS = frozenset({"secret_key", "secret_key_fallbacks", "hcaptcha_secret", "export_token", "redis_url",
                     "database_url", "webhook_secrets", "webhook_urls", "metrics_token"})

__all__ = ["MAX_REASONS", "PREFIX", "RateLimit", "Settings"]


def _var(name: str) -> str:
    return PREFIX + name.upper()


def _database_url(value: str) -> str:
    url = value.strip()
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if scheme in ("postgres", "postgresql", "postgresql+asyncpg", "postgresql+psycopg", "postgresql+psycopg2"):
        url = "postgresql://" + rest  # SQLAlchemy's driver suffixes name the same database
        try:
            urlsplit(url).port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            raise ValueError("the port is not a number") from None
        return url
    if scheme == "sqlite" and sep:
        if not rest.startswith("/") or rest.lstrip("/") in ("", ":memory:"):
            raise ValueError("expected sqlite:///PATH with three slashes, e.g. sqlite:///feedbackwidget.db")
        return "sqlite://" + rest
    raise ValueError("expected sqlite:///PATH or postgresql://…")


def _redis_url(value: str) -> str | None:
    url = value.strip()
    if not url:
        return None
    if not url.lower().startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("expected redis://host:port/db")
    return url


def _optional(value: str | None) -> str | None:
    return (value or "").strip() or None


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def _network(value: str) -> str:
    """An address or CIDR range the metadata reader may reach although it is not public."""
    try:
        return str(ipaddress.ip_network(value.strip().strip("[]"), strict=False))
    except ValueError:
        raise ValueError(f"{value!r} is not an address or CIDR range") from None


def _reasons(value: str | Iterable[str] | None) -> tuple[str, ...]:
    codes = tuple(parse.reason_code(item) for item in parse.items(value))
    if len(codes) > MAX_REASONS or len(set(codes)) != len(codes):
        raise ValueError(f"at most {MAX_REASONS} distinct reason codes")
    return codes


#: One parser per setting, applied to whatever the constructor was given.
_PARSERS: dict[str, Callable[[Any], Any]] = {
    "database_url": _database_url,
    "secret_key": lambda v: (v or "").strip(),
    "secret_key_fallbacks": lambda v: _unique(parse.items(v)),
    "hcaptcha_sitekey": _optional,
    "hcaptcha_secret": _optional,
    "hcaptcha_verify_url": parse.http_url,
    "hcaptcha_js_url": parse.http_url,
    "hcaptcha_timeout": parse.seconds,
    "allowed_hostnames": lambda v: _unique(parse.hostname(h) for h in parse.items(v)),
    "public_url": lambda v: str(parse.public_url(v or "")),
    "allowed_origins": lambda v: _unique(parse.origin(o) for o in parse.items(v)),
    "export_token": _optional,
    "trusted_proxies": lambda v: _unique(p for item in parse.items(v) for p in parse.proxy(item)),
    "rate_limit": lambda v: v if isinstance(v, RateLimit) else RateLimit.parse(str(v)),
    "redis_url": lambda v: _redis_url(v or ""),
    "min_votes": parse.whole_number,
    "reasons": _reasons,
    "reason_text": parse.flag,
    "retain_events_days": parse.days,
    "retain_refusals_days": parse.days,
    "retain_reasons_days": parse.days,
    "demo": parse.flag,
    "metrics_token": _optional,
    "log_format": parse.log_format,
    # Webhooks (webhooks/): where, signed how, and which events.
    "webhook_urls": lambda v: _unique(parse.webhook_url(u) for u in parse.items(v)),
    "webhook_secrets": lambda v: _unique(parse.webhook_secret(k) for k in parse.items(v)),
    "webhook_allowed_hosts": lambda v: _unique(parse.hostname(h) for h in parse.items(v)),
    "webhook_allow_private": parse.flag,
    "webhook_format": lambda v: parse.choice(str(v), parse.WEBHOOK_FORMATS),
    "webhook_milestones": parse.milestones,
    "webhook_sentiment_below": parse.fraction,
    "webhook_sentiment_above": parse.fraction,
    "webhook_min_votes": lambda v: parse.whole_number(v, minimum=1),
    "webhook_refusal_burst": parse.whole_number,
    "webhook_digest_hour": parse.hour,
    "webhook_max_attempts": lambda v: parse.whole_number(v, minimum=1),
    "webhook_retry_base": parse.seconds,
    "metadata_fetch": parse.flag,
    "metadata_interval": parse.seconds,
    "metadata_timeout": parse.seconds,
    "metadata_max_bytes": lambda v: parse.whole_number(v, minimum=1024),
    "metadata_private_networks": lambda v: _unique(_network(n) for n in parse.items(v)),
    "sites_file": _optional,
}


@dataclass(frozen=True, slots=True, init=False)
class Settings:
    """All configuration of one widget. Keyword names are the variables in lower case.

    Raises :class:`~feedbackwidget.errors.ConfigError` (naming the variable) for a
    missing required value or one that cannot be normalised.
    """

    database_url: str
    secret_key: str
    secret_key_fallbacks: tuple[str, ...]
    hcaptcha_sitekey: str | None
    hcaptcha_secret: str | None
    hcaptcha_verify_url: str
    hcaptcha_js_url: str
    hcaptcha_timeout: float
    allowed_hostnames: tuple[str, ...]
    public_url: str
    allowed_origins: tuple[str, ...]
    export_token: str | None
    trusted_proxies: tuple[str, ...]
    rate_limit: RateLimit
    redis_url: str | None
    min_votes: int
    reasons: tuple[str, ...]
    reason_text: bool
    #: Retention in days (None: kept for ever): the vote history, refused-attempt counts, reason texts.
    retain_events_days: int | None
    retain_refusals_days: int | None
    retain_reasons_days: int | None
    demo: bool
    #: Bearer token for GET /metrics; unset: no figures are recorded and /metrics answers 401.
    metrics_token: str | None
    #: ``text`` (default) or ``json``: one JSON object per log line (``serve`` and ``demo``).
    log_format: str
    webhook_urls: tuple[str, ...]
    webhook_secrets: tuple[str, ...]
    webhook_allowed_hosts: tuple[str, ...]
    webhook_allow_private: bool
    webhook_format: str
    webhook_milestones: tuple[int, ...]
    webhook_sentiment_below: float | None
    webhook_sentiment_above: float | None
    webhook_min_votes: int
    webhook_refusal_burst: int
    webhook_digest_hour: int | None
    webhook_max_attempts: int
    webhook_retry_base: float
    #: Read articles' schema.org JSON-LD from their pages (metadata.py, page_fetch.py).
    metadata_fetch: bool
    metadata_interval: float
    metadata_timeout: float
    metadata_max_bytes: int
    metadata_private_networks: tuple[str, ...]
    #: A TOML file of ``[[site]]`` tables (sites.py): several sites on this server. None: one site.
    sites_file: str | None
    #: PUBLIC_URL taken apart (derived).
    public: PublicUrl = field(init=False, repr=False, compare=False)

    def __init__(
        self,
        *,
        database_url: str = "sqlite:///feedbackwidget.db",
        secret_key: str | None = None,
        secret_key_fallbacks: str | Iterable[str] | None = None,
        hcaptcha_sitekey: str | None = None,
        hcaptcha_secret: str | None = None,
        hcaptcha_verify_url: str = "https://api.hcaptcha.com/siteverify",
        hcaptcha_js_url: str = "https://js.hcaptcha.com/1/api.js",
        hcaptcha_timeout: float | str = 5,
        allowed_hostnames: str | Iterable[str] | None = None,
        public_url: str | None = None,
        allowed_origins: str | Iterable[str] | None = None,
        export_token: str | None = None,
        trusted_proxies: str | Iterable[str] | None = None,
        rate_limit: str | RateLimit = "30/minute",
        redis_url: str | None = None,
        min_votes: int | str = 10,
        reasons: str | Iterable[str] | None = None,
        reason_text: bool | str = False,
        retain_events_days: int | str | None = None,
        retain_refusals_days: int | str | None = None,
        retain_reasons_days: int | str | None = None,
        demo: bool | str = False,
        metrics_token: str | None = None,
        log_format: str = "text",
        webhook_urls: str | Iterable[str] | None = None,
        webhook_secrets: str | Iterable[str] | None = None,
        webhook_allowed_hosts: str | Iterable[str] | None = None,
        webhook_allow_private: bool | str = False,
        webhook_format: str = "standard",
        webhook_milestones: str | Iterable[int | str] | None = "100,1000,10000",
        webhook_sentiment_below: float | str | None = None,
        webhook_sentiment_above: float | str | None = None,
        webhook_min_votes: int | str = 30,
        webhook_refusal_burst: int | str = 100,
        webhook_digest_hour: int | str | None = 6,
        webhook_max_attempts: int | str = 12,
        webhook_retry_base: float | str = 5,
        metadata_fetch: bool | str = True,
        metadata_interval: float | str = "6h",
        metadata_timeout: float | str = 5,
        metadata_max_bytes: int | str = 2 * 1024 * 1024,
        metadata_private_networks: str | Iterable[str] | None = None,
        sites_file: str | None = None,
    ) -> None:
        given = locals()
        for name, parser in _PARSERS.items():
            try:
                value = parser(given[name])
            except (ValueError, TypeError) as exc:
                raise ConfigError(_var(name), str(exc)) from None
            object.__setattr__(self, name, value)
        object.__setattr__(self, "public", parse.public_url(self.public_url))
        self._check()

    def _check(self) -> None:
        """Rules that involve more than one setting."""
        if not self.secret_key:
            if not self.demo:
                raise ConfigError(_var("secret_key"), "is required (a long random string)")
            object.__setattr__(self, "secret_key", os.urandom(32).hex())  # demo only: one process, labelled
        if self.reason_text and not self.reasons:
            raise ConfigError(_var("reason_text"), "needs FEEDBACKWIDGET_REASONS (free text accompanies a reason)")
        if self.webhook_urls:
            if not self.webhook_secrets:
                raise ConfigError(_var("webhook_urls"), "needs FEEDBACKWIDGET_WEBHOOK_SECRETS (whsec_ + base64)")
            try:
                parse.webhook_destinations(self.webhook_urls, self.webhook_allowed_hosts, self.webhook_allow_private)
            except ValueError as exc:
                raise ConfigError(_var("webhook_urls"), str(exc)) from None

    def replace(self, **changes: Any) -> Settings:
        """A copy with some settings changed (validated again)."""
        values: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self) if f.init}
        values.update(changes)
        return Settings(**values)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read ``FEEDBACKWIDGET_*`` variables; keyword ``overrides`` win over them.

        Values are stripped of surrounding whitespace and of one pair of matching
        quotes (as ``.env`` files and compose files often leave them). An unknown
        ``FEEDBACKWIDGET_*`` variable is logged as a warning naming it.
        """
        env = os.environ if environ is None else environ
        warn_unknown_variables(env)
        known = _setting_names()
        values: dict[str, Any] = {}
        for var, raw in env.items():
            name = var[len(PREFIX):].lower()
            if var.startswith(PREFIX) and name in known and (value := _unquote(raw)) != "":
                values[name] = value
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f.name}={'<hidden>' if f.name in SECRETS and getattr(self, f.name) else repr(getattr(self, f.name))}"
            for f in fields(self)
            if f.init
        )
        return f"Settings({shown})"


def _setting_names() -> set[str]:
    return {f.name for f in fields(Settings) if f.init and f.name != "demo"}


_warned: set[str] = set()


def warn_unknown_variables(environ: Mapping[str, str]) -> None:
    """Log a warning for each ``FEEDBACKWIDGET_*`` variable that is not a setting (once per
    process), naming the closest setting: a misspelt variable is otherwise silently ignored."""
    known = sorted(_var(n) for n in _setting_names())
    for var in environ:
        if var.startswith(PREFIX) and var not in known and var not in _warned:
            _warned.add(var)
            close = difflib.get_close_matches(var, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            log.warning("%s is not a feedbackwidget setting and is ignored%s", var, hint)


def _unquote(raw: str) -> str:
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1].strip()
    return value

