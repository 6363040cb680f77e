"""What the widget looks like in each engine: a screenshot of the voted state, kept in
docs/screenshots/engine-*.png (see the ``screenshots`` fixture), checked to be a real image."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

from tests.browser.engines import Engine, Reader
from tests.browser.harness import Stack, article_id
from tests.browser.test_engines import open_widget

BOX = """(id) => {
  const host = [...document.querySelectorAll('[data-feedback-article]')].find((e) => e.getAttribute('data-feedback-article') === id);
  const r = host.shadowRoot.querySelector('.fw').getBoundingClientRect();
  return {x: r.left, y: r.top, width: r.width, height: r.height};
}"""


def png_facts(png: bytes) -> tuple[int, int, int]:
    """Width, height and the number of distinct byte values in the image data (a blank or
    all-black capture has very few)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", png[16:24])
    data, at = b"", 8
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind = png[at + 4 : at + 8]
        if kind == b"IDAT":
            data += png[at + 8 : at + 8 + length]
        at += 12 + length
    return width, height, len(set(zlib.decompress(data)))


def test_screenshot_of_the_voted_widget(
    stack: Stack, engine: Engine, new_engine_reader: Callable[..., Reader], screenshots: Path
) -> None:
    aid = article_id()
    reader = new_engine_reader()
    w = open_widget(stack, reader, aid)
    reader.evaluate("() => { document.querySelector('main').style.maxWidth = '520px'; }")  # a column's width
    w.click("Yes")
    w.wait_tally("Yes: 1 · No: 0")
    box = reader.evaluate(BOX, aid)
    assert box["width"] == 520 and box["height"] == 136, box
    png = reader.screenshot(box["x"], box["y"], box["width"], box["height"])
    (screenshots / f"engine-{engine.name}.png").write_bytes(png)
    width, height, distinct = png_facts(png)
    assert abs(width - box["width"]) <= 1 and abs(height - box["height"]) <= 1, (width, height, box)
    assert distinct > 16, f"{engine.name}: a blank capture ({distinct} distinct values)"
