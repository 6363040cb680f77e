"""Chromium (Debian's chromium) through Playwright, as the rest of tests/browser drives it.

One browser per cookie mode, launched from the package's shared Playwright; readers are
Playwright browser contexts. Console: Playwright's ``console`` events (console calls and the
browser's own log entries, from the page and its frames) plus ``pageerror``.
"""

from __future__ import annotations

from typing import Any

from .base import ConsoleEntry, Cookie, Engine, Reader

TIMEOUT_MS = 15_000
LEVELS = {"error": "error", "warning": "warning"}


#: Chrome's "Block third-party cookies" (what the third-party-cookie phase-out would have made
#: the default): unpartitioned cookies in a cross-site context are neither sent nor stored.
BLOCK_THIRD_PARTY = "--test-third-party-cookie-phaseout"


class ChromiumEngine(Engine):
    """``shared`` is the harness's own Chromium (default cookie settings), launched with
    ``args``; another is launched from the same Playwright for the ``blocked`` mode."""

    name = "chromium"

    def __init__(self, shared: Any, executable: str, args: list[str]) -> None:
        self.shared = shared
        self.executable = executable
        self.args = args
        self.browsers: dict[str, Any] = {"default": shared}
        self.version = shared.version

    def reader(self, *, cookies: str = "default") -> Reader:
        browser = self.browsers.get(cookies)
        if browser is None:
            browser = self.shared.browser_type.launch(
                executable_path=self.executable, args=[*self.args, BLOCK_THIRD_PARTY], timeout=60_000
            )
            self.browsers[cookies] = browser
        return ChromiumReader(browser)

    def close(self) -> None:
        for browser in self.browsers.values():
            if browser is not self.shared:
                browser.close()
        self.browsers.clear()


class ChromiumReader(Reader):
    engine = "chromium"

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context()
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page = self.context.new_page()
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

    def cookies(self) -> list[Cookie]:
        return [Cookie(c["name"], c["domain"], bool(c.get("partitionKey"))) for c in self.context.cookies()]

    def console(self) -> list[ConsoleEntry]:
        return list(self.entries)

    def close(self) -> None:
        self.context.close()
