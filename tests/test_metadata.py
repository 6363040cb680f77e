"""Reading what an article is about from its page: real HTTP servers on loopback serve
JSON-LD pages, honest and hostile; the fetcher must read the good ones and refuse the rest."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from feedbackwidget.jsonld import read_page
from feedbackwidget.metadata import AboutKeeper
from feedbackwidget.page_fetch import FetchRefused, PageFetcher
from feedbackwidget.store.sqlite import SQLiteStore
from feedbackwidget.types import About, Cast

from .helpers import NEWS, page

pytestmark = pytest.mark.anyio

class Site:
    """A publisher's pages on a real aiohttp server on one loopback address; counts requests."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.hits: dict[str, int] = {}
        self.pages: dict[str, str] = {}
        self.redirects: dict[str, str] = {}
        self.port = 0
        app = web.Application()
        app.router.add_get("/huge", self._huge)
        app.router.add_get("/slow", self._slow)
        app.router.add_get("/{name:.*}", self._page)
        self.runner = web.AppRunner(app, access_log=None)

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def __aenter__(self) -> Site:
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.host, 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()

    def _count(self, request: web.Request) -> None:
        self.hits[request.path] = self.hits.get(request.path, 0) + 1

    async def _page(self, request: web.Request) -> web.StreamResponse:
        self._count(request)
        if request.path in self.redirects:
            raise web.HTTPFound(self.redirects[request.path])
        if request.path not in self.pages:
            raise web.HTTPNotFound()
        return web.Response(text=self.pages[request.path], content_type="text/html")

    async def _huge(self, request: web.Request) -> web.StreamResponse:
        """The JSON-LD first, then 64 MiB of filler: the reader must stop at its cap."""
        self._count(request)
        answer = web.StreamResponse(headers={"Content-Type": "text/html"})
        await answer.prepare(request)
        await answer.write(page(NEWS).replace("</body></html>", "").encode())
        filler = b"<p>" + b"x" * 65536 + b"</p>"
        try:
            for _ in range(1024):
                await answer.write(filler)
        except (ConnectionError, RuntimeError):
            pass  # the reader hung up, as it should
        return answer

    async def _slow(self, request: web.Request) -> web.StreamResponse:
        """Answers at once, then a byte every 200 ms, for ever (until the reader gives up)."""
        self._count(request)
        answer = web.StreamResponse(headers={"Content-Type": "text/html"})
        await answer.prepare(request)
        try:
            while True:
                await answer.write(b" ")
                await asyncio.sleep(0.2)  # the hostile server's pace, not a synchronisation
        except (ConnectionError, RuntimeError):
            pass
        return answer


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # aiohttp


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    async with Site() as s:
        yield s


def fetcher(*origins: str, private: tuple[str, ...] = ("127.0.0.1/32",), **kw: Any) -> PageFetcher:
    return PageFetcher(origins, private_networks=private, timeout=kw.pop("timeout", 3.0), **kw)


async def read(f: PageFetcher, url: str) -> str:
    await f.open()
    try:
        return await f.fetch(url)
    finally:
        await f.close()


# -- the parser ---------------------------------------------------------------------


def test_reads_news_article() -> None:
    about = read_page(page(NEWS), "a1", "https://news.example/a1")
    assert about == About(section="Economy", authors=("Ann Lee", "Desk"), tags=("rates", "banks"),
                          published_at=dt.datetime(2026, 11, 29, 7, 0, tzinfo=dt.UTC), headline="Rates rise")


def test_graph_with_references_and_the_page_own_article_among_several() -> None:
    related = {**NEWS, "headline": "Other story", "url": "https://news.example/other", "articleSection": "Sport"}
    own = {**NEWS, "url": "https://news.example/a1", "author": {"@id": "#ann"}}
    graph = {"@context": "https://schema.org",
             "@graph": [{"@type": "WebPage", "@id": "https://news.example/a1"}, related, own,
                        {"@type": "Person", "@id": "#ann", "name": "Ann  Lee"}]}
    about = read_page(page(graph), "a1", "https://news.example/a1/")
    assert about is not None and about.section == "Economy" and about.authors == ("Ann Lee",)
    # Separate blocks: the same choice (the author reference now leads nowhere: no author).
    apart = read_page(page(related, own), "a1", "https://news.example/a1")
    assert apart is not None and apart.section == "Economy" and apart.authors == ()


