"""WebKitGTK (Debian's webkit2gtk-driver) through WebKitWebDriver and Selenium, under Xvfb.

WebKitGTK's driver speaks classic WebDriver only (no BiDi in 2.50) and starts its
MiniBrowser, a GTK program that needs an X display: one Xvfb per engine. Each reader is a
WebKitWebDriver process with one session (an ephemeral profile), so a reader's cookies and
storage are its own and a stuck driver is killed with everything it started.

New Session sometimes never answers (about one start in ten here): each start is bounded
and, on timeout, its process group is killed and the start retried (counted in
``start_retries``). Every later command is bounded by the HTTP client's timeout.

Console: WebKit prints page messages nowhere an ephemeral automation session can reach, so
a probe (``CONSOLE_PROBE``) records console warnings/errors, uncaught errors and CSP
violations in the page; publisher pages load it first thing, and frames get it when the
reader arms them (after their load: what they logged while loading is not seen). Messages the
browser itself writes (cookie refusals, blocked loads) are invisible here.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import urllib.error
import urllib.request
from typing import Any

import urllib3
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.common.proxy import Proxy, ProxyType
from selenium.webdriver.remote.client_config import ClientConfig
from selenium.webdriver.remote.remote_connection import RemoteConnection

from .base import ConsoleEntry, Cookie, Engine, EngineTimeout, EngineUnavailable, Reader, find_executable
from .probe import CONSOLE_PROBE, READ_PROBE

START_TIMEOUT = 20.0
START_ATTEMPTS = 4
COMMAND_TIMEOUT = 30
KEYS = {"Tab": Keys.TAB, "Enter": Keys.ENTER, "Space": Keys.SPACE}
#: Loopback requests never go through the http_proxy a CI machine may set.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
CROP = """
const [png, x, y, width, height] = arguments, scale = window.devicePixelRatio;
const image = new Image();
image.src = 'data:image/png;base64,' + png;
return image.decode().then(() => {
  const canvas = document.createElement('canvas');
  canvas.width = Math.round(width * scale);
  canvas.height = Math.round(height * scale);
  canvas.getContext('2d').drawImage(image, x * scale, y * scale, width * scale, height * scale,
                                    0, 0, canvas.width, canvas.height);
  return canvas.toDataURL('image/png').split(',')[1];
});
"""


class Xvfb:
    """A virtual X display for as long as the engine lives."""

    def __init__(self, executable: str) -> None:
        read, write = os.pipe()
        self.proc = subprocess.Popen(
            [executable, "-displayfd", str(write), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
            pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        os.close(write)
        with os.fdopen(read) as answer:  # Xvfb writes the display number once it accepts clients
            number = answer.readline().strip()
        if not number:
            self.close()
            raise EngineUnavailable("Xvfb did not start")
        self.display = f":{number}"

    def close(self) -> None:
        _kill_group(self.proc)


def _kill_group(proc: subprocess.Popen[bytes], grace: float = 0) -> None:
    """Stop a process we started and everything it started (its session's process group):
    first politely for ``grace`` seconds (a driver reaps its browser), then by SIGKILL."""
    if grace:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class WebKitEngine(Engine):
    name = "webkit"

    def __init__(self, proxy_port: int, *, start_timeout: float = START_TIMEOUT, attempts: int = START_ATTEMPTS) -> None:
        self.start_timeout = start_timeout
        self.attempts = attempts
        self.driver = find_executable("FEEDBACKWIDGET_TEST_WEBKITDRIVER", "WebKitWebDriver")
        self.browser = find_executable(
            "FEEDBACKWIDGET_TEST_MINIBROWSER", "/usr/lib/*/webkit2gtk-4.*/MiniBrowser", "/usr/libexec/webkit2gtk-4.*/MiniBrowser"
        )
        self.xvfb_path = find_executable("FEEDBACKWIDGET_TEST_XVFB", "Xvfb")
        self.proxy_port = proxy_port
        self.xvfb: Xvfb | None = None
        self.readers: list[WebKitReader] = []

    def arguments(self, cookies: str) -> list[str]:
        values = [
            "--automation",
            f"--proxy=http://127.0.0.1:{self.proxy_port}",  # nothing leaves the machine
            "--ignore-host=localhost",
            "--ignore-host=127.0.0.1",
        ]
        if cookies == "blocked":  # tracking prevention, on in Safari: no third-party cookies at all
            values.append("--enable-itp")
        elif cookies == "allowed":  # else MiniBrowser's (and WebKitGTK's) default, no-third-party
            values.append("--cookies-policy=always")
        return values

    def reader(self, *, cookies: str = "default") -> Reader:
        if self.xvfb is None:
            self.xvfb = Xvfb(self.xvfb_path)
        failures = []
        for _attempt in range(self.attempts):
            self.starts += 1
            try:
                reader = WebKitReader(self, cookies)
            except EngineTimeout as e:
                self.start_retries += 1
                failures.append(str(e))
                continue
            self.readers.append(reader)
            return reader
        raise EngineTimeout(f"WebKit did not start in {self.attempts} attempts: {failures}")

    def close(self) -> None:
        for reader in self.readers:
            reader.close()
        self.readers.clear()
        if self.xvfb is not None:
            self.xvfb.close()
            self.xvfb = None


class WebKitReader(Reader):
    engine = "webkit"

    def __init__(self, engine: WebKitEngine, cookies: str) -> None:
        assert engine.xvfb is not None
        port = _free_port()
        # The driver reaches its browser over loopback through GLib, which honours proxy
        # variables (a CI machine's http_proxy made every New Session hang); the browser gets
        # its proxy from --proxy instead.
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        env["DISPLAY"] = engine.xvfb.display
        self.proc = subprocess.Popen(
            [engine.driver, f"--port={port}"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.entries: list[ConsoleEntry] = []
        self.closed = False
        url = f"http://127.0.0.1:{port}"
        try:
            self._wait_ready(url)
            options = webdriver.WebKitGTKOptions()
            options.binary_location = engine.browser
            for argument in engine.arguments(cookies):
                options.add_argument(argument)
            direct = Proxy()
            direct.proxy_type = ProxyType.DIRECT  # the driver is on loopback: never through a proxy
            self.config = ClientConfig(url, proxy=direct, timeout=math.ceil(engine.start_timeout))
            self.driver = webdriver.Remote(command_executor=RemoteConnection(client_config=self.config), options=options)
            self.config.timeout = COMMAND_TIMEOUT  # read per request: bounds every later command
            self.driver.set_page_load_timeout(COMMAND_TIMEOUT - 5)
            self.driver.set_script_timeout(COMMAND_TIMEOUT - 5)
            self.driver.set_window_rect(0, 0, 1280, 900)
        except (WebDriverException, OSError, urllib3.exceptions.HTTPError) as e:  # HTTPError: a read timeout
            _kill_group(self.proc)
            raise EngineTimeout(f"New Session: {type(e).__name__}: {e}") from None
        except BaseException:
            _kill_group(self.proc)
            raise
        engine.version = self.driver.capabilities.get("browserVersion", "")

    def _wait_ready(self, url: str) -> None:
        """Until the driver answers /status (bounded): it needs a moment to listen."""
        for _ in range(200):
            try:
                with DIRECT.open(url + "/status", timeout=1) as answer:
                    if json.loads(answer.read())["value"]["ready"]:
                        return
            except (urllib.error.URLError, OSError, ValueError, KeyError):
                try:  # the short wait doubles as the check that the driver is still alive
                    self.proc.wait(0.05)
                except subprocess.TimeoutExpired:
                    continue
                raise EngineTimeout("WebKitWebDriver exited at start") from None
        raise EngineTimeout("WebKitWebDriver did not listen")

    # -- navigation ---------------------------------------------------------------------

    def _harvest(self) -> None:
        """Collect what the probe saw in the page and its armed frames before they go away."""
        try:
            self.entries += [ConsoleEntry(e["level"], e["text"]) for e in self.driver.execute_script(READ_PROBE) or []]
            for frame in self._frames():
                self.driver.switch_to.frame(frame)
                try:
                    found = self.driver.execute_script(READ_PROBE) or []
                finally:
                    self.driver.switch_to.default_content()
                self.entries += [ConsoleEntry(e["level"], e["text"]) for e in found]
        except WebDriverException:
            pass  # nothing loaded yet

    def _arm(self) -> None:
        self.driver.execute_script(CONSOLE_PROBE)
        for frame in self._frames():
            self.driver.switch_to.frame(frame)
            try:
                self.driver.execute_script(CONSOLE_PROBE)
            finally:
                self.driver.switch_to.default_content()

    def _frames(self) -> list[Any]:
        found: list[Any] = self.driver.find_elements("css selector", "iframe")
        return found

    def goto(self, url: str) -> None:
        self._harvest()
        self.driver.get(url)
        self._arm()

    def reload(self) -> None:
        self._harvest()
        self.driver.refresh()
        self._arm()

    def evaluate(self, function: str, *args: Any, frame: str | None = None) -> Any:
        script = f"return ({function})(...arguments)"
        if frame is None:
            return self.driver.execute_script(script, *args)
        element = next((f for f in self._frames() if (f.get_attribute("src") or "").startswith(frame)), None)
        if element is None:
            raise LookupError(f"no frame at {frame}")
        self.driver.switch_to.frame(element)
        try:
            return self.driver.execute_script(script, *args)
        finally:
            self.driver.switch_to.default_content()

    # -- input --------------------------------------------------------------------------

    def click_at(self, x: float, y: float) -> None:
        actions = ActionBuilder(self.driver)
        actions.pointer_action.move_to_location(round(x), round(y)).click()  # type: ignore[no-untyped-call]
        actions.perform()

    def press(self, key: str) -> None:
        *modifiers, last = key.split("+")
        chain = ActionChains(self.driver)
        for modifier in modifiers:
            chain.key_down(getattr(Keys, modifier.upper()))
        chain.send_keys(KEYS[last])
        for modifier in reversed(modifiers):
            chain.key_up(getattr(Keys, modifier.upper()))
        chain.perform()

    # -- state --------------------------------------------------------------------------

    def screenshot(self, x: float, y: float, width: float, height: float) -> bytes:
        """Cut from a screenshot of the window: WebKitGTK's element screenshots come back black.
        The page itself crops it (a canvas), so no image library is needed here."""
        window = self.driver.get_screenshot_as_base64()
        cropped = self.driver.execute_script(CROP, window, x, y, width, height)
        return base64.b64decode(cropped)


    def cookies(self) -> list[Cookie]:
        """The cookies of the current top-level document's origin: all classic WebDriver shows."""
        return [Cookie(c["name"], c.get("domain", ""), False) for c in self.driver.get_cookies()]

    def console(self) -> list[ConsoleEntry]:
        self._harvest()
        return list(self.entries)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(WebDriverException, OSError):
            self.driver.quit()
        _kill_group(self.proc, grace=5)
