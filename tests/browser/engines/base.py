"""The one driver interface the cross-engine suite speaks, whatever drives the browser.

Playwright drives Chromium, puppeteer-core drives Firefox over WebDriver BiDi and Selenium
drives WebKitGTK over classic WebDriver; each offers far more than this, and each names it
differently. The suite needs only a handful of verbs, all defined here by what they must do,
so that a scenario reads the same in every engine and an engine's quirk lives in one file.

Coordinates are CSS pixels in the top-level viewport; a ``frame`` argument is the URL prefix
of a child frame (the widget's cross-site ``/embed`` iframe), ``None`` for the page itself.
Every call is bounded in time: a browser that stops answering raises, it never hangs a run.
"""

from __future__ import annotations

import os
import shutil
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENGINES = ("chromium", "firefox", "webkit")

#: Third-party cookie settings a reader's browser can be started with: the engine's own
#: default for a fresh profile, the reader's "block third-party cookies" choice (in WebKit:
#: tracking prevention, as Safari ships it), and "allow all cookies".
COOKIE_MODES = ("default", "blocked", "allowed")


class EngineUnavailable(RuntimeError):
    """The engine (or a tool it needs) is not installed here; the message names what is missing."""


class EngineTimeout(RuntimeError):
    """A browser did not answer within the bound; its processes have been stopped."""


@dataclass(frozen=True, slots=True)
class ConsoleEntry:
    """One console message or uncaught error. ``level``: ``error``, ``warning`` or ``info``;
    ``url``: the document or script it came from, when the engine says."""

    level: str
    text: str
    url: str = ""

    def __str__(self) -> str:
        return f"{self.level}: {self.text}" + (f" ({self.url})" if self.url else "")


@dataclass(frozen=True, slots=True)
class Cookie:
    """A cookie as the browser's jar reports it; ``partitioned`` when it is kept per top-level site."""

    name: str
    domain: str
    partitioned: bool


class Reader(ABC):
    """One reader: a fresh browser profile (cookies, storage) with one tab."""

    engine: str

    @abstractmethod
    def goto(self, url: str) -> None:
        """Navigate the tab and return after the page's ``load`` event."""

    @abstractmethod
    def reload(self) -> None:
        """Reload the tab and return after the ``load`` event."""

    @abstractmethod
    def evaluate(self, function: str, *args: Any, frame: str | None = None) -> Any:
        """Call the JavaScript function source ``function`` with JSON ``args`` in the page (or
        in the child frame whose URL starts with ``frame``) and return its JSON result."""

    @abstractmethod
    def click_at(self, x: float, y: float) -> None:
        """A real (trusted) primary-button click at viewport point (x, y)."""

    @abstractmethod
    def press(self, key: str) -> None:
        """A real key press to the focused element: ``Tab``, ``Shift+Tab``, ``Enter`` or ``Space``."""

    @abstractmethod
    def screenshot(self, x: float, y: float, width: float, height: float) -> bytes:
        """A PNG of that rectangle of the viewport, as the reader sees it."""

    @abstractmethod
    def cookies(self) -> list[Cookie]:
        """The cookies the browser holds for the pages open in this reader, as far as the
        engine's automation protocol can see them (see each engine's module)."""

    @abstractmethod
    def console(self) -> list[ConsoleEntry]:
        """Every console message of level warning or error and every uncaught error so far,
        from the page and its frames (within what the engine exposes; see its module)."""

    @abstractmethod
    def close(self) -> None:
        """Close the tab and forget the profile."""


class Engine(ABC):
    """One installed browser engine; launches what it needs lazily and stops all of it on close."""

    name: str
    version: str = ""
    #: Browser (or session) starts so far, and how many of them had to be abandoned and retried.
    starts: int = 0
    start_retries: int = 0

    @abstractmethod
    def reader(self, *, cookies: str = "default") -> Reader:
        """A new reader whose browser runs with third-party cookie mode ``cookies`` (COOKIE_MODES)."""

    @abstractmethod
    def close(self) -> None:
        """Stop every process this engine started."""


def find_executable(variable: str, *candidates: str) -> str:
    """The program named by environment ``variable``, else the first candidate found (a name
    on PATH or an absolute path, globs allowed); raises EngineUnavailable naming them all."""
    named = os.environ.get(variable)
    if named:
        if Path(named).exists():
            return named
        raise EngineUnavailable(f"{variable}={named} does not exist")
    for candidate in candidates:
        if candidate.startswith("/"):
            matches = sorted(Path("/").glob(candidate[1:]))
            if matches:
                return str(matches[-1])
        elif found := shutil.which(candidate):
            return found
    raise EngineUnavailable(f"none of {', '.join(candidates)} found (or set {variable})")
