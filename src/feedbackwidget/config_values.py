"""One parser per kind of setting value, each normalising what a publisher may reasonably write.

Every parser takes the raw value (a string from the environment, or a Python
value given to ``Settings(...)``) and either returns the canonical form or
raises :class:`ValueError` with a sentence that the caller prefixes with the
variable's name. Canonical forms are what browsers and services send, so a
setting never silently fails to match: origins are lowercase ASCII (IDNA) with
the default port dropped, hostnames likewise without port or trailing dot,
durations are seconds.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
_SEPARATORS = re.compile(r"[\s,;]+")
_UNITS = {
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "m": 60.0, "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hrs": 3600.0, "hour": 3600.0, "hours": 3600.0,
    "d": 86400.0, "day": 86400.0, "days": 86400.0,
}
_RATE = re.compile(r"^(\d+)\s*(?:/|per)\s*(\d*(?:\.\d+)?)\s*([a-z]+)$")
_REASON = re.compile(r"^[a-z0-9_-]{1,32}$")


def items(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """A list setting: commas, semicolons or whitespace separate items; empty items vanish."""
    if value is None:
        return ()
    raw = _SEPARATORS.split(value) if isinstance(value, str) else [str(v).strip() for v in value]
    return tuple(item for item in raw if item)


def ascii_host(host: str) -> str:
    """A hostname as browsers send it: lowercase, IDNA (punycode), no trailing dot."""
    host = host.strip().rstrip(".").lower()
    if not host:
        raise ValueError("the host name is empty")
    if host.startswith("[") or ":" in host:  # an IPv6 literal
        address = ipaddress.ip_address(host.strip("[]"))
        return f"[{address.compressed}]"
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"{host!r} is not a valid international host name") from None


def _port(scheme: str, netloc_port: int | None) -> str:
    return "" if netloc_port is None or netloc_port == _DEFAULT_PORTS[scheme] else f":{netloc_port}"


def origin(value: str) -> str:
    """``scheme://host[:port]``; ``*`` (any origin) and ``scheme://*.domain`` (its subdomains) kept."""
    value = value.strip()
    if value == "*":
        return value
    if "://" not in value:
        raise ValueError(f"{value!r} is not an origin: write it with its scheme, e.g. {'https://' + value!r}")
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"{value!r} is not an origin such as https://news.example")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{value!r} must be an origin only (scheme, host and port, no path)")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{value!r} has an invalid port") from None
    host = parts.hostname
    wildcard = host.startswith("*.")
    host = ascii_host(host[2:] if wildcard else host)
    return f"{scheme}://{'*.' if wildcard else ''}{host}{_port(scheme, port)}"


def hostname(value: str) -> str:
    """A hostname as siteverify reports it; an origin or URL written instead is reduced to its host."""
    value = value.strip()
    if "://" in value:
        host = urlsplit(value).hostname or ""
    else:
        host = value.rsplit(":", 1)[0] if value.count(":") == 1 else value  # drop a port
    wildcard = host.startswith("*.")
    host = ascii_host(host[2:] if wildcard else host)
    return ("*." if wildcard else "") + host


def matches_host(host: str, allowed: Iterable[str]) -> bool:
    """Whether ``host`` is one of ``allowed`` (``*.domain`` matches any subdomain of domain)."""
    host = host.rstrip(".").lower()
    for pattern in allowed:
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]):
                return True
        elif host == pattern:
            return True
    return False


@dataclass(frozen=True, slots=True)
class PublicUrl:
    """Where readers' browsers reach the widget: ``origin`` (None when only a path was given)
    and ``prefix`` ("" at the root, else "/path" without a trailing slash)."""

    origin: str | None
    prefix: str

    def __str__(self) -> str:
        return (self.origin or "") + self.prefix


