"""The widget as a reader sees it, in any engine: a snapshot of its state, clicks by role and name.

Playwright's locators would do this in Chromium only; here the same few lines of JavaScript
run in every engine. Roles and names follow the widget's own markup, not the full ARIA name
computation: a role is its native elements plus the explicit ``role=``, and a name is the
text of the ``aria-labelledby`` elements, else ``aria-label``, else the collapsed text. (The axe-core scan in test_a11y.py
checks the real accessibility tree in Chromium.) Hidden elements have no role.

A wait re-reads the snapshot whenever the widget's DOM changes (a MutationObserver inside the
page) or at the latest every 200 ms, until the condition holds or the bound passes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.browser.engines import Reader

TIMEOUT = 15.0

_PRELUDE = r"""
const ROLES = {button: 'button,[role=button]', link: 'a[href],[role=link]', status: '[role=status]',
               group: '[role=group],fieldset'};
const text = (e) => (e.textContent || '').replace(/\s+/g, ' ').trim();
const labelledBy = (e) => (e.getAttribute('aria-labelledby') || '').split(/\s+/).filter(Boolean)
  .map((id) => e.getRootNode().getElementById(id)).filter(Boolean).map(text).join(' ');
const label = (e) => (labelledBy(e) || e.getAttribute('aria-label') || text(e)).trim();
const shown = (e) => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden';
const widget = (article, nth) => {
  const all = [...document.querySelectorAll('[data-feedback-article]')]
    .filter((e) => article === null || e.getAttribute('data-feedback-article') === article);
  const el = all[nth];
  if (!el) return null;
  const host = el.shadowRoot ? el : [...el.children].find((c) => c.shadowRoot);
  return {el, root: host ? host.shadowRoot : el};
};
const named = (root, role, name) => [...root.querySelectorAll(ROLES[role])].filter((e) => shown(e) && label(e) === name);
const deepFocus = () => {
  let a = document.activeElement;
  while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
  return a;
};
"""

#: (article, nth, settle_ms) -> snapshot of one widget, after its DOM changed or settle_ms passed.
SNAPSHOT = (
    "async (article, nth, settle) => {"
    + _PRELUDE
    + r"""
  let w = widget(article, nth);
  if (settle > 0) {
    await new Promise((done) => {
      const seen = new MutationObserver(() => { seen.disconnect(); done(); });
      seen.observe(w ? w.root : document.documentElement,
                   {subtree: true, childList: true, attributes: true, characterData: true});
      setTimeout(() => { seen.disconnect(); done(); }, settle);
    });
    w = widget(article, nth);
  }
  if (!w) return null;
  const box = w.root.querySelector('.fw'), focus = deepFocus();
  const status = w.root.querySelector('[role=status]'), group = w.root.querySelector('[role=group]');
  const tally = w.root.querySelector('.fw-t');
  const style = focus ? getComputedStyle(focus) : null;
  return {
    shadow: w.root !== w.el,
    question: group ? label(group) : null,
    tally: tally ? text(tally) : null,
    status: status ? text(status) : null,
    buttons: Object.fromEntries([...w.root.querySelectorAll(ROLES.button)].filter(shown)
      .map((b) => [label(b), b.getAttribute('aria-pressed')])),
    links: Object.fromEntries([...w.root.querySelectorAll(ROLES.link)].filter(shown)
      .map((a) => [label(a), a.getAttribute('href')])),
    text: text(w.root.querySelector('.fw') || w.el),
    focused: focus && w.root.contains(focus) ? label(focus) : focus ? 'outside:' + focus.tagName.toLowerCase() : null,
    outline: style ? style.outlineStyle + ' ' + style.outlineWidth : null,
    height: box ? box.getBoundingClientRect().height : null,
    dir: box ? box.getAttribute('dir') : null,
  };
}"""
)

#: (article, nth, role, name) -> the centre of the one shown element with that role and name,
#: scrolled into view and not covered by anything, in the document's viewport; or {error}.
LOCATE = (
    "(article, nth, role, name) => {"
    + _PRELUDE
    + r"""
  const w = widget(article, nth);
  if (!w) return {error: 'no widget'};
  const found = named(w.root, role, name);
  if (found.length !== 1) return {error: found.length + ' ' + role + ' named ' + JSON.stringify(name)};
  const e = found[0];
  if (e.disabled) return {error: 'disabled'};
  e.scrollIntoView({block: 'center', inline: 'center'});
  const r = e.getBoundingClientRect(), x = r.left + r.width / 2, y = r.top + r.height / 2;
  let hit = document.elementFromPoint(x, y);
  while (hit && hit.shadowRoot) {
    const inner = hit.shadowRoot.elementFromPoint(x, y);
    if (!inner || inner === hit) break;
    hit = inner;
  }
  if (hit !== e && !e.contains(hit)) return {error: 'covered by ' + (hit ? hit.tagName : 'nothing')};
  return {x, y};
}"""
)

#: (url_prefix) -> the top-left of the content box of the iframe showing that URL.
FRAME_ORIGIN = r"""(prefix) => {
  const f = [...document.querySelectorAll('iframe')].find((f) => f.src.startsWith(prefix));
  if (!f) return null;
  const r = f.getBoundingClientRect(), s = getComputedStyle(f);
  return {x: r.left + f.clientLeft + parseFloat(s.paddingLeft), y: r.top + f.clientTop + parseFloat(s.paddingTop)};
}"""


@dataclass
class Widget:
    """One widget: ``article`` on the reader's page (``None``: the only one, as on /embed),
    the ``nth`` of that article's elements, inside the frame whose URL starts with ``frame``."""

    reader: Reader
    article: str | None
    frame: str | None = None
    nth: int = 0

    def state(self, settle_ms: int = 0) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.reader.evaluate(
            SNAPSHOT, self.article, self.nth, settle_ms, frame=self.frame
        )
        return found

    def wait(self, check: Callable[[dict[str, Any]], bool], what: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The first snapshot for which ``check`` holds; AssertionError naming ``what`` if none in time."""
        deadline = time.monotonic() + timeout
        state = self.state()
        while state is None or not check(state):
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.reader.engine}: timed out waiting for {what}; last state: {state}")
            state = self.state(settle_ms=200)
        return state

    def wait_tally(self, tally: str) -> dict[str, Any]:
        return self.wait(lambda s: s["tally"] == tally, f"tally {tally!r}")

    def click(self, name: str, role: str = "button", timeout: float = TIMEOUT) -> None:
        """A real click on the one shown element with this role and name (waits until there is one)."""
        deadline = time.monotonic() + timeout
        while True:
            point = self.reader.evaluate(LOCATE, self.article, self.nth, role, name, frame=self.frame)
            if "error" not in point:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.reader.engine}: cannot click {role} {name!r}: {point['error']}")
            self.state(settle_ms=200)
        x, y = point["x"], point["y"]
        if self.frame is not None:
            origin = self.reader.evaluate(FRAME_ORIGIN, self.frame)
            x, y = x + origin["x"], y + origin["y"]
        self.reader.click_at(x, y)


def wait_until(check: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    """Wait for something outside the page (what the servers recorded), re-checking every 20 ms."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        pause.wait(0.02)


#: (path) -> once the page has received the whole answer to a request for ``path`` (Resource
#: Timing) and run the tasks that were waiting on it: true; false after ``bound`` ms.
ANSWER_ARRIVED = r"""async (path, bound) => {
  const until = Date.now() + bound, tick = () => new Promise((r) => setTimeout(r, 0));
  const arrived = () => performance.getEntriesByType('resource')
    .some((e) => new URL(e.name).pathname === path && e.responseEnd > 0);
  while (!arrived()) { if (Date.now() > until) return false; await new Promise((r) => setTimeout(r, 10)); }
  for (let i = 0; i < 3; i++) { await tick(); await new Promise((r) => requestAnimationFrame(r)); }
  return true;
}"""
