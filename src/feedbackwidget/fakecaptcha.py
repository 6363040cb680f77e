"""An offline stand-in for hCaptcha, spoken over real HTTP on loopback.

A declared, documented part of the package (docs/testing.md), as
``starlette.testclient`` is of Starlette: for a publisher's own tests,
benchmarks and ``feedbackwidget demo --captcha fake``;
the widget itself never knows it is talking to a fake: it is reached only
through the ``HCAPTCHA_VERIFY_URL`` and ``HCAPTCHA_JS_URL`` settings.

``POST /siteverify`` speaks hCaptcha's protocol. What it answers depends on
the token's prefix (so concurrent tests never share state):

==================  =====================================================
``PASS-…``           success, once; the same token again is ``already-seen-response``
``HOST=name-…``      success with ``hostname`` = name, once
``FAIL-…``           ``invalid-input-response``
``EXPIRED-…``        ``expired-input-response``
``ODD-…``            failure with an error code nobody documents
``SLOW-…``           answers after ``slow_seconds`` (default 30)
``SPLIT-…``          success, its body sent in two packets 50 ms apart
``E500-…``           HTTP 500
``GARBAGE-…``        200 with a body that is not JSON
``NOSUCCESS-…``      JSON without ``success``
==================  =====================================================

A wrong secret is ``invalid-input-secret``; a wrong sitekey is
``sitekey-secret-mismatch``. ``latency`` delays every answer. ``POST /mint``
hands the stand-in ``api.js`` a fresh token (prefix ``mint_prefix``) and the
client-side behaviour to act out (``client``: ``ok``, ``error`` or ``expire``).

``python -m feedbackwidget.fakecaptcha [--port P]`` runs it alone and first prints the four
``FEEDBACKWIDGET_HCAPTCHA_*`` settings a server needs to use it (keys ``fake-sitekey-0000`` /
``fake-secret-0000``).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import socket
import threading
from importlib import resources
from typing import Any

from aiohttp import web

TEST_SITEKEY = "10000000-ffff-ffff-ffff-000000000001"


class FakeHCaptcha:
    def __init__(
        self,
        *,
        sitekey: str = "fake-sitekey-0000",
        secret: str = "fake-secret-0000",  # noqa: S107 - a stand-in, by design
        hostname: str = "localhost",
        latency: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.sitekey = sitekey
        self.secret = secret
        self.hostname = hostname
        self.latency = latency
        self.slow_seconds = 30.0
        self.mint_prefix = "PASS"
        self.client = "ok"
        self.host = host
        self.port = port
        self.calls = 0
        self.js_requests = 0
        self.last_form: dict[str, str] = {}
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._stopped: asyncio.Event | None = None

    # -- addresses ------------------------------------------------------------

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def verify_url(self) -> str:
        return f"{self.origin}/siteverify"

    @property
    def js_url(self) -> str:
        return f"{self.origin}/1/api.js"

    def settings(self) -> dict[str, Any]:
        """Keyword arguments for :class:`feedbackwidget.Settings` pointing at this fake."""
        return {
            "hcaptcha_sitekey": self.sitekey,
            "hcaptcha_secret": self.secret,
            "hcaptcha_verify_url": self.verify_url,
            "hcaptcha_js_url": self.js_url,
        }

    def env(self) -> dict[str, str]:
        return {f"FEEDBACKWIDGET_{k.upper()}": str(v) for k, v in self.settings().items()}

    # -- protocol -------------------------------------------------------------

    async def _siteverify(self, request: web.Request) -> web.StreamResponse:
        form = {k: str(v) for k, v in (await request.post()).items()}
        with self._lock:
            self.calls += 1
            self.last_form = {k: v for k, v in form.items() if k != "secret"}
        if self.latency:
            await asyncio.sleep(self.latency)
        token = form.get("response", "")
        if form.get("secret") != self.secret:
            return _no("invalid-input-secret")
        if form.get("sitekey") not in (None, self.sitekey):
            return _no("sitekey-secret-mismatch")
        if not token:
            return _no("missing-input-response")
        kind = token.split("-", 1)[0]
        if kind == "SLOW":
            await asyncio.sleep(self.slow_seconds)
            return _no("expired-input-response")
        if kind == "SPLIT":  # a good answer sent in two packets, 50 ms apart
            split = web.StreamResponse(headers={"Content-Type": "application/json"})
            await split.prepare(request)
            await split.write(b'{"success": tr')
            await asyncio.sleep(0.05)
            await split.write(b'ue, "hostname": "' + self.hostname.encode() + b'"}')
            await split.write_eof()
            return split
        if kind == "E500":
            return web.Response(status=500, text="internal error")
        if kind == "GARBAGE":
            return web.Response(text="<html>not json</html>", content_type="text/html")
        if kind == "NOSUCCESS":
            return web.json_response({"hostname": self.hostname})
        if kind == "FAIL":
            return _no("invalid-input-response")
        if kind == "EXPIRED":
            return _no("expired-input-response")
        if kind == "ODD":
            return _no("frobnicated-response")
        if kind == "PASS" or kind.startswith("HOST="):
            with self._lock:
                if token in self._seen:
                    return _no("already-seen-response")
                self._seen.add(token)
            hostname = kind.removeprefix("HOST=") if kind.startswith("HOST=") else self.hostname
            return web.json_response({"success": True, "challenge_ts": "2026-01-01T00:00:00Z", "hostname": hostname})
        return _no("invalid-input-response")

    async def _mint(self, request: web.Request) -> web.Response:
        token = f"{self.mint_prefix}-{secrets.token_urlsafe(18)}"
        return web.json_response(
            {"token": token, "client": self.client},
            headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "no-store"},
        )

    async def _api_js(self, request: web.Request) -> web.Response:
        with self._lock:
            self.js_requests += 1
        source = resources.files("feedbackwidget").joinpath("fakecaptcha_api.js").read_text("utf-8")
        return web.Response(
            text=source,
            content_type="application/javascript",
            headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "no-store"},
        )

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/siteverify", self._siteverify)
        app.router.add_post("/mint", self._mint)
        app.router.add_get("/1/api.js", self._api_js)
        return app

    # -- running in a background thread ---------------------------------------

    def start(self) -> FakeHCaptcha:
        self._thread = threading.Thread(target=self._serve, name="fake-hcaptcha", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fake hCaptcha server did not start")
        return self

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._run())
        finally:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.wait(pending))
            loop.close()

    async def _run(self) -> None:
        self._stopped = asyncio.Event()
        runner = web.AppRunner(self.app(), access_log=None, handle_signals=False, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, backlog=2048)
        await site.start()
        self.port = runner.addresses[0][1]
        self._ready.set()
        await self._stopped.wait()
        await runner.cleanup()

    def stop(self) -> None:
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> FakeHCaptcha:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _no(code: str) -> web.Response:
    return web.json_response({"success": False, "error-codes": [code]})


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def main() -> None:
    parser = argparse.ArgumentParser(description="Offline hCaptcha stand-in (tests, benchmarks, demo).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds to wait before each siteverify answer")
    args = parser.parse_args()
    fake = FakeHCaptcha(host=args.host, port=args.port or _free_port(args.host), latency=args.latency)
    for name, value in fake.env().items():  # what a server needs to use it
        print(f"{name}={value}", flush=True)
    web.run_app(fake.app(), host=args.host, port=fake.port, access_log=None, print=lambda *_: None, backlog=2048)


if __name__ == "__main__":
    main()