def test_several_articles_none_the_page_own_gives_nothing() -> None:
    assert read_page(page(NEWS, {**NEWS, "articleSection": "Sport"}), "a1", "https://news.example/a1") is None


def test_malformed_blocks_are_skipped() -> None:
    html = page(NEWS, raw='<script type="application/ld+json">{"@type": "NewsArticle", </script>'
                          '<script type="application/ld+json">' + "[" * 100000 + "</script>")
    about = read_page(html, "a1", "https://news.example/a1")
    assert about is not None and about.section == "Economy"
    bad_values = {"@type": "NewsArticle", "articleSection": ["", 42, "Ok"], "datePublished": "yesterday",
                  "author": [{"name": None}, "x" * 500, {"name": "Real"}], "keywords": {"no": "list"}}
    assert read_page(page(bad_values), "a1", "u") == About(section="Ok", authors=("Real",))
    assert read_page("<html><script type='application/ld+json'>nope", "a1", "u") is None


def test_headline_with_markup_is_kept_as_text() -> None:
    about = read_page(page({**NEWS, "headline": '<script>alert("x")</script> Rates'}), "a1", "u")
    assert about is not None and about.headline == '<script>alert("x")</script> Rates'


def test_a_page_that_does_not_show_the_article_is_not_believed() -> None:
    assert read_page(page(NEWS, article="other"), "a1", "u") is None
    assert read_page(page({**NEWS, "identifier": "a1"}, article="other"), "a1", "u") is not None
    frame = page(NEWS, article="other").replace("</body>", '<iframe src="https://fb.example/embed/a%2F1"></iframe></body>')
    assert read_page(frame, "a/1", "u") is not None


# -- the fetcher, against real servers ---------------------------------------------------------


async def test_fetches_an_allowed_page(site: Site) -> None:
    site.pages["/a1"] = page(NEWS)
    html = await read(fetcher(site.origin), f"{site.origin}/a1")
    assert read_page(html, "a1", f"{site.origin}/a1") is not None


async def test_loopback_is_refused_unless_allowed(site: Site) -> None:
    site.pages["/a1"] = page(NEWS)
    with pytest.raises(FetchRefused, match="not an allowed address"):
        await read(fetcher(site.origin, private=()), f"{site.origin}/a1")
    assert site.hits == {}


async def test_a_name_that_resolves_to_a_refused_address_is_refused(site: Site) -> None:
    site.pages["/a1"] = page(NEWS)
    origin = f"http://localhost:{site.port}"
    with pytest.raises(FetchRefused, match="resolves to an address that is not allowed"):
        await read(fetcher(origin, private=()), f"{origin}/a1")
    assert site.hits == {}


async def test_other_origins_are_refused(site: Site) -> None:
    with pytest.raises(FetchRefused, match="not an allowed origin"):
        await read(fetcher("https://news.example"), f"{site.origin}/a1")
    assert site.hits == {}


async def test_redirect_to_a_private_address_is_refused(site: Site) -> None:
    async with Site("127.0.0.2") as inside:
        inside.pages["/secret"] = page(NEWS)
        site.redirects["/a1"] = f"{inside.origin}/secret"
        site.redirects["/ten"] = "http://10.1.2.3/secret"
        # Both targets are "on the site" (allowed origins): only their addresses stop them.
        f = fetcher(site.origin, inside.origin, "http://10.1.2.3")
        with pytest.raises(FetchRefused, match=r"127\.0\.0\.2 is not an allowed address"):
            await read(f, f"{site.origin}/a1")
        with pytest.raises(FetchRefused, match=r"10\.1\.2\.3 is not an allowed address"):
            await read(f, f"{site.origin}/ten")
        assert inside.hits == {}
        # The same redirect is followed once 127.0.0.2 is allowed by the setting: the refusal was the address's.
        allowed = fetcher(site.origin, inside.origin, private=("127.0.0.1/32", "127.0.0.2/32"))
        assert "NewsArticle" in await read(allowed, f"{site.origin}/a1")
        assert inside.hits == {"/secret": 1}


async def test_redirect_off_the_site_is_refused(site: Site) -> None:
    async with Site() as elsewhere:
        elsewhere.pages["/x"] = page(NEWS)
        site.redirects["/a1"] = f"{elsewhere.origin}/x"
        with pytest.raises(FetchRefused, match="not an allowed origin"):
            await read(fetcher(site.origin), f"{site.origin}/a1")
        assert elsewhere.hits == {}


