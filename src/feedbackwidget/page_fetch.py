"""Fetching a publisher's article page, safely: the server reads URLs a browser named.

A vote names the page it was cast on, so a hostile client could name any URL; the
fetcher below makes that worthless for reaching anything but the publisher's own
pages (server-side request forgery):

* only URLs whose origin is one of ``origins`` (the allowed origins and
  ``PUBLIC_URL``'s) are fetched, and a redirect is followed (at most
  :data:`MAX_REDIRECTS`) only to such a URL;
* the host is resolved, every address it resolves to is checked, and the connection
  goes to a checked address (the resolver handed to aiohttp is the check, so a name
  that resolves differently a moment later cannot slip past it); loopback, private,
  link-local, shared, reserved and multicast addresses are refused unless they are
  in ``private_networks`` — a name with one refused address is refused whole;
* the whole fetch, redirects included, ends after ``timeout`` seconds, and at most
  ``max_bytes`` of the (decompressed) body are read: a huge page is cut, not held;
* only a ``200`` ``text/html`` (or XHTML) answer is read; no cookies are kept or sent,
  no proxy from the environment is used.

:class:`FetchRefused` says why a page was not read (it is logged at debug level by the caller).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from .config_values import origin as normal_origin

MAX_REDIRECTS = 3
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_HTML = ("text/html", "application/xhtml+xml")
_CHUNK = 64 * 1024

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class FetchRefused(Exception):
    """The page was not fetched or not read; the message says why (no secrets, no body)."""


def url_origin(url: str) -> str | None:
    """The origin of an http(s) URL as browsers write it (as ALLOWED_ORIGINS is normalised), or None
    (not http(s), credentials in it, a wildcard, a bad port)."""
    try:
        parts = urlsplit(url.strip())
        if parts.username or parts.password or "*" in parts.netloc:
            return None
        found = normal_origin(f"{parts.scheme}://{parts.netloc}")
    except ValueError:
        return None
    return found


class AddressPolicy:
    """Which addresses the fetcher may connect to: public ones, and those in ``allowed``."""

    def __init__(self, allowed: Sequence[str] = ()) -> None:
        self.allowed: tuple[Network, ...] = tuple(ipaddress.ip_network(n, strict=False) for n in allowed)

    def permits(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip in network for network in self.allowed):
            return True
        return ip.is_global and not ip.is_multicast


class _CheckedResolver(AbstractResolver):
    """Resolves with the system resolver, then refuses the name unless every address is permitted."""

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[
        ResolveResult
    ]:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, family=family)
        except OSError as exc:
            raise OSError(f"cannot resolve {host!r}") from exc
        addresses = [info[4][0] for info in infos]
        refused = [a for a in addresses if not self.policy.permits(str(a))]
        if not addresses or refused:
            raise FetchRefused(f"{host!r} resolves to an address that is not allowed ({', '.join(map(str, refused))})")
        return [
            ResolveResult(hostname=host, host=str(info[4][0]), port=port, family=info[0], proto=info[2],
                          flags=socket.AI_NUMERICHOST)
            for info in infos
        ]

    async def close(self) -> None:
        return None


class PageFetcher:
    """Fetches article pages under the rules of the module docstring. Open once per event loop."""

    def __init__(
        self,
        origins: Sequence[str],
        *,
        private_networks: Sequence[str] = (),
        timeout: float = 5.0,
        max_bytes: int = 2 * 1024 * 1024,
    ) -> None:
        self.origins = frozenset(origins)
        self.policy = AddressPolicy(private_networks)
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._session: aiohttp.ClientSession | None = None

    def may_fetch(self, url: str) -> bool:
        """Whether ``url`` is on one of the allowed origins (checked again for every redirect)."""
        return url_origin(url) in self.origins

    async def open(self) -> None:
        if self._session is None:
            connector = aiohttp.TCPConnector(resolver=_CheckedResolver(self.policy), limit=8, use_dns_cache=False)
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
                headers={"User-Agent": "feedbackwidget (article metadata)", "Accept": "text/html"},
            )

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def fetch(self, url: str) -> str:
        """The page's text (cut at ``max_bytes``); raises :class:`FetchRefused` otherwise."""
        if self._session is None:
            raise FetchRefused("the fetcher is closed")
        try:
            async with asyncio.timeout(self.timeout):
                return await self._follow(self._session, url)
        except TimeoutError:
            raise FetchRefused(f"no full answer within {self.timeout:g} s") from None
        except aiohttp.ClientError as exc:
            raise FetchRefused(f"{type(exc).__name__}") from None
        except OSError as exc:
            if isinstance(exc.__cause__, FetchRefused):
                raise exc.__cause__ from None
            raise FetchRefused(f"{type(exc).__name__}") from None

    async def _follow(self, session: aiohttp.ClientSession, url: str) -> str:
        for _ in range(MAX_REDIRECTS + 1):
            self._check(url)
            async with session.get(url, allow_redirects=False, max_line_size=16384, max_field_size=16384) as answer:
                if answer.status in _REDIRECTS:
                    location = answer.headers.get("Location")
                    if not location:
                        raise FetchRefused(f"a {answer.status} without a Location")
                    url = urljoin(url, location)
                    continue
                if answer.status != 200:
                    raise FetchRefused(f"HTTP {answer.status}")
                if answer.content_type not in _HTML:
                    raise FetchRefused(f"not HTML ({answer.content_type})")
                return await self._body(answer)
        raise FetchRefused(f"more than {MAX_REDIRECTS} redirects")

    def _check(self, url: str) -> None:
        if not self.may_fetch(url):
            raise FetchRefused(f"{url_origin(url) or 'that URL'} is not an allowed origin")
        host = (urlsplit(url).hostname or "").strip("[]")
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return  # a name: the resolver checks what it resolves to
        if not self.policy.permits(host):  # aiohttp does not ask the resolver about a literal address
            raise FetchRefused(f"{host} is not an allowed address")

    async def _body(self, answer: aiohttp.ClientResponse) -> str:
        chunks: list[bytes] = []
        size = 0
        while size < self.max_bytes:
            chunk = await answer.content.read(min(_CHUNK, self.max_bytes - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        charset: Any = answer.charset or "utf-8"
        try:
            return b"".join(chunks).decode(charset, "replace")
        except LookupError:
            return b"".join(chunks).decode("utf-8", "replace")