def public_url(value: str) -> PublicUrl:
    value = value.strip()
    if not value:
        return PublicUrl(None, "")
    if value.startswith("/"):
        origin_, path = None, value
    else:
        if "://" not in value:
            raise ValueError(f"expected https://host/prefix or /prefix; write the scheme: {'https://' + value!r}")
        parts = urlsplit(value)
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError(f"{value!r} must be a scheme, host and path only")
        origin_, path = origin(f"{parts.scheme}://{parts.netloc}"), parts.path
        if "*" in origin_:
            raise ValueError(f"{value!r} is not a single address")
    if "?" in path or "#" in path or "\\" in path:
        raise ValueError(f"{value!r} must be a scheme, host and path only")
    prefix = "/" + "/".join(segment for segment in path.split("/") if segment)
    return PublicUrl(origin_, "" if prefix == "/" else prefix)


def http_url(value: str) -> str:
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"expected an http(s) URL, got {value!r}")
    return value


def seconds(value: float | str) -> float:
    """A duration: a number of seconds, or a number with a unit (``5s``, ``2500ms``, ``1.5 min``)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        text = str(value).strip().lower()
        match = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)\s*(ms|[a-z]*)", text)
        if not match:
            raise ValueError(f"expected seconds such as 5 or 2.5s, got {value!r}")
        number, unit = float(match[1]), match[2]
        if unit == "ms":
            number /= 1000
        elif unit:
            if unit not in _UNITS:
                raise ValueError(f"unknown unit {unit!r} in {value!r}")
            number *= _UNITS[unit]
    if not math.isfinite(number) or number <= 0:
        raise ValueError("must be a positive number of seconds")
    return number


def whole_number(value: int | str, *, minimum: int = 0) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected a whole number, got {value!r}")
    text = str(value).strip()
    try:
        number = float(text) if "." in text else int(text)
    except ValueError:
        raise ValueError(f"expected a whole number, got {value!r}") from None
    if number != int(number):
        raise ValueError(f"expected a whole number, got {value!r}")
    if int(number) < minimum:
        raise ValueError(f"must be {minimum} or more")
    return int(number)


def days(value: int | str | None) -> int | None:
    """A retention period in whole days (``30``, ``30d``, ``30 days``); empty means kept for ever."""
    text = "" if value is None else str(value).strip().lower()
    if not text:
        return None
    for unit in (" days", "days", " day", "day", "d"):
        if text.endswith(unit) and text[: -len(unit)].strip().isdigit():
            text = text[: -len(unit)].strip()
            break
    return whole_number(text, minimum=1)


def flag(value: bool | str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on", "y", "t"):
        return True
    if text in ("0", "false", "no", "off", "n", "f", ""):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def proxy(value: str) -> tuple[str, ...]:
    """A trusted proxy: an address or CIDR range (host bits cleared); ``localhost`` is both loopbacks."""
    value = value.strip().lower()
    if value == "*":
        return ("*",)
    if value == "localhost":
        return ("127.0.0.1", "::1")
    try:
        network = ipaddress.ip_network(value.strip("[]"), strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not an address or CIDR range") from None
    if network.num_addresses == 1:
        return (str(network.network_address),)
    return (str(network),)


def reason_code(value: str) -> str:
    code = value.strip().lower()
    if not _REASON.match(code):
        raise ValueError(f"{value!r} is not a reason code ([a-z0-9_-], 1 to 32 characters)")
    return code


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``count`` attempts per ``period`` seconds."""

    count: int
    period: float

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """``30/minute``, ``30/min``, ``30 per minute``, ``30/m``, ``5/10s``, ``100/1.5h`` …"""
        match = _RATE.match(text.strip().lower())
        if not match or match[3] not in _UNITS:
            raise ValueError(f"expected COUNT/PERIOD such as 30/minute, got {text!r}")
        count, multiple, unit = int(match[1]), float(match[2]) if match[2] else 1.0, match[3]
        period = _UNITS[unit] * multiple
        if count < 1 or period <= 0:
            raise ValueError("count and period must be positive")
        return cls(count, period)

    def __str__(self) -> str:
        return f"{self.count}/{self.period:g}s"


#: How log lines are written: readable text, or one JSON object per line for an aggregator.
LOG_FORMATS = ("text", "json")


