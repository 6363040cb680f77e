"""What an article page says it is about: its schema.org ``NewsArticle`` JSON-LD, read with
the standard library (``html.parser`` + ``json``).

Why not an extraction library: ``extruct`` (the well-kept one) brings lxml, rdflib,
pyRdfa3, mf2py and w3lib to read microdata, RDFa and microformats we do not use;
JSON-LD is a ``<script type="application/ld+json">`` element holding JSON, which
``html.parser`` finds in any page, however broken its markup, without a C
extension parsing hostile input. The rules below are the part a library would
not decide for us anyway: which node is this article's, and what to do with
values that are not what schema.org says.

Only a page that shows this article's widget (``data-feedback-article`` with its
id, or an ``/embed/`` frame of it) or whose ``NewsArticle`` names it as its
``identifier`` is believed: a reader cannot make the server label one article
with another page's metadata. Among several ``NewsArticle`` nodes (separate
blocks or one ``@graph``), the one whose ``url``, ``@id`` or
``mainEntityOfPage`` is the page's address wins; a lone one is taken; several
that do not say which is the page's own give nothing rather than a guess.
Every value is checked by :mod:`.validate`; one that fails is dropped, not the page.
Names are kept as text: a headline with markup keeps it, escaped wherever shown.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from . import validate
from .errors import InvalidRequest
from .types import MAX_AUTHORS, MAX_TAGS, MAX_TITLE, About

#: schema.org's NewsArticle and its subtypes.
NEWS_TYPES = frozenset({
    "NewsArticle", "AnalysisNewsArticle", "AskPublicNewsArticle", "BackgroundNewsArticle",
    "OpinionNewsArticle", "ReportageNewsArticle", "ReviewNewsArticle",
})
#: JSON-LD blocks looked at per page, and the longest one parsed (characters).
MAX_BLOCKS = 20
MAX_BLOCK = 256 * 1024
#: How deep a JSON-LD value is walked (a hostile page may nest without end).
_MAX_DEPTH = 8


class _PageParser(HTMLParser):
    """Collects JSON-LD script bodies and the article ids of widgets the page shows."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self.articles: set[str] = set()
        self.frames: list[str] = []
        self._in_block: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if "data-feedback-article" in values:
            self.articles.add(values["data-feedback-article"])
        if tag == "iframe" and "src" in values:
            self.frames.append(values["src"])
        kind = values.get("type", "").split(";")[0].strip().lower()
        if tag == "script" and kind == "application/ld+json" and len(self.blocks) < MAX_BLOCKS:
            self._in_block = []

    def handle_data(self, data: str) -> None:
        if self._in_block is not None and sum(map(len, self._in_block)) <= MAX_BLOCK:
            self._in_block.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._in_block is not None:
            text = "".join(self._in_block)
            if len(text) <= MAX_BLOCK:
                self.blocks.append(text)
            self._in_block = None


def read_page(html: str, article_id: str, page_url: str) -> About | None:
    """What the page at ``page_url`` (its text ``html``) says article ``article_id`` is about,
    or None: no single ``NewsArticle`` that is this page's, or a page that does not show this
    article (see the module's docstring). Never raises for any input."""
    parser = _PageParser()
    try:
        parser.feed(html)
        parser.close()
    except (AssertionError, ValueError):  # html.parser's own complaints about broken markup
        pass
    nodes = [node for block in parser.blocks for node in _nodes(_load(block))]
    index = {node["@id"]: node for node in nodes if isinstance(node.get("@id"), str)}
    news = [node for node in nodes if _types(node) & NEWS_TYPES]
    node = _pick(news, page_url)
    if node is None:
        return None
    if not (_shows(parser, article_id) or node.get("identifier") == article_id):
        return None
    about = About(
        section=_first_label(node.get("articleSection")),
        authors=tuple(_authors(node.get("author"), index))[:MAX_AUTHORS],
        tags=_keywords(node.get("keywords")),
        published_at=_time(node.get("datePublished")),
        headline=_headline(node.get("headline")),
    )
    return None if about.empty else about


def _load(block: str) -> Any:
    try:
        return json.loads(block)
    except (ValueError, RecursionError):
        return None


def _nodes(value: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    """Every object of a JSON-LD document that could be a node: the top level, lists, ``@graph``."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(value, list):
        for item in value[:1000]:
            yield from _nodes(item, depth + 1)
    elif isinstance(value, dict):
        yield value
        if "@graph" in value:
            yield from _nodes(value["@graph"], depth + 1)


def _types(node: dict[str, Any]) -> set[str]:
    kind = node.get("@type")
    names = kind if isinstance(kind, list) else [kind]
    # "https://schema.org/NewsArticle" and "schema:NewsArticle" name the same type.
    return {n.rsplit("/", 1)[-1].rsplit(":", 1)[-1] for n in names if isinstance(n, str)}


def _same_page(value: Any, page_url: str) -> bool:
    if isinstance(value, dict):
        value = value.get("@id") or value.get("url")
    if not isinstance(value, str):
        return False
    try:
        given, page = urlsplit(value.strip()), urlsplit(page_url)
    except ValueError:
        return False
    return (given.netloc.lower(), given.path.rstrip("/") or "/") == (page.netloc.lower(), page.path.rstrip("/") or "/")


def _pick(news: list[dict[str, Any]], page_url: str) -> dict[str, Any] | None:
    own = [n for n in news if any(_same_page(n.get(k), page_url) for k in ("url", "@id", "mainEntityOfPage"))]
    if len(own) == 1:
        return own[0]
    if not own and len(news) == 1:
        return news[0]
    return None


def _shows(parser: _PageParser, article_id: str) -> bool:
    if article_id in parser.articles:
        return True
    tail = "/embed/" + quote(article_id, safe="")
    return any(urlsplit(src).path.endswith(tail) or unquote(urlsplit(src).path).endswith("/embed/" + article_id)
               for src in parser.frames)


def _label(value: Any) -> str | None:
    try:
        return validate.label(value)
    except InvalidRequest:
        return None


def _first_label(value: Any) -> str | None:
    if isinstance(value, list):
        return next((label for item in value if (label := _label(item))), None)
    return _label(value)


def _authors(value: Any, index: dict[str, dict[str, Any]], depth: int = 0) -> Iterator[str]:
    """Names of a Person, an Organization, a plain name, an ``@id`` reference, or a list of them."""
    if depth > 2:
        return
    if isinstance(value, list):
        seen: set[str] = set()
        for item in value[:100]:
            for name in _authors(item, index, depth + 1):
                if name not in seen:
                    seen.add(name)
                    yield name
        return
    if isinstance(value, dict) and "name" not in value and isinstance(value.get("@id"), str):
        value = index.get(value["@id"], value)
    if isinstance(value, dict):
        value = value.get("name")
        if isinstance(value, list):
            value = value[0] if value else None
    found = _label(value)
    if found:
        yield found


def _keywords(value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value if isinstance(value, list) else []
    names = (_label(item) for item in items[:1000])
    return tuple(dict.fromkeys(n for n in names if n))[:MAX_TAGS]


def _time(value: Any) -> dt.datetime | None:
    try:
        return validate.published_at(value if isinstance(value, str) else None)
    except InvalidRequest:
        return None


def _headline(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())[:MAX_TITLE]
    return text if text and validate.clean(text) else None
