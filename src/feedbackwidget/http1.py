"""A small pooled HTTP/1.1 client for one shape of request: POST a form, read a short answer.

Every vote makes one siteverify call. Profiled under load, aiohttp's client took
a third of the event loop's time per vote (request objects, payload registry,
timers, streams), more than the rest of the vote together. This client builds
the request bytes directly, parses the answer with httptools (llhttp, in C; it
comes with ``uvicorn[standard]``), and keeps connections alive in a LIFO pool
with a bound on how many are open at once. It follows no redirects, never
retries, and sends no Accept-Encoding, so answers arrive unencoded.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import NamedTuple, cast
from urllib.parse import urlsplit

try:
    import httptools

    _HAVE_HTTPTOOLS = True
except ImportError:  # pragma: no cover - uvicorn[standard] brings it
    _HAVE_HTTPTOOLS = False


def available() -> bool:
    return _HAVE_HTTPTOOLS


class Answer(NamedTuple):
    status: int
    body: bytes


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time."""

    def __init__(self, max_body: int) -> None:
        self.max_body = max_body
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.keep_alive = False
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[Answer] | None = None
        self._body = bytearray()
        self._status = 0
        self._headers_done = False
        self._framed = False  # Content-Length or chunked: the end is known without EOF

    # -- asyncio.Protocol ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionError(f"malformed HTTP answer ({type(exc).__name__})"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._headers_done and not self._framed:  # the body ends where the connection does
            waiter.set_result(Answer(self._status, bytes(self._body)))
        else:
            waiter.set_exception(ConnectionError("the server closed the connection before answering"))

    # -- httptools callbacks ------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() in (b"content-length", b"transfer-encoding"):
            self._framed = True

    def on_headers_complete(self) -> None:
        self._headers_done = True
        self._status = self._parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        room = self.max_body + 1 - len(self._body)
        self._body += body[:room]
        if len(body) >= room:  # more than anyone should answer: stop reading, never reuse
            self.keep_alive = False
            self._resolve()
            self.close()

    def on_message_complete(self) -> None:
        self.keep_alive = self._parser.should_keep_alive()
        self._resolve()

    # -- use ----------------------------------------------------------------------

    def _resolve(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(Answer(self._status, bytes(self._body)))

    def _fail(self, exc: Exception) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.close()

    async def request(self, data: bytes) -> Answer:
        if self.closed or self.transport is None:
            raise ConnectionError("the connection is closed")
        self._waiter = asyncio.get_running_loop().create_future()
        self._body = bytearray()
        self._status = 0
        self._headers_done = self._framed = self.keep_alive = False
        self.transport.write(data)
        try:
            return await self._waiter
        finally:
            self._waiter = None

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class FormPoster:
    """POSTs ``application/x-www-form-urlencoded`` bodies to one URL over pooled connections.

    At most ``connections`` are open at once; callers beyond that wait for one.
    Bound the time of :meth:`post` from outside (``asyncio.timeout``): a
    cancelled request closes its connection.
    """

    def __init__(
        self,
        url: str,
        *,
        connections: int = 1024,
        max_body: int = 64 * 1024,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.host = parts.hostname
        self.tls = parts.scheme == "https"
        self.port = parts.port or (443 if self.tls else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        authority = parts.netloc.rpartition("@")[2]
        self._head = (
            f"POST {target} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: feedbackwidget\r\n"
            "Accept: application/json\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        ).encode("latin-1")
        self.max_body = max_body
        self._slots = asyncio.Semaphore(connections)
        self._idle: list[_Connection] = []
        self._busy: set[_Connection] = set()
        self._ssl: ssl.SSLContext | None = (ssl_context or ssl.create_default_context()) if self.tls else None
        self._closed = False

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(
            lambda: _Connection(self.max_body),
            self.host,
            self.port,
            ssl=self._ssl,
            server_hostname=self.host if self.tls else None,
        )
        return conn

    async def post(self, body: bytes) -> Answer:
        if self._closed:
            raise ConnectionError("the client is closed")
        data = self._head + b"Content-Length: %d\r\n\r\n" % len(body) + body
        async with self._slots:
            conn: _Connection | None = None
            while self._idle:
                candidate = self._idle.pop()
                if not candidate.closed:
                    conn = candidate
                    break
            if conn is None:
                conn = await self._connect()
            self._busy.add(conn)
            try:
                answer = await conn.request(data)
            except BaseException:
                conn.close()
                raise
            finally:
                self._busy.discard(conn)
            if conn.keep_alive and not conn.closed and not self._closed:
                self._idle.append(conn)
            else:
                conn.close()
            return answer

    async def close(self) -> None:
        self._closed = True
        for conn in [*self._idle, *self._busy]:
            conn.close()
        self._idle.clear()
        self._busy.clear()
        await asyncio.sleep(0)  # let the transports finish closing on this loop
