"""``kind=daily`` is encoded by its own fast path (``export.encode_daily``): byte for byte what
the reference encoders write, for any article id (quotes, commas, line breaks, formulas,
non-ASCII), day and count."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from feedbackwidget.export import encode_csv, encode_daily, encode_ndjson

NASTY = ["", ",", "\"", "\r", "\n", "=1+1", "+", "-5", "@x", "\t", " =x", "\u200b=x", "\uff1d1", "é", "😀", "\u2028", "\\", "'", "null"]

rows = st.lists(
    st.fixed_dictionaries({
        "day": st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)),
        "article_id": st.one_of(st.sampled_from(NASTY), st.text(max_size=8)),
        "up": st.integers(0, 2**62),
        "down": st.integers(0, 2**62),
    }),
    max_size=8,
)


@settings(deadline=None)
@given(rows)
def test_daily_lines_equal_the_reference_encoders(batch: list[dict[str, Any]]) -> None:
    assert encode_daily("csv", batch) == b"".join(encode_csv("daily", [batch], header=False))
    assert encode_daily("ndjson", batch) == encode_ndjson("daily", batch)
