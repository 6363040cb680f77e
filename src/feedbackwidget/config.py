"""Settings: read once, at the edge, validated at construction.

Only :meth:`Settings.from_env` (and the CLI) touch ``os.environ``. Every problem
raises :class:`~feedbackwidget.errors.ConfigError` naming the environment
variable, so start-up can stop with one clear line.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigError

PREFIX = "FEEDBACKWIDGET_"

_PERIODS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}
_REASON_RE = re.compile(r"^[a-z0-9_-]{1,32}$")
MAX_REASONS = 12
_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(second|minute|hour|day)s?\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``count`` attempts per ``period`` seconds."""

    count: int
    period: float

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        match = _RATE_RE.match(text)
        if not match:
            raise ConfigError(PREFIX + "RATE_LIMIT", f"expected COUNT/PERIOD such as 30/minute, got {text!r}")
        count, multiple, unit = match.groups()
        period = _PERIODS[unit.lower()] * (int(multiple) if multiple else 1)
        if int(count) < 1 or period <= 0:
            raise ConfigError(PREFIX + "RATE_LIMIT", "count and period must be positive")
        return cls(int(count), period)

    def __str__(self) -> str:
        return f"{self.count}/{int(self.period)}second"


def _var(name: str) -> str:
    return PREFIX + name.upper()


