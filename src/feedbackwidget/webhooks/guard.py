"""Where deliveries may go: the publisher's allow-list, https away from loopback, and no
private address unless the publisher said so — checked at every delivery, on the very
addresses the connection uses.

Settings refuse a bad ``WEBHOOK_URLS`` at start-up; a queued message, though, keeps the URL
it was queued with, and a name can resolve somewhere else tomorrow (DNS rebinding). So each
attempt checks the URL again (:func:`refusal`) and connects through :class:`GuardedResolver`,
which refuses a name whose addresses include a private one. Redirects are never followed.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from ..config_values import is_loopback_host, matches_host


class DestinationRefused(OSError):
    """A delivery that must not be attempted (never retried)."""


def private(address: str) -> bool:
    """Whether ``address`` is anything but a public unicast address (loopback included)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def refusal(url: str, allowed_hosts: tuple[str, ...], allow_private: bool) -> str | None:
    """Why ``url`` may not be called now (a sentence), or None. Address literals are judged here;
    names are judged by :class:`GuardedResolver` when connecting."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        return "not an http(s) URL"
    if not matches_host(host, allowed_hosts):
        return f"host {host} is not in WEBHOOK_ALLOWED_HOSTS"
    if parts.scheme != "https" and not is_loopback_host(host):
        return f"host {host} must be reached over https"
    if not allow_private:
        if host == "localhost" or host.endswith(".localhost"):
            return f"host {host} is loopback (WEBHOOK_ALLOW_PRIVATE is off)"
        try:
            literal = private(host.strip("[]"))
        except ValueError:
            return None  # a name: the resolver decides
        if literal:
            return f"address {host} is private (WEBHOOK_ALLOW_PRIVATE is off)"
    return None


class GuardedResolver(AbstractResolver):
    """aiohttp's threaded resolver, refusing a name with any private address (unless allowed)."""

    def __init__(self, allow_private: bool) -> None:
        self._inner = aiohttp.ThreadedResolver()
        self._allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if not self._allow_private:
            bad = [r["host"] for r in results if private(r["host"])]
            if bad:
                raise DestinationRefused(f"{host} resolves to a private address (WEBHOOK_ALLOW_PRIVATE is off)")
        return results

    async def close(self) -> None:
        await self._inner.close()
