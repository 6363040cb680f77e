"""Firefox (Debian's firefox-esr) over WebDriver BiDi, through puppeteer-core in a Node bridge.

Debian ships no geckodriver, and Firefox speaks BiDi itself; puppeteer-core (npm, pinned in
tests/browser/package.json to a release that runs on Node 20) is the well-kept BiDi client,
so a small Node process (``firefox_bridge.mjs``) runs it and this module talks to that
process in JSON lines (see ``bridge.py``). One Firefox per cookie mode; readers are BiDi user
contexts, each with its own cookie jar and storage.

Console: BiDi ``log.entryAdded`` carries console calls, uncaught errors and the browser's own
script-error reports (CSP refusals, rejected cookies), from the page and its frames.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from .base import ConsoleEntry, Cookie, Engine, EngineUnavailable, Reader, find_executable
from .bridge import Bridge

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE.parent / "node_modules"
CALL_TIMEOUT = 30.0
LAUNCH_TIMEOUT = 60.0


def prefs(proxy_port: int, cookies: str) -> dict[str, Any]:
    """Firefox preferences for a test profile (on top of puppeteer's own automation defaults)."""
    values: dict[str, Any] = {
        # Everything that is not loopback goes to a port that refuses it (updates, telemetry,
        # remote settings...): nothing leaves the machine, nothing waits on a timeout.
        "network.proxy.type": 1,
        "network.proxy.http": "127.0.0.1",
        "network.proxy.http_port": proxy_port,
        "network.proxy.ssl": "127.0.0.1",
        "network.proxy.ssl_port": proxy_port,
        "network.proxy.share_proxy_settings": True,
        "network.captive-portal-service.enabled": False,
        "network.connectivity-service.enabled": False,
    }
    if cookies != "default":  # else Total Cookie Protection (5), Firefox's own default
        # Settings > Privacy > Custom > Cookies: "All third-party cookies" (1), or none blocked (0)
        values["network.cookie.cookieBehavior"] = {"blocked": 1, "allowed": 0}[cookies]
    return values


class FirefoxEngine(Engine):
    name = "firefox"

    def __init__(self, proxy_port: int) -> None:
        self.executable = find_executable("FEEDBACKWIDGET_TEST_FIREFOX", "firefox-esr", "firefox")
        self.node = find_executable("FEEDBACKWIDGET_TEST_NODE", "node")
        if not (NODE_MODULES / "puppeteer-core").is_dir():
            raise EngineUnavailable("puppeteer-core is missing: run `npm ci` in tests/browser")
        self.proxy_port = proxy_port
        self.bridges: dict[str, Bridge] = {}

    def _bridge(self, cookies: str) -> Bridge:
        bridge = self.bridges.get(cookies)
        if bridge is None:
            self.starts += 1
            bridge = Bridge([self.node, str(HERE / "firefox_bridge.mjs")])
            try:
                started = bridge.call(
                    "launch", LAUNCH_TIMEOUT, executablePath=self.executable, prefs=prefs(self.proxy_port, cookies),
                    timeout=int(LAUNCH_TIMEOUT * 1000),
                )
            except BaseException:
                bridge.close(5)
                raise
            self.bridges[cookies] = bridge
            if started["pid"]:
                bridge.groups.append(started["pid"])  # puppeteer starts Firefox in a group of its own
            self.version = started["version"]
        return bridge

    def reader(self, *, cookies: str = "default") -> Reader:
        bridge = self._bridge(cookies)
        return FirefoxReader(bridge, bridge.call("reader", CALL_TIMEOUT, timeout=int(CALL_TIMEOUT * 1000 / 2)))

    def close(self) -> None:
        for bridge in self.bridges.values():
            bridge.close(15)
        self.bridges.clear()


class FirefoxReader(Reader):
    engine = "firefox"

    def __init__(self, bridge: Bridge, ident: int) -> None:
        self.bridge = bridge
        self.ident = ident

    def _call(self, op: str, **params: Any) -> Any:
        return self.bridge.call(op, CALL_TIMEOUT, reader=self.ident, **params)

    def goto(self, url: str) -> None:
        self._call("goto", url=url)

    def reload(self) -> None:
        self._call("reload")

    def evaluate(self, function: str, *args: Any, frame: str | None = None) -> Any:
        return self._call("evaluate", source=function, args=list(args), frame=frame)

    def click_at(self, x: float, y: float) -> None:
        self._call("click", x=x, y=y)

    def press(self, key: str) -> None:
        self._call("press", key=key)

    def screenshot(self, x: float, y: float, width: float, height: float) -> bytes:
        return base64.b64decode(self._call("screenshot", clip={"x": x, "y": y, "width": width, "height": height}))

    def cookies(self) -> list[Cookie]:
        return [Cookie(c["name"], c["domain"], c["partitioned"]) for c in self._call("cookies")]

    def console(self) -> list[ConsoleEntry]:
        return [ConsoleEntry(e["level"], e["text"]) for e in self._call("console")]

    def close(self) -> None:
        if self.bridge.proc.poll() is None:
            self._call("closeReader")
