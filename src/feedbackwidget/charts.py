"""Server-rendered SVG charts for the dashboard: sparklines and daily vote charts.

No script, no inline style: colours come from classes the dashboard stylesheet
maps to CSS variables (light and dark), with ``currentColor`` as the fallback,
so a chart stays legible under a strict Content-Security-Policy and in either
colour scheme. Every chart has ``role="img"``, a ``<title>`` and a ``<desc>``;
every piece of text is escaped.
"""

from __future__ import annotations

import datetime as dt
import functools
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape


@dataclass(frozen=True, slots=True)
class DayCount:
    """Votes cast or changed to each value on one day."""

    day: dt.date
    up: int = 0
    down: int = 0

    @property
    def total(self) -> int:
        return self.up + self.down


def fill_days(rows: Iterable[Any], start: dt.date, end: dt.date) -> list[DayCount]:
    """One DayCount per day from ``start`` to ``end`` inclusive, zero where no row exists.

    ``rows`` are mappings with ``day`` (date or ISO text), ``up`` and ``down``;
    several rows for one day (several articles) are added up.
    """
    if end < start:
        return []
    ups: dict[dt.date, int] = {}
    downs: dict[dt.date, int] = {}
    for row in rows:
        day = row["day"]
        if isinstance(day, str):
            day = dt.date.fromisoformat(day[:10])
        elif isinstance(day, dt.datetime):
            day = day.date()
        ups[day] = ups.get(day, 0) + int(row["up"])
        downs[day] = downs.get(day, 0) + int(row["down"])
    span = (end - start).days + 1
    days = (start + dt.timedelta(days=i) for i in range(span))
    return [DayCount(d, ups.get(d, 0), downs.get(d, 0)) for d in days]


def _num(value: float) -> str:
    """A coordinate with at most two decimals and no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _open(width: int, height: int, title: str, desc: str, css_class: str) -> tuple[str, str]:
    ident = "fw" + secrets.token_hex(4)
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="fw-chart {css_class}" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'aria-labelledby="{ident}-t {ident}-d" fill="currentColor" stroke="none">'
        f'<title id="{ident}-t">{escape(title)}</title><desc id="{ident}-d">{escape(desc)}</desc>'
    )
    return head, "</svg>"


@functools.lru_cache(maxsize=64)
def _spark_xs(count: int, width: int, pad: float) -> tuple[str, ...]:
    step = (width - 2 * pad) / max(count - 1, 1)
    return tuple(_num(pad + i * step) for i in range(count))


def sparkline(
    values: Sequence[int], *, title: str, desc: str | None = None,
    width: int = 120, height: int = 24,
) -> Markup:
    """A small line of daily totals; the last point is marked."""
    count = len(values)
    if desc is None:
        desc = (f"{sum(values)} votes over {count} days, at most {max(values)} on one day."
                if count else "No days in range.")
    head, tail = _open(width, height, title, desc, "fw-sparkline")
    if not count:
        return Markup(head + tail)  # noqa: S704 - every piece was escaped above
    pad = 2.0
    top = max(max(values), 1)
    # A page draws many sparklines of one length, mostly of a few distinct values: the
    # coordinates' text is made once per x and per value, not per point (_num is the cost).
    xs = _spark_xs(count, width, pad)
    ys = {v: _num(height - pad - (height - 2 * pad) * v / top) for v in set(values)}
    if count == 1:
        line = f"{xs[0]},{ys[values[0]]} {_num(width - pad)},{ys[values[0]]}"
        last_x = _num(width - pad)
    else:
        line = " ".join([f"{x},{ys[v]}" for x, v in zip(xs, values, strict=True)])
        last_x = xs[-1]
    bottom = _num(height - pad)
    area = f"{_num(pad)},{bottom} {line} {last_x},{bottom}"
    body = (
        f'<polygon class="fw-spark-area" points="{area}" fill-opacity="0.15"/>'
        f'<polyline class="fw-spark-line" points="{line}" fill="none" stroke="currentColor" '
        f'stroke-width="1.5" stroke-linejoin="round" stroke-linecap="round"/>'
        f'<circle class="fw-spark-last" cx="{last_x}" cy="{ys[values[-1]]}" r="2"/>'
    )
    return Markup(head + body + tail)  # noqa: S704 - no unescaped text inside


def daily_chart(
    days: Sequence[DayCount], *, title: str, desc: str | None = None,
    width: int = 720, height: int = 240,
) -> Markup:
    """Diverging daily bars: "yes" votes above the axis, "no" votes below it.

    Each bar carries its own ``<title>`` (a tooltip and an accessible label).
    """
    up_total = sum(d.up for d in days)
    down_total = sum(d.down for d in days)
    if desc is None:
        if days:
            desc = (f"Daily votes from {days[0].day.isoformat()} to {days[-1].day.isoformat()}: "
                    f"{up_total} yes above the axis, {down_total} no below it.")
        else:
            desc = "No days in range."
    head, tail = _open(width, height, title, desc, "fw-daily")
    if not days:
        return Markup(head + tail)  # noqa: S704 - escaped above
    left, right, top_pad, bottom_pad = 40.0, 8.0, 14.0, 22.0
    plot_w = width - left - right
    plot_h = height - top_pad - bottom_pad
    peak_up = max(max(d.up for d in days), 1)
    peak_down = max(max(d.down for d in days), 1)
    scale = plot_h / (peak_up + peak_down)
    axis_y = top_pad + peak_up * scale
    slot = plot_w / len(days)
    bar_w = max(slot * 0.7, 1.0)
    width_text, axis_text = _num(bar_w), _num(axis_y)
    parts: list[str] = [
        f'<line class="fw-axis" x1="{_num(left)}" x2="{_num(width - right)}" '
        f'y1="{_num(axis_y)}" y2="{_num(axis_y)}" stroke="currentColor" stroke-width="1"/>',
        f'<text class="fw-label" x="{_num(left - 4)}" y="{_num(top_pad + 4)}" '
        f'text-anchor="end" font-size="10">{peak_up}</text>',
        f'<text class="fw-label" x="{_num(left - 4)}" y="{_num(height - bottom_pad)}" '
        f'text-anchor="end" font-size="10">{peak_down}</text>',
    ]
    for i, d in enumerate(days):
        x = _num(left + i * slot + (slot - bar_w) / 2)
        # An ISO date and two integers: nothing in the label to escape.
        parts.append(f'<g class="fw-day"><title>{d.day.isoformat()}: {d.up} yes, {d.down} no</title>')
        if d.up:
            h = d.up * scale
            parts.append(f'<rect class="fw-up" x="{x}" y="{_num(axis_y - h)}" '
                         f'width="{width_text}" height="{_num(h)}"/>')
        if d.down:
            parts.append(f'<rect class="fw-down" x="{x}" y="{axis_text}" '
                         f'width="{width_text}" height="{_num(d.down * scale)}" fill-opacity="0.55"/>')
        parts.append("</g>")
    first, last = days[0].day.isoformat(), days[-1].day.isoformat()
    parts.append(f'<text class="fw-label" x="{_num(left)}" y="{_num(height - 6)}" '
                 f'font-size="10">{escape(first)}</text>')
    if len(days) > 1:
        parts.append(f'<text class="fw-label" x="{_num(width - right)}" y="{_num(height - 6)}" '
                     f'text-anchor="end" font-size="10">{escape(last)}</text>')
    return Markup(head + "".join(parts) + tail)  # noqa: S704 - every text escaped above
