"""SVG charts: well-formed, accessible, escaped, no inline style or script."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from feedbackwidget.charts import DayCount, daily_chart, fill_days, sparkline

SVG = "{http://www.w3.org/2000/svg}"
NASTY = '<script>alert("x")</script> & \'quotes\' ]]>'


def _parse(markup: str) -> ET.Element:
    root = ET.fromstring(markup)
    assert root.tag == SVG + "svg"
    assert root.get("role") == "img"
    labelled = (root.get("aria-labelledby") or "").split()
    ids = {el.get("id") for el in root.iter() if el.get("id")}
    assert labelled and set(labelled) <= ids
    assert root.find(SVG + "title") is not None
    assert root.find(SVG + "desc") is not None
    for el in root.iter():
        assert el.get("style") is None
        assert not el.tag.endswith("script")
        assert not any(name.startswith("on") for name in el.attrib)
    return root


def test_fill_days_adds_zero_days_and_sums_articles() -> None:
    rows = [
        {"day": dt.date(2026, 1, 2), "article_id": "a", "up": 2, "down": 1},
        {"day": "2026-01-02", "article_id": "b", "up": 1, "down": 0},
        {"day": dt.date(2026, 1, 4), "article_id": "a", "up": 0, "down": 3},
        {"day": dt.date(2026, 2, 1), "article_id": "a", "up": 9, "down": 9},  # outside
    ]
    days = fill_days(rows, dt.date(2026, 1, 1), dt.date(2026, 1, 4))
    assert [(d.day.day, d.up, d.down) for d in days] == [(1, 0, 0), (2, 3, 1), (3, 0, 0), (4, 0, 3)]
    assert fill_days(rows, dt.date(2026, 1, 5), dt.date(2026, 1, 4)) == []


def test_sparkline_is_accessible_and_escaped() -> None:
    svg = sparkline([0, 3, 1, 4], title=NASTY)
    assert "<script>" not in svg
    root = _parse(svg)
    assert root.find(SVG + "title").text == NASTY  # type: ignore[union-attr]
    desc = root.find(SVG + "desc").text  # type: ignore[union-attr]
    assert desc == "8 votes over 4 days, at most 4 on one day."
    line = root.find(SVG + "polyline")
    assert line is not None
    points = [tuple(map(float, p.split(","))) for p in line.get("points", "").split()]
    assert len(points) == 4
    # the highest value is the highest point (smallest y), zero sits at the bottom
    assert min(points, key=lambda p: p[1]) == points[3]
    assert max(points, key=lambda p: p[1])[1] == points[0][1]


def test_empty_and_single_point_sparklines() -> None:
    _parse(sparkline([], title="none"))
    root = _parse(sparkline([5], title="one"))
    assert root.find(SVG + "polyline") is not None


def test_daily_chart_bars() -> None:
    days = [DayCount(dt.date(2026, 1, 1), 4, 0), DayCount(dt.date(2026, 1, 2), 0, 2),
            DayCount(dt.date(2026, 1, 3), 0, 0)]
    root = _parse(daily_chart(days, title="Daily votes for <b>x</b>"))
    ups = root.findall(f".//{SVG}rect[@class='fw-up']")
    downs = root.findall(f".//{SVG}rect[@class='fw-down']")
    assert len(ups) == 1 and len(downs) == 1
    axis = root.find(f"{SVG}line[@class='fw-axis']")
    assert axis is not None
    axis_y = float(axis.get("y1", "nan"))
    # "yes" ends on the axis from above, "no" starts on it and goes down
    assert float(ups[0].get("y", "nan")) + float(ups[0].get("height", "nan")) == axis_y
    assert float(downs[0].get("y", "nan")) == axis_y
    # bar heights are proportional to the votes (4 vs 2)
    assert float(ups[0].get("height", "0")) == 2 * float(downs[0].get("height", "0"))
    tips = [g.find(SVG + "title").text for g in root.findall(f"{SVG}g")]  # type: ignore[union-attr]
    assert tips == ["2026-01-01: 4 yes, 0 no", "2026-01-02: 0 yes, 2 no", "2026-01-03: 0 yes, 0 no"]
    assert "4 yes above the axis, 2 no below it" in (root.find(SVG + "desc").text or "")  # type: ignore[union-attr]


@given(st.text(max_size=50), st.lists(st.integers(0, 10**6), max_size=40))
def test_any_title_gives_well_formed_svg(title: str, values: list[int]) -> None:
    # XML 1.0 cannot carry most control characters at all; titles never hold them
    title = "".join(c for c in title if c >= " " and c not in "\ufffe\uffff")
    root = _parse(sparkline(values, title=title))
    assert (root.find(SVG + "title").text or "") == title  # type: ignore[union-attr]
    start = dt.date(2026, 1, 1)
    days = [DayCount(start + dt.timedelta(days=i), v, v // 2) for i, v in enumerate(values)]
    _parse(daily_chart(days, title=title))