def _split(value: str | Iterable[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(item.strip() for item in items if item and item.strip())


def _origin(name: str, value: str) -> str:
    if value == "*":
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(_var(name), f"{value!r} is not an origin such as https://news.example")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ConfigError(_var(name), f"{value!r} must be an origin only (scheme, host, port)")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(_var(name), f"{value!r} has an invalid port") from None
    host = parts.hostname.lower()
    host = f"[{host}]" if ":" in host else host
    # Browsers leave a default port out of Origin, so it is left out here too.
    if port is None or port == {"http": 80, "https": 443}[parts.scheme]:
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


def _flag(name: str, value: bool | str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(_var(name), f"expected true or false, got {value!r}")


def _http_url(name: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(_var(name), f"expected an http(s) URL, got {value!r}")
    return value


class Settings:
    """All configuration of one widget. Keyword names are the variables in lower case."""

    __slots__ = (
        "allowed_hostnames",
        "allowed_origins",
        "database_url",
        "demo",
        "export_token",
        "hcaptcha_js_url",
        "hcaptcha_secret",
        "hcaptcha_sitekey",
        "hcaptcha_timeout",
        "hcaptcha_verify_url",
        "min_votes",
        "public_url",
        "rate_limit",
        "reason_text",
        "reasons",
        "redis_url",
        "secret_key",
        "secret_key_fallbacks",
        "trusted_proxies",
    )

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
    demo: bool

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
        demo: bool = False,
    ) -> None:
        set_ = object.__setattr__
        set_(self, "demo", bool(demo))

        if not database_url or not (
            database_url.startswith("sqlite:///")
            or database_url.startswith(("postgresql://", "postgres://"))
        ):
            raise ConfigError(
                _var("database_url"),
                "expected sqlite:///PATH or postgresql://…",
            )
        if database_url.startswith("sqlite:") and database_url.removeprefix("sqlite:///") in ("", ":memory:"):
            raise ConfigError(_var("database_url"), "sqlite:/// needs a file path, e.g. sqlite:///feedbackwidget.db")
        if not database_url.startswith("sqlite:"):
            try:
                urlsplit(database_url).port  # noqa: B018 - raises ValueError for a port that is not a number
            except ValueError:
                raise ConfigError(_var("database_url"), "the port is not a number") from None
        set_(self, "database_url", database_url)

        if not secret_key:
            if not demo:
                raise ConfigError(_var("secret_key"), "is required (a long random string)")
            secret_key = os.urandom(32).hex()  # demo only: one process, labelled as such
        set_(self, "secret_key", secret_key)
        set_(self, "secret_key_fallbacks", _split(secret_key_fallbacks))

        set_(self, "hcaptcha_sitekey", hcaptcha_sitekey or None)
        set_(self, "hcaptcha_secret", hcaptcha_secret or None)
        set_(self, "hcaptcha_verify_url", _http_url("hcaptcha_verify_url", hcaptcha_verify_url))
        set_(self, "hcaptcha_js_url", _http_url("hcaptcha_js_url", hcaptcha_js_url))
        try:
            timeout = float(hcaptcha_timeout)
        except (TypeError, ValueError):
            raise ConfigError(_var("hcaptcha_timeout"), f"expected seconds, got {hcaptcha_timeout!r}") from None
        if not math.isfinite(timeout) or timeout <= 0:
            raise ConfigError(_var("hcaptcha_timeout"), "must be a positive number of seconds")
        set_(self, "hcaptcha_timeout", timeout)
        set_(self, "allowed_hostnames", tuple(h.lower() for h in _split(allowed_hostnames)))

        public = (public_url or "").strip()
        if public and not public.startswith("/"):
            parts = urlsplit(public)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
                raise ConfigError(_var("public_url"), f"expected https://host/prefix or /prefix, got {public!r}")
        set_(self, "public_url", public.rstrip("/"))

        set_(self, "allowed_origins", tuple(_origin("allowed_origins", o) for o in _split(allowed_origins)))
        set_(self, "export_token", export_token or None)

        proxies = _split(trusted_proxies)
        for proxy in proxies:
            if proxy == "*":
                continue
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ConfigError(_var("trusted_proxies"), f"{proxy!r} is not an address or CIDR range") from None
        set_(self, "trusted_proxies", proxies)

        limit = rate_limit if isinstance(rate_limit, RateLimit) else RateLimit.parse(str(rate_limit))
        set_(self, "rate_limit", limit)

        redis = (redis_url or "").strip() or None
        if redis and not redis.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(_var("redis_url"), "expected redis://host:port/db")
        set_(self, "redis_url", redis)

        try:
            minimum = int(min_votes)
        except (TypeError, ValueError):
            raise ConfigError(_var("min_votes"), f"expected a whole number, got {min_votes!r}") from None
        if minimum < 0:
            raise ConfigError(_var("min_votes"), "must be 0 or more")
        set_(self, "min_votes", minimum)

        codes = _split(reasons)
        for code in codes:
            if not _REASON_RE.match(code):
                raise ConfigError(_var("reasons"), f"{code!r} is not a reason code ([a-z0-9_-], 1 to 32 characters)")
        if len(codes) > MAX_REASONS or len(set(codes)) != len(codes):
            raise ConfigError(_var("reasons"), f"at most {MAX_REASONS} distinct reason codes")
        set_(self, "reasons", codes)
        set_(self, "reason_text", _flag("reason_text", reason_text))
        if self.reason_text and not codes:
            raise ConfigError(_var("reason_text"), "needs FEEDBACKWIDGET_REASONS (free text accompanies a reason)")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Settings are immutable; build a new one with replace()")

    def replace(self, **changes: Any) -> Settings:
        """A copy with some settings changed (validated again)."""
        values: dict[str, Any] = {name: getattr(self, name) for name in self.__slots__}
        values.update(changes)
        return Settings(**values)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read ``FEEDBACKWIDGET_*`` variables; keyword ``overrides`` win over them."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name in cls.__slots__:
            if name == "demo":
                continue
            raw = env.get(_var(name))
            if raw is not None and raw.strip() != "":
                values[name] = raw.strip()
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite:")

    def __repr__(self) -> str:
        hidden = {"secret_key", "secret_key_fallbacks", "hcaptcha_secret", "export_token", "redis_url", "database_url"}
        shown = ", ".join(
            f"{name}={'<hidden>' if name in hidden and getattr(self, name) else repr(getattr(self, name))}"
            for name in self.__slots__
        )
        return f"Settings({shown})"