async def test_huge_page_is_cut_at_the_cap(site: Site) -> None:
    html = await read(fetcher(site.origin, max_bytes=256 * 1024), f"{site.origin}/huge")
    assert len(html.encode()) <= 256 * 1024
    assert read_page(html, "a1", f"{site.origin}/huge") is not None  # the JSON-LD came first


async def test_slow_page_times_out(site: Site) -> None:
    with pytest.raises(FetchRefused, match=r"within 0\.5 s"):
        await read(fetcher(site.origin, timeout=0.5), f"{site.origin}/slow")


async def test_not_html_and_errors_are_refused(site: Site) -> None:
    with pytest.raises(FetchRefused, match="HTTP 404"):
        await read(fetcher(site.origin), f"{site.origin}/missing")


# -- the keeper: background, once per interval ---------------------------------------------


async def test_keeper_reads_once_per_interval_and_signed_wins(site: Site, tmp_path: Path) -> None:
    site.pages["/a1"] = page(NEWS)
    site.pages["/a2"] = page(NEWS, article="a2")
    store = SQLiteStore(str(tmp_path / "v.db"))
    await store.open()
    now = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    keeper = AboutKeeper(store, fetcher(site.origin), interval=3600, clock=lambda: now)
    await keeper.start()
    try:
        for article in ("a1", "a2"):
            await store.cast(Cast(article, "v", "up", now))
        keeper.noticed("a1", None, f"{site.origin}/a1")
        keeper.noticed("a1", None, f"{site.origin}/a1")
        keeper.noticed("a1", None, "https://elsewhere.example/a1")  # not an allowed origin: ignored
        await keeper.idle()
        about = await store.about("a1")
        assert about is not None and about.section == "Economy"
        assert site.hits == {"/a1": 1}
        # A second keeper (another server) finds the page read lately in the store.
        other = AboutKeeper(store, fetcher(site.origin), interval=3600, clock=lambda: now)
        await other.start()
        other.noticed("a1", None, f"{site.origin}/a1")
        await other.idle()
        await other.stop()
        assert site.hits == {"/a1": 1}
        # Signed values replace the page's, and a page read never replaces them.
        keeper.noticed("a2", About(section="Signed"), f"{site.origin}/a2")
        await keeper.idle()
        assert await store.about("a2") == About(section="Signed")
        assert site.hits.get("/a2") is None
    finally:
        await keeper.stop()
        await store.close()


async def test_keeper_queue_is_bounded(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "v.db"))
    keeper = AboutKeeper(store, fetcher("https://news.example"), interval=3600,
                         clock=lambda: dt.datetime.now(dt.UTC), queue_size=3)
    for i in range(10):  # not started: nothing takes jobs
        keeper.noticed(f"a{i}", None, f"https://news.example/a{i}")
    assert keeper.dropped == 7


# -- signed by widget.embed() ---------------------------------------------------------------


def test_signed_metadata_binds_to_its_article_and_old_signatures_still_verify() -> None:
    from feedbackwidget.metadata import about_from_signed, about_to_signed
    from feedbackwidget.tokens import Tokens

    tokens = Tokens("k" * 32)
    about = About(section="World", authors=("Ann",), tags=("eu",),
                  published_at=dt.datetime(2026, 11, 29, 7, tzinfo=dt.UTC))
    signed = tokens.sign_embed("a1", "Title", "v2", about_to_signed(about))
    payload = tokens.embed_payload(signed, "a1")
    assert payload is not None and about_from_signed(payload[3]) == about
    assert tokens.embed(signed, "a1") == ("Title", "v2")
    assert tokens.embed_payload(signed, "a2") is None  # another article's markup vouches nothing here
    assert tokens.embed_payload(signed[:-2] + "xx", "a1") is None
    assert Tokens("other" * 8).embed_payload(signed, "a1") is None
    plain = tokens.sign_embed("a1", "Title", None)  # markup signed before metadata existed
    assert tokens.embed(plain, "a1") == ("Title", None) and tokens.embed_about(plain, "a1") is None
    # A signed dict whose values no validator accepts gives nothing rather than half.
    assert about_from_signed({"s": "x" * 500}) is None
