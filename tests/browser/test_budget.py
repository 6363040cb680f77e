"""What a first-time reader pays: bytes, requests, preflights, cookies, captcha traffic."""

from __future__ import annotations

import gzip
import json
import subprocess
import urllib.request
from collections.abc import Callable
from email.message import Message
from pathlib import Path

import pytest
from playwright.sync_api import expect

from feedbackwidget import i18n
from feedbackwidget.sites import Site
from tests.browser.harness import ROOT, Reader, Stack, article_id, widget_of

#: What a first-time reader downloads before pressing anything, gzipped: widget.js (script,
#: stylesheet, markup) plus their language's strings from the tally answer (docs/widget.md).
BUDGET = 3072
#: The same on a server given sites, whose widget.js is the build that says its site on every
#: request and event (widget-sites.js, ~70 bytes more): a server with one site never sends it.
SITES_BUDGET = 3200


def fetch(url: str, *, gzip_ok: bool = True) -> tuple[bytes, Message]:
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"} if gzip_ok else {})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.read(), answer.headers


@pytest.mark.parametrize("sites", [False, True], ids=["one-site", "sites"])
def test_first_view_fits_in_3_kib_gzipped_in_every_language(
    make_stack: Callable[..., Stack], sites: bool
) -> None:
    stack = make_stack(sites=[Site("north", ["https://north.example"])] if sites else None)
    script, headers = fetch(stack.widget_url + "/widget.js")
    assert (b"site" in gzip.decompress(script)) is sites  # each server sends its own build
    assert headers["Content-Encoding"] == "gzip"
    source = gzip.decompress(script)
    assert b"__FEEDBACKWIDGET_CONFIG__" not in source
    sizes, later = {}, {}
    for lang in i18n.languages():
        body, _ = fetch(f"{stack.widget_url}/api/v1/articles/{article_id()}?lang={lang}", gzip_ok=False)
        strings = json.dumps(json.loads(body)["messages"], ensure_ascii=False, separators=(",", ":"))
        sizes[lang] = len(script) + len(gzip.compress(strings.encode(), 9))
        # Everything else in the tally answer is the sentiment itself, not the widget's weight.
        module, _ = fetch(f"{stack.widget_url}/widget-actions.js?lang={lang}")
        later[lang] = len(module)
    print(f"widget.js gzipped: {len(script)} bytes; with the reader's strings: {sizes}; "
          f"actions module on the first press: {later}")
    assert max(sizes.values()) <= (SITES_BUDGET if sites else BUDGET), sizes
    other = i18n.catalogue()["ka"]
    assert other["question"].encode() not in source  # no foreign language shipped
    assert stack.fake.sitekey.encode() not in source  # the captcha's settings come with the actions module


def test_first_time_reader_costs_one_request_no_preflight_no_cookie(stack: Stack, reader: Reader) -> None:
    aid = article_id()
    page = reader.page()
    page.goto(stack.article(aid))
    expect(widget_of(page, aid).locator(".fw-t")).to_have_text("Yes: 0 · No: 0")
    calls = stack.requests()
    assert calls == [("GET", "/widget.js", ""), ("GET", f"/api/v1/articles/{aid}", "lang=en")], calls
    assert reader.context.cookies() == []
    assert not [u for u in reader.seen if u.startswith(stack.fake.origin)], "captcha host contacted before interaction"


def test_tally_answer_is_public_and_cacheable(stack: Stack) -> None:
    request = urllib.request.Request(
        f"{stack.widget_url}/api/v1/articles/{article_id()}?lang=ru", headers={"Origin": stack.publisher.origin}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert "public" in answer.headers["Cache-Control"]
        assert answer.headers["Access-Control-Allow-Origin"] == "*"
        assert "Set-Cookie" not in answer.headers


def test_returning_reader_costs_one_request_too(stack: Stack, reader: Reader) -> None:
    first, second = article_id(), article_id()
    page = reader.page()
    page.goto(stack.article(first))
    widget_of(page, first).get_by_role("button", name="Yes", exact=True).click()
    expect(widget_of(page, first).locator(".fw-t")).to_have_text("Yes: 1 · No: 0")
    stack.recorder.log.clear()
    page.goto(stack.article(second))
    expect(widget_of(page, second).locator(".fw-t")).to_have_text("Yes: 0 · No: 0")
    calls = [c[:2] for c in stack.requests() if c[1] != "/widget.js"]  # the script may come from cache
    assert calls == [("POST", "/api/v1/sentiment")], calls


def test_captcha_script_loads_once_on_first_interaction(stack: Stack, reader: Reader) -> None:
    a, b = article_id(), article_id()
    page = reader.page()
    page.goto(stack.article(a, b))
    expect(widget_of(page, b).locator(".fw-t")).to_have_text("Yes: 0 · No: 0")
    assert not [u for u in reader.seen if u.startswith(stack.fake.origin)]
    widget_of(page, a).get_by_role("button", name="Yes", exact=True).click()
    expect(widget_of(page, a).locator(".fw-t")).to_have_text("Yes: 1 · No: 0")
    widget_of(page, b).get_by_role("button", name="No", exact=True).click()
    expect(widget_of(page, b).locator(".fw-t")).to_have_text("Yes: 0 · No: 1")
    scripts = [u for u in reader.seen if u.startswith(stack.fake.origin + "/1/api.js")]
    assert len(scripts) == 1, scripts
    assert "render=explicit" in scripts[0] and "onload=" in scripts[0]


def test_built_scripts_match_their_sources(tmp_path: Path) -> None:
    """static/*.js are the static/build/ builds of static/src/, not stale copies."""
    build = ROOT / "static" / "build"
    if not (build / "node_modules" / "terser").exists():
        pytest.fail("terser is missing: run `npm ci` in static/build")
    subprocess.run(["node", "build.mjs", "--out", str(tmp_path)], cwd=build, check=True, timeout=120,
                   capture_output=True)
    built = sorted(p.name for p in tmp_path.iterdir())
    assert built == ["embed.js", "widget-actions.js", "widget-reasons.js", "widget-sites.js", "widget.js"], built
    for name in built:
        assert (tmp_path / name).read_text() == (ROOT / "static" / name).read_text(), (
            f"static/{name} is stale: run `npm run build` in static/build"
        )


def test_actions_module_loads_once_on_the_first_press_in_the_readers_language(stack: Stack, reader: Reader) -> None:
    a, b = article_id(), article_id()
    page = reader.page()
    page.goto(stack.article(a, b, lang="ru"))
    expect(widget_of(page, b).locator(".fw-t")).to_have_text("Да: 0 · Нет: 0")
    assert not [c for c in stack.requests() if c[1] == "/widget-actions.js"]
    widget_of(page, a).get_by_role("button", name="Да", exact=True).click()
    expect(widget_of(page, a).locator(".fw-t")).to_have_text("Да: 1 · Нет: 0")
    widget_of(page, b).get_by_role("button", name="Нет", exact=True).click()
    expect(widget_of(page, b).get_by_role("status")).to_contain_text("Спасибо за ваш голос!")
    modules = [c for c in stack.requests() if c[1] == "/widget-actions.js"]
    assert modules == [("GET", "/widget-actions.js", "lang=ru")], modules


def test_widget_height_is_fixed(stack: Stack, reader: Reader) -> None:
    aid = article_id()
    page = reader.page()
    page.goto(stack.article(aid))
    w = widget_of(page, aid)
    expect(w.locator(".fw-t")).to_have_text("Yes: 0 · No: 0")
    assert w.evaluate("e => e.getBoundingClientRect().height") == 136
