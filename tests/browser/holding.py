"""Helpers for the binding and event tests: the widget server's answers held in the browser
until a test lets them go, and the widget's DOM events as the page saw them.

Holding a request (Playwright's ``page.route``) lets a test put "the reader navigates" at an
exact point inside "a vote is on its way", without sleeping and without touching the widget:
the request reaches the real server only when released, and a release may swap the captcha
token for one that the loopback stand-in fails (``SLOW-`` past HCAPTCHA_TIMEOUT, ``E500-``).
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

#: Collects every feedbackwidget:* event that bubbles to the document, with the id of the
#: element it was dispatched on.
EVENTS_HOOK = """
window.__fwEvents = [];
for (const name of ['shown', 'vote', 'withdraw', 'error']) {
  document.addEventListener('feedbackwidget:' + name, (e) => window.__fwEvents.push(
    {type: name, element: e.target.id, detail: e.detail, bubbles: e.bubbles, composed: e.composed}));
}
"""

#: Counts, in the page, the widget's calls to its API, the answers it has read and the captcha
#: tokens it received: a test that lets an answer go waits for the page to have read it
#: before looking at the widget, and one that started a vote waits for its captcha.
COUNTING_HOOK = """
window.__fwFetches = 0;
window.__fwRead = 0;
window.__fwTokens = 0;  // captcha tokens the page has received (the stand-in's POST /mint)
const fetchFirst = window.fetch;
window.fetch = function (input, init) {
  if (String(input).includes('/api/v1/')) window.__fwFetches++;
  return fetchFirst.call(this, input, init);
};
const jsonFirst = Response.prototype.json;
Response.prototype.json = function () {
  const api = this.url.includes('/api/v1/'), mint = this.url.endsWith('/mint');
  return jsonFirst.call(this).finally(() => { if (api) window.__fwRead++; if (mint) window.__fwTokens++; });
};
"""

#: The widget's state as a reader sees it, per element id.
SHOWN = """ids => ids.map(id => {
  const el = document.getElementById(id), root = el.shadowRoot;
  const box = root.querySelector('.fw'), buttons = [...root.querySelectorAll('.fw-b')];
  const action = root.querySelector('.fw-a');
  return {
    article: el.getAttribute('data-feedback-article'),
    lang: box.lang, dir: box.dir, busy: box.getAttribute('aria-busy') === 'true',
    question: root.querySelector('.fw-q').textContent,
    yes: buttons[0].textContent, no: buttons[1].textContent,
    pressed: buttons.map(b => b.getAttribute('aria-pressed')),
    tally: root.querySelector('.fw-t').textContent,
    status: root.querySelector('.fw-m').textContent,
    action: action.hidden ? null : action.textContent,
  };
})"""


@dataclass
class Held:
    """One request to the widget server, stopped in the browser."""

    route: Any
    op: Any = None  # what a test knows it belongs to

    @property
    def method(self) -> str:
        return str(self.route.request.method)

    @property
    def path(self) -> str:
        url: str = self.route.request.url
        return url.split("://", 1)[1].split("/", 1)[1].split("?", 1)[0]

    @property
    def body(self) -> dict[str, Any]:
        data = self.route.request.post_data
        return json.loads(data) if data else {}

    @property
    def kind(self) -> str:
        """vote, withdraw or read."""
        if self.method == "POST" and self.path.endswith("api/v1/votes"):
            return "vote"
        return "withdraw" if self.method == "DELETE" else "read"

    @property
    def article(self) -> str:
        if self.kind == "read" and self.method == "GET":
            return unquote(self.path.split("api/v1/articles/", 1)[1])
        if self.kind == "withdraw":
            return unquote(self.path.split("api/v1/votes/", 1)[1])
        return str(self.body["article_id"])


class Holder:
    """Holds the page's requests to the widget's API (reads too, if asked) until released."""

    def __init__(self, page: Any, widget_url: str, *, reads: bool = True, writes: bool = True) -> None:
        self.page = page
        self.held: list[Held] = []
        self.reads, self.writes = reads, writes
        self.seen = 0  # requests to the API that reached the route, held or not
        page.route(f"{widget_url}/api/v1/**", self._route)

    def _route(self, route: Any) -> None:
        held = Held(route)
        wanted = self.reads if held.kind == "read" else self.writes
        if route.request.method == "OPTIONS":
            route.fallback()
            return
        self.seen += 1
        if wanted:
            self.held.append(held)
        else:
            route.fallback()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Held]:
        """Until at least ``count`` requests are held (the route handler runs while Playwright
        waits, so this lets the page run in between)."""
        deadline = time.monotonic() + timeout
        while len(self.held) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} held requests, have {[(h.kind, h.article) for h in self.held]}")
            self.page.wait_for_timeout(10)
        return list(self.held)

    def take(self, kind: str, article: str | None = None, timeout: float = 10.0) -> Held:
        """The held request of this kind (and article), waiting for it to arrive if needed."""
        deadline = time.monotonic() + timeout
        while True:
            for held in self.held:
                if held.kind == kind and (article is None or held.article == article):
                    self.held.remove(held)
                    return held
            if time.monotonic() > deadline:
                raise AssertionError(f"no held {kind} for {article}: {[(h.kind, h.article) for h in self.held]}")
            self.page.wait_for_timeout(10)

    def release(self, held: Held, outcome: str = "ok") -> int:
        """Let it go and wait for its answer: ``ok`` as sent, ``slow``/``e500`` with a captcha
        token the stand-in fails (votes only), ``abort`` as a network failure. Returns the
        HTTP status (0 when aborted)."""
        if held in self.held:
            self.held.remove(held)
        request = held.route.request
        if outcome == "abort":
            with self.page.expect_event("requestfailed", lambda r: r == request):
                held.route.abort()
            return 0
        overrides: dict[str, Any] = {}
        if outcome in ("slow", "e500"):
            body = held.body
            body["captcha_token"] = f"{outcome.upper()}-{secrets.token_urlsafe(12)}"
            overrides["post_data"] = json.dumps(body)
        with self.page.expect_response(lambda r: r.request == request, timeout=30_000) as answer:
            held.route.continue_(**overrides)
        status: int = answer.value.status
        answer.value.finished()
        return status


def events(page: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate("window.__fwEvents")
    return found


def shown(page: Any, *ids: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate(SHOWN, list(ids))
    return found


def spa_page(stack: Any, widgets: list[tuple[str, str, str]], *, lang: str = "en", head: str = "") -> str:
    """URL of a single-page-app article: one element per (id, article id, extra attributes)."""
    elements = "".join(f'<div id="{wid}" data-feedback-article="{art}"{extra}></div>' for wid, art, extra in widgets)
    html = (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>News</title>{head}</head>'
        f'<body><main>{elements}</main><script src="{stack.widget_url}/widget.js" async></script></body></html>'
    )
    url: str = stack.publisher.add(html)
    return url


def navigate(page: Any, element: str, article: str) -> None:
    """What a single-page site does on navigation: the same element, another article."""
    page.evaluate("([id, a]) => document.getElementById(id).setAttribute('data-feedback-article', a)", [element, article])
