"""Property-based browser tests of the binding rules (docs/widget.md, "Binding"): random
interleavings of navigation (attribute changes), language changes, votes, withdrawals,
retries and the server's answers, which arrive in any order and may fail (a captcha token
the loopback stand-in answers too slowly or with HTTP 500, or the network dropping the
request).

Every answer is held in the browser until the test lets it go (tests/browser/holding.py), so
the order is the one Hypothesis chose, and the test keeps a model: what the server holds (the
reader's vote per article) and what each element's current binding should show. After every
step the widget must show exactly what the model says, and at the end the server's tallies
must be the model's: every acknowledged vote counted once on the article it was cast on,
nothing on articles the reader never voted on; the events must be one per outcome.

Examples and length: FEEDBACKWIDGET_BINDING_EXAMPLES (default 15) and
FEEDBACKWIDGET_BINDING_STEPS (default 24).
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from feedbackwidget import i18n
from tests.browser.harness import Reader, Stack
from tests.browser.holding import COUNTING_HOOK, EVENTS_HOOK, Held, Holder, events, navigate, shown, spa_page

EXAMPLES = int(os.environ.get("FEEDBACKWIDGET_BINDING_EXAMPLES", "15"))
STEPS = int(os.environ.get("FEEDBACKWIDGET_BINDING_STEPS", "24"))
ELEMENTS = ("w1", "w2")
ARTICLES = 3
WAIT = 15.0

navigation = st.tuples(st.just("navigate"), st.sampled_from(ELEMENTS), st.integers(0, ARTICLES - 1))
language = st.tuples(st.just("language"), st.sampled_from(ELEMENTS), st.sampled_from(["en", "ru"]))
press = st.tuples(st.just("press"), st.sampled_from(ELEMENTS), st.sampled_from(["up", "down", "action"]))
answer = st.tuples(st.just("answer"), st.integers(0, 5), st.sampled_from(["ok", "ok", "slow", "e500", "abort"]))
# Presses and answers are what build up operations in flight: drawn three times as often.
steps = st.lists(st.one_of(navigation, language, press, press, press, answer, answer, answer),
                 min_size=8, max_size=STEPS)
starts = st.tuples(st.integers(0, ARTICLES - 1), st.integers(0, ARTICLES - 1))


@dataclass
class Op:
    """A vote or withdrawal the reader started on one binding."""

    kind: str
    article: str
    value: str | None
    binding: int
    outcome: str = "pending"  # then ok, withdrawn (404: it was already gone), unavailable, network
    sent: bool = False


@dataclass
class Binding:
    number: int
    article: str
    lang: str
    last: Op | None = None
    shown: bool = False  # its article's tally has been shown (also by the binding before, same article)


@dataclass
class Model:
    """What the server holds and what each element should show."""

    articles: list[str]
    truth: dict[str, str | None] = field(default_factory=dict)  # the reader's vote, per article
    known: set[str] = field(default_factory=set)  # articles the page has heard about
    bundles: set[str] = field(default_factory=set)  # languages whose strings the page has
    bindings: dict[str, Binding] = field(default_factory=dict)
    ops: list[Op] = field(default_factory=list)
    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    shown: dict[str, list[str]] = field(default_factory=dict)  # element -> articles, one per "shown"
    votes: int = 0  # votes started (each solves one captcha)
    counter: int = 0

    def bind(self, element: str, article: str, lang: str) -> None:
        old = self.bindings.get(element)
        if old and (old.article, old.lang) == (article, lang):
            return
        self.counter += 1
        self.bindings[element] = Binding(self.counter, article, lang, shown=bool(old and old.article == article
                                                                               and old.shown))

    def mine(self, article: str) -> str | None:
        return self.truth.get(article) if article in self.known else None

    def expected(self, element: str) -> dict[str, Any]:
        b = self.bindings[element]
        m = i18n.messages(b.lang)
        mine, bundle, last = self.mine(b.article), b.lang in self.bundles, b.last
        up, down = int(self.truth.get(b.article) == "up"), int(self.truth.get(b.article) == "down")
        tally = m["tally"].replace("{up}", str(up)).replace("{down}", str(down)) if b.article in self.known and bundle else ""
        failed = last is not None and last.outcome in ("unavailable", "network")
        status = ""
        if last is not None and last.outcome != "pending":
            key = {"ok": "thanks" if last.kind == "vote" else "withdrawn", "withdrawn": "withdrawn"}.get(
                last.outcome, last.outcome
            )
            status = m[key] + (" " + tally if key in ("thanks", "withdrawn") else "")
        action = m["retry"] if failed else m["withdraw"] if mine and bundle else None
        return {
            "article": b.article, "busy": last is not None and last.outcome == "pending",
            "pressed": ["true" if mine == "up" else "false", "true" if mine == "down" else "false"],
            "tally": tally, "status": status, "action": action,
        }

    def press(self, element: str, what: str) -> str:
        """What a press does: "hidden" (nothing to press), "ignored", or "started"."""
        b = self.bindings[element]
        if b.lang not in self.bundles:
            return "hidden"  # the widget waits for its strings: its buttons are not shown yet
        last, mine = b.last, self.mine(b.article)
        busy = last is not None and last.outcome == "pending"
        failed = last is not None and last.outcome in ("unavailable", "network")
        if what == "action":
            if not failed and not mine:
                return "hidden"
            if busy:
                return "ignored"
            kind, value = (last.kind, last.value) if failed and last else ("withdraw", None)
        else:
            if busy or (what == mine and not failed):
                return "ignored"
            kind, value = "vote", what
        if kind == "vote" and any(not o.sent and o.outcome == "pending" and (o.kind, o.article, o.value) ==
                                  (kind, b.article, value) for o in self.ops):
            return "twin"  # the same vote already on its way from another element: told apart by nothing
        op = Op(kind, b.article, value, b.number)
        b.last = op
        self.ops.append(op)
        self.votes += kind == "vote"
        return "started"

    def sent(self, held: Held) -> Op:
        """The operation a write request belongs to; fails if the reader never asked for it."""
        for op in self.ops:
            if op.outcome == "pending" and not op.sent and op.kind == held.kind and op.article == held.article and (
                op.kind == "withdraw" or op.value == held.body.get("vote")
            ):
                op.sent = True
                return op
        raise AssertionError(f"a {held.kind} on {held.article} {held.body} that the reader never asked for")

    def answered(self, op: Op, status: int) -> None:
        before = self.mine(op.article)
        if status == 200:
            op.outcome = "ok"
            self.truth[op.article] = op.value
            if op.kind == "vote":
                changed = before is not None and before != op.value
                self.events.append(("vote", op.article, {"vote": op.value, "changed": changed}))
            else:
                self.events.append(("withdraw", op.article, {"vote": before}))
        elif status == 404:
            op.outcome = "withdrawn"
            self.truth[op.article] = None
        else:
            op.outcome = "unavailable" if status == 503 else "network"
            self.events.append(("error", op.article, {"error": op.outcome, "action": op.kind, "vote": op.value}))
            return  # the page learnt nothing about the article
        self.known.add(op.article)


class Run:
    """One example: a reader, a page with two widgets, and the model beside them."""

    def __init__(self, site: Stack, reader: Reader, start: tuple[int, int]) -> None:
        self.site = site
        tag = secrets.token_hex(4)
        self.model = Model([f"spa-{tag}-{n}" for n in range(ARTICLES)])
        self.page = reader.page()
        self.holder = Holder(self.page, site.widget_url)
        self.element_of: dict[int, str] = {}
        widgets = [(e, self.model.articles[i], "") for e, i in zip(ELEMENTS, start, strict=True)]
        for element, article, _ in widgets:
            self.model.bind(element, article, "en")
            self.element_of[self.model.bindings[element].number] = element
        self.page.goto(spa_page(site, widgets))
        self.quiet()
        while self.holder.held:  # the first view, as the reader sees it before doing anything
            self.answer(0, "ok")
            self.quiet()
            self.check()

    # -- the reader and the site --------------------------------------------------------

    def navigate(self, element: str, index: int) -> None:
        article = self.model.articles[index]
        navigate(self.page, element, article)
        self.model.bind(element, article, self.model.bindings[element].lang)
        self.element_of[self.model.bindings[element].number] = element

    def language(self, element: str, lang: str) -> None:
        script = "el.removeAttribute('lang')" if lang == "en" else f"el.lang = '{lang}'"
        self.page.evaluate(f"(() => {{ const el = document.getElementById('{element}'); {script}; }})()")
        self.model.bind(element, self.model.bindings[element].article, lang)
        self.element_of[self.model.bindings[element].number] = element

    def press(self, element: str, what: str) -> None:
        effect = self.model.press(element, what)
        if effect in ("hidden", "twin"):
            return
        widget = self.page.locator(f"#{element}")
        target = widget.locator(".fw-a") if what == "action" else widget.locator(f".fw-b[value={what}]")
        target.click(timeout=3000)  # the model said it is there: it must be
        if effect == "started":  # the actions module has taken it: the widget says it is busy
            self.page.wait_for_function(
                f"document.getElementById('{element}').shadowRoot.querySelector('.fw')"
                ".getAttribute('aria-busy') === 'true'", timeout=WAIT * 1000)

    # -- the server's answers ------------------------------------------------------------

    def answer(self, index: int, outcome: str) -> None:
        self.quiet()
        self.catch_up()
        if not self.holder.held:
            return
        # in an order of their own, not of their arrival (which two requests in flight at once may swap)
        waiting = sorted(self.holder.held, key=lambda h: (h.kind, h.article, h.method, h.route.request.url,
                                                          str(h.body.get("vote"))))
        held = waiting[index % len(waiting)]
        # Once the page has read the answer, what the widget does with it has happened: the
        # rest runs in the same round of promise reactions. A dropped request has no answer:
        # its failure is reported with an event instead.
        read, count = self.page.evaluate("[window.__fwRead, window.__fwEvents.length]")
        if held.kind == "read":
            assert self.holder.release(held) == 200
            self.model.known.add(held.article)
            self.model.bundles.add(held.body.get("lang") or self._lang_of(held))
        else:
            if held.kind == "withdraw" and outcome in ("slow", "e500"):
                outcome = "ok"  # no captcha in a withdrawal
            status = self.holder.release(held, outcome)
            self.model.answered(held.op, status)
            if status == 0:
                self.page.wait_for_function(f"window.__fwEvents.length > {count}", timeout=WAIT * 1000)
                return
        self.page.wait_for_function(f"window.__fwRead > {read}", timeout=WAIT * 1000)

    @staticmethod
    def _lang_of(held: Held) -> str:
        url: str = held.route.request.url
        return url.split("lang=", 1)[1].split("&", 1)[0] if "lang=" in url else "en"

    def quiet(self) -> None:
        """Until the page does nothing but wait for held answers: every vote started has its
        captcha token (so it has sent its request, or queued it behind a held one), and every
        request it sent has reached the route."""
        self.page.wait_for_function(f"window.__fwTokens >= {self.model.votes}", timeout=WAIT * 1000)
        deadline = time.monotonic() + WAIT
        while self.page.evaluate("window.__fwFetches") != self.holder.seen:
            assert time.monotonic() < deadline, "a request never reached the route"
            self.page.wait_for_timeout(10)

    def catch_up(self) -> None:
        """Map every write request that arrived to the operation it belongs to."""
        for held in self.holder.held:
            if held.kind != "read" and held.op is None:
                held.op = self.model.sent(held)

    # -- checks ----------------------------------------------------------------------------

    def check(self) -> None:
        """The widget shows what the model says, on every element; an element that shows an
        article's tally for the first time since it came to that article says so once."""
        for element, state in zip(ELEMENTS, shown(self.page, *ELEMENTS), strict=True):
            got = {k: state[k] for k in ("article", "busy", "pressed", "tally", "status", "action")}
            expected = self.model.expected(element)
            assert got == expected, (element, got, expected)
            binding = self.model.bindings[element]
            if expected["tally"] and not binding.shown:
                binding.shown = True
                self.model.shown.setdefault(element, []).append(binding.article)

    def settle(self) -> None:
        """Let every answer go until nothing is in flight, then check everything."""
        deadline = time.monotonic() + 4 * WAIT
        while True:
            assert time.monotonic() < deadline, "the page never settled"
            self.quiet()
            self.catch_up()
            if self.holder.held:
                self.answer(0, "ok")
                continue
            break
        assert [o for o in self.model.ops if o.outcome == "pending"] == []
        self.check()
        for article in self.model.articles:
            vote = self.model.truth.get(article)
            assert self.site.tally(article) == (int(vote == "up"), int(vote == "down")), article
        seen = events(self.page)
        got = [(e["type"], e["detail"]["article_id"], {k: v for k, v in e["detail"].items() if k != "article_id"})
               for e in seen if e["type"] != "shown"]
        assert got == [(kind, article, detail) for kind, article, detail in self.model.events]
        by_element: dict[str, list[str]] = {}
        for fired in seen:
            if fired["type"] == "shown":
                by_element.setdefault(fired["element"], []).append(fired["detail"]["article_id"])
        assert by_element == self.model.shown


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(start=starts, plan=steps)
def test_random_interleavings_keep_every_vote_with_its_article(
    make_stack: Callable[..., Stack], browser: Any, start: tuple[int, int], plan: list[tuple[Any, ...]]
) -> None:
    site = make_stack(hcaptcha_timeout=0.3)
    reader = Reader(browser)
    reader.context.add_init_script(EVENTS_HOOK + COUNTING_HOOK)
    try:
        run = Run(site, reader, start)
        for step in plan:
            getattr(run, step[0])(*step[1:])
            run.quiet()
            run.catch_up()
            run.check()
        run.settle()
        assert reader.errors == []
        ops = run.model.ops
        event(f"steps: {len(plan) // 8 * 8}-{len(plan) // 8 * 8 + 7}")
        event(f"writes: {len(ops) // 4 * 4}-{len(ops) // 4 * 4 + 3}")
        event(f"failed writes: {min(3, sum(o.outcome in ('unavailable', 'network') for o in ops))}+")
        event(f"acknowledged on a binding the element had left: "
              f"{any(o.outcome == 'ok' and o.binding != run.model.bindings[run.element_of[o.binding]].number for o in ops)}")
    finally:
        reader.close()