def log_format(value: str) -> str:
    """``text`` or ``json`` (any case)."""
    text = str(value or "text").strip().lower()
    if text not in LOG_FORMATS:
        raise ValueError(f"expected one of {', '.join(LOG_FORMATS)}, got {value!r}")
    return text


# -- webhooks (see webhooks/) ------------------------------------------------------

WEBHOOK_FORMATS = ("standard", "slack")


def webhook_url(value: str) -> str:
    """A receiver's URL: http(s), a host, no user or fragment; scheme and host lowercased."""
    value = value.strip()
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"expected an https:// URL, got {value!r}")
    if parts.username or parts.password or parts.fragment:
        raise ValueError("a webhook URL takes no user name, password or #fragment")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("a webhook URL has an invalid port") from None
    netloc = ascii_host(parts.hostname) + ("" if port is None else f":{port}")
    return parts._replace(scheme=scheme, netloc=netloc).geturl()


def webhook_secret(value: str) -> str:
    """A Standard Webhooks signing secret: ``whsec_`` and the base64 of 24 to 64 random bytes."""
    value = value.strip()
    if not value.startswith("whsec_"):
        raise ValueError("a webhook secret starts with whsec_ (whsec_ + base64 of 24-64 random bytes)")
    try:
        key = base64.b64decode(value[len("whsec_"):], validate=True)
    except (ValueError, binascii.Error):
        raise ValueError("a webhook secret is whsec_ followed by base64") from None
    if not 24 <= len(key) <= 64:
        raise ValueError("a webhook secret holds 24 to 64 bytes (32 recommended)")
    return value


def milestones(value: str | Iterable[int | str] | None) -> tuple[int, ...]:
    """Vote counts, ascending and distinct: ``100,1000,10000``; ``off`` for none."""
    if isinstance(value, str) and value.strip().lower() in ("off", "none"):
        return ()
    counts = sorted({whole_number(item, minimum=1) for item in items(value if isinstance(value, str | None)
                                                                      else [str(v) for v in value])})
    return tuple(counts)


def fraction(value: float | str | None) -> float | None:
    """A share strictly between 0 and 1 (``0.35``, ``35%``); empty means off."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip()
    try:
        number = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise ValueError(f"expected a share such as 0.35 or 35%, got {value!r}") from None
    if not 0 < number < 1:
        raise ValueError("must be between 0 and 1 (exclusive)")
    return number


def hour(value: int | str | None) -> int | None:
    """A UTC hour 0-23; empty or ``off`` means never."""
    if value is None or str(value).strip().lower() in ("", "off", "none"):
        return None
    number = whole_number(value)
    if number > 23:
        raise ValueError("must be an hour of the day, 0 to 23 (UTC)")
    return number


def choice(value: str, allowed: tuple[str, ...]) -> str:
    text = value.strip().lower()
    if text not in allowed:
        raise ValueError(f"expected one of {', '.join(allowed)}, got {value!r}")
    return text


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a loopback address literal (what may be reached over plain http)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def webhook_destinations(urls: Iterable[str], allowed_hosts: Iterable[str], allow_private: bool) -> None:
    """Refuse receivers a publisher did not allow: a host off the allow-list, plain http away
    from loopback, a private or loopback address literal unless private receivers are allowed.
    (Names are resolved and checked again at every delivery: see webhooks/guard.py.)"""
    allowed = tuple(allowed_hosts)
    for url in urls:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if not matches_host(host, allowed):
            raise ValueError(f"the host {host!r} is not in FEEDBACKWIDGET_WEBHOOK_ALLOWED_HOSTS")
        if parts.scheme != "https" and not is_loopback_host(host):
            raise ValueError(f"{host!r} must be reached over https (plain http only on loopback)")
        if not allow_private and (is_loopback_host(host) or _private_literal(host)):
            raise ValueError(f"{host!r} is a private or loopback address; "
                             "set FEEDBACKWIDGET_WEBHOOK_ALLOW_PRIVATE=true to allow it")


def _private_literal(host: str) -> bool:
    try:
        return not ipaddress.ip_address(host.strip("[]")).is_global
    except ValueError:
        return False  # a name, resolved and judged at delivery
