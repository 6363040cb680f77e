"""Chromium (Debian's chromium) through Playwright, as the rest of tests/browser drives it.

Each reader is a browser of its own with a fresh profile, launched from the package's shared
Playwright. Console: Playwright's ``console`` events (console calls and the
browser's own log entries, from the page and its frames) plus ``pageerror``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .base import ConsoleEntry, Cookie, Engine, Reader

TIMEOUT_MS = 15_000
LEVELS = {"error": "error", "warning": "warning"}


class ChromiumEngine(Engine):
    """Readers are fresh persistent profiles (a regular browser window), not Playwright's
    off-the-record contexts (an incognito window). ``blocked`` and ``allowed`` set the
    profile's own third-party cookie preference (``profile.cookie_controls_mode``: 1 blocks,
    0 allows); ``default`` leaves a fresh profile as it comes."""

    name = "chromium"

    def __init__(self, browser_type: Any, executable: str, args: list[str]) -> None:
        self.browser_type = browser_type
        self.executable = executable
        self.args = args
        self.readers: list[ChromiumReader] = []

    def reader(self, *, cookies: str = "default") -> Reader:
        profile = Path(tempfile.mkdtemp(prefix="feedbackwidget-chromium-"))
        if cookies != "default":
            (profile / "Default").mkdir()
            mode = {"blocked": 1, "allowed": 0}[cookies]
            (profile / "Default" / "Preferences").write_text(json.dumps({"profile": {"cookie_controls_mode": mode}}))
        self.starts += 1
        context = self.browser_type.launch_persistent_context(
            profile, executable_path=self.executable, args=self.args, timeout=60_000
        )
        self.version = context.browser.version if context.browser else self.version
        reader = ChromiumReader(context, profile)
        self.readers.append(reader)
        return reader

    def close(self) -> None:
        for reader in self.readers:
            reader.close()
        self.readers.clear()


class ChromiumReader(Reader):
    engine = "chromium"

    def __init__(self, context: Any, profile: Path) -> None:
        self.context = context
        self.profile = profile
        self.closed = False
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page = self.context.pages[0] if self.context.pages else self.context.new_page()
        self.entries: list[ConsoleEntry] = []
        self.page.on(
            "console",
            lambda m: self.entries.append(ConsoleEntry(LEVELS.get(m.type, "info"), m.text, m.location.get("url", ""))),
        )
        self.page.on("pageerror", lambda e: self.entries.append(ConsoleEntry("error", str(e))))

    def _frame(self, prefix: str | None) -> Any:
        if prefix is None:
            return self.page.main_frame
        for frame in self.page.frames:
            if frame.url.startswith(prefix):
                return frame
        raise LookupError(f"no frame at {prefix} (frames: {[f.url for f in self.page.frames]})")

    def goto(self, url: str) -> None:
        self.page.goto(url, wait_until="load")

    def reload(self) -> None:
        self.page.reload(wait_until="load")

    def evaluate(self, function: str, *args: Any, frame: str | None = None) -> Any:
        return self._frame(frame).evaluate(f"args => ({function})(...args)", list(args))

    def click_at(self, x: float, y: float) -> None:
        self.page.mouse.click(x, y)

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)

    def screenshot(self, x: float, y: float, width: float, height: float) -> bytes:
        shot: bytes = self.page.screenshot(clip={"x": x, "y": y, "width": width, "height": height})
        return shot

    def cookies(self) -> list[Cookie]:
        return [Cookie(c["name"], c["domain"], bool(c.get("partitionKey"))) for c in self.context.cookies()]

    def console(self) -> list[ConsoleEntry]:
        return list(self.entries)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.context.close()
            shutil.rmtree(self.profile, ignore_errors=True)
