"""A webhook receiver stub on loopback: verifies each delivery and remembers it.

A declared part of the package (docs/testing.md), like ``fakecaptcha``: it is what
``feedbackwidget demo`` sends its webhooks to, and what the tests deliver to. It checks
signatures with the ``standardwebhooks`` library itself (a receiver knowing any one of
``secrets`` accepts, which is how key rotation looks from the receiving side), answers
204 to a good delivery, 400 to a bad signature, and on purpose 503 while :attr:`failing`
or a redirect while :attr:`redirect_to` is set. It can be stopped and started again on
the same port, to play a receiver that goes away.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass(frozen=True, slots=True)
class Received:
    """One accepted delivery: its ``webhook-id``, parsed body and arrival (``time.time()``)."""

    message_id: str
    body: dict[str, Any]
    at: float


class WebhookReceiver:
    """Receives at ``POST /hook`` on ``host:port`` (port 0: any free one, kept across restarts)."""

    def __init__(self, secrets: Sequence[str], *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._hooks = [Webhook(s) for s in secrets]
        self.host = host
        self.port = port
        self.failing = False
        self.redirect_to: str | None = None
        self.received: list[Received] = []
        self.attempts = 0  # every request, whatever its answer
        self.rejected = 0  # bad or missing signatures
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None
        self._ready = threading.Event()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hook"

    def ids(self) -> list[str]:
        with self._lock:
            return [r.message_id for r in self.received]

    def wait_until(self, condition: Callable[[WebhookReceiver], bool], limit: float = 60.0) -> None:
        """Return once ``condition(self)`` holds; AssertionError after ``limit`` seconds."""
        deadline = time.monotonic() + limit
        while not condition(self):
            if time.monotonic() > deadline:
                raise AssertionError(f"receiver: condition not met; got {len(self.received)} deliveries")
            time.sleep(0.02)  # polling interval of the condition

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.text()
        with self._lock:
            self.attempts += 1
        if self.redirect_to is not None:
            raise web.HTTPTemporaryRedirect(self.redirect_to)
        if self.failing:
            return web.Response(status=503, text="failing on purpose")
        headers = dict(request.headers)
        for hook in self._hooks:
            try:
                hook.verify(body, headers, json_parse=False)
                break
            except WebhookVerificationError:
                continue
        else:
            with self._lock:
                self.rejected += 1
            return web.Response(status=400, text="bad signature")
        received = Received(request.headers["webhook-id"], json.loads(body), time.time())
        with self._lock:
            self.received.append(received)
        return web.Response(status=204)

    # -- running in a background thread ---------------------------------------

    def start(self) -> WebhookReceiver:
        self._ready.clear()
        self._thread = threading.Thread(target=self._serve, name="webhook-receiver", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the webhook receiver did not start")
        return self

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._run())
        finally:
            loop.close()

    async def _run(self) -> None:
        self._stopped = asyncio.Event()
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        await site.start()
        self.port = runner.addresses[0][1]
        self._ready.set()
        await self._stopped.wait()
        await runner.cleanup()

    def stop(self) -> None:
        """Close the port: deliveries now find nobody listening."""
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(10)
        self._thread = self._loop = self._stopped = None

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
