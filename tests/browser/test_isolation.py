"""The widget against the page around it: hostile CSS, a strict CSP, dark mode, RTL, no jumps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect

from tests.browser.harness import Reader, Stack, article_id, widget_of

HOSTILE = """<style>
*{all:unset!important;font:40px/3 serif!important;color:#f0f!important;background:#0f0!important;
  letter-spacing:9px!important;text-transform:uppercase!important;direction:rtl!important}
button{display:none!important}
div{display:none!important;padding:60px!important;border:9px dashed red!important;height:10px!important}
:root{--fg:red;--bg:lime;--ac:yellow}
</style>"""


def _height(w: Any) -> float:
    value: float = w.evaluate("e => e.getBoundingClientRect().height")
    return value


def _strict_csp(stack: Stack) -> str:
    widget, captcha = stack.widget_url, stack.fake.origin
    return (
        f"default-src 'none'; script-src {widget} {captcha}; connect-src {widget} {captcha}; "
        f"frame-src {captcha}; style-src {captcha}; img-src 'none'; report-uri /csp-report"
    )


def test_hostile_host_css_does_not_reach_the_widget(stack: Stack, reader: Reader) -> None:
    clean, hostile = article_id(), article_id()
    page = reader.page()
    page.goto(stack.article(clean))
    expect(widget_of(page, clean).locator(".fw-t")).to_have_text("Yes: 0 · No: 0")
    baseline = _height(widget_of(page, clean))

    page.goto(stack.article(hostile, head=HOSTILE))
    w = widget_of(page, hostile)
    yes = w.get_by_role("button", name="Yes", exact=True)
    expect(yes).to_be_visible()
    style = yes.evaluate("b => [getComputedStyle(b).fontSize, getComputedStyle(b).textTransform, getComputedStyle(b).letterSpacing]")
    assert style == ["15px", "none", "normal"], style
    assert _height(w) == baseline
    yes.click()
    expect(w.locator(".fw-t")).to_have_text("Yes: 1 · No: 0")


def test_strict_csp_has_zero_violations(stack: Stack, reader: Reader) -> None:
    aid = article_id()
    page = reader.page()
    page.goto(stack.article(aid), wait_until="load")
    page.goto(stack.article(aid, csp=_strict_csp(stack)))
    w = widget_of(page, aid)
    expect(w.locator(".fw-t")).to_have_text("Yes: 0 · No: 0")
    assert w.locator(".fw").evaluate("e => getComputedStyle(e).borderTopLeftRadius") == "10px"  # styled
    w.get_by_role("button", name="Yes", exact=True).click()
    expect(w.locator(".fw-t")).to_have_text("Yes: 1 · No: 0")
    w.get_by_role("button", name="Withdraw vote").click()
    expect(w.locator(".fw-t")).to_have_text("Yes: 0 · No: 0")
    assert reader.violations(page) == []
    assert stack.publisher.reports == []


def test_the_violation_detector_works(stack: Stack, reader: Reader) -> None:
    """Control: the same policy does report an inline <style> in the widget's shadow root."""
    aid = article_id()
    page = reader.page()
    page.goto(stack.article(aid, csp=_strict_csp(stack)))
    w = widget_of(page, aid)
    expect(w.locator(".fw-t")).to_have_text("Yes: 0 · No: 0")
    w.evaluate("e => { const s = document.createElement('style'); s.textContent = 'p{color:red}';"
               " e.shadowRoot.append(s); }")
    page.wait_for_function("(window.__cspViolations || []).length > 0")
    assert reader.violations(page)[0].startswith("style-src")


def test_dark_mode(stack: Stack, new_reader: Callable[..., Reader]) -> None:
    colours = {}
    for scheme in ("light", "dark"):
        aid = article_id()
        page = new_reader(color_scheme=scheme).page()
        page.goto(stack.article(aid))
        w = widget_of(page, aid)
        expect(w.locator(".fw-t")).to_have_text("Yes: 0 · No: 0")
        colours[scheme] = w.locator(".fw").evaluate("e => getComputedStyle(e).backgroundColor")
    assert colours == {"light": "rgb(255, 255, 255)", "dark": "rgb(23, 25, 30)"}


def test_right_to_left_languages(stack: Stack, reader: Reader) -> None:
    for lang, question, yes_name, no_name in (
        ("ar", "هل أعجبك هذا المقال؟", "نعم", "لا"),
        ("fa-IR", "آیا این مقاله را می‌پسندید؟", "بله", "خیر"),
    ):
        aid = article_id()
        page = reader.page()
        page.goto(stack.article(aid, lang=lang))
        w = widget_of(page, aid)
        expect(w.get_by_text(question)).to_be_visible()
        box = w.locator(".fw")
        expect(box).to_have_attribute("dir", "rtl")
        yes, no = w.get_by_role("button", name=yes_name, exact=True), w.get_by_role("button", name=no_name, exact=True)
        yes_box, no_box, frame = yes.bounding_box(), no.bounding_box(), box.bounding_box()
        assert yes_box and no_box and frame
        assert yes_box["x"] > no_box["x"], "Yes comes first, on the right"
        assert yes_box["x"] + yes_box["width"] > frame["x"] + frame["width"] - 40  # starts at the right edge
        yes.click()
        expect(w.get_by_role("status")).to_contain_text("شكرًا لتصويتك!" if lang == "ar" else "از رأی شما سپاسگزاریم!")


def test_other_languages_from_element_or_page(stack: Stack, reader: Reader) -> None:
    cases = {
        "ru": "Вам нравится эта статья?", "hy": "Ձեզ դո՞ւր է գալիս այս հոդվածը։",  # noqa: RUF001 - Armenian full stop "az": "Bu məqaləni bəyəndinizmi?",
        "ka": "მოგწონთ ეს სტატია?", "kk": "Бұл мақала сізге ұнады ма?", "uz": "Sizga bu maqola yoqdimi?",
        "tr": "Bu makaleyi beğendiniz mi?", "uk": "Вам подобається ця стаття?",
    }
    ids = {lang: article_id() for lang in cases}
    page = reader.page()
    # the page says English; each widget element carries its own lang
    body = "".join(f'<div data-feedback-article="{ids[lang]}" lang="{lang}"></div>' for lang in cases)
    page.goto(stack.article(body=body))
    for lang, question in cases.items():
        expect(widget_of(page, ids[lang]).get_by_text(question)).to_be_visible()
        expect(widget_of(page, ids[lang]).locator(".fw")).to_have_attribute("dir", "ltr")


def test_final_height_on_first_paint(stack: Stack, reader: Reader) -> None:
    held: list[Any] = []

    def hold(route: Any) -> None:
        held.append(route)

    for lang in ("en", "ka"):
        aid = article_id()
        page = reader.page()
        held.clear()
        page.route(f"{stack.widget_url}/api/v1/articles/**", hold)
        with page.expect_request(f"{stack.widget_url}/api/v1/articles/**"):
            page.goto(stack.article(aid, lang=lang))
        w = widget_of(page, aid)
        expect(w.locator(".fw-q")).to_be_attached()
        for _ in range(200):  # wait (bounded) until the tally request is being held back
            if held:
                break
            page.wait_for_timeout(10)
        assert held
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")  # painted
        before = _height(w)
        assert before > 100
        assert not w.locator(".fw-t").text_content()
        for route in held:
            route.continue_()
        expect(w.locator(".fw-t")).not_to_have_text("")
        assert _height(w) == before, lang
