"""``feedbackwidget demo``: a sample publisher with two editions (two sites) on one server.

The demo serves the North and the South edition of one newspaper from one widget and one
embedded store. Each edition is its own site (:mod:`feedbackwidget.sites`) with its own
origin, so the one port is reached under two host names: the North edition at
``http://127.0.0.1:PORT`` and the South edition at ``http://localhost:PORT`` (browsers treat
them as two origins, and two sites). A page is rendered for the edition whose host name the
request was sent to; a link to the other edition's page goes to that edition's origin.
Both editions carry the same story under the same article id, each with its own tally.

``--captcha hcaptcha-test`` (the default) uses hCaptcha's published test keys against the real
service; ``--captcha fake`` starts the offline stand-in (:mod:`feedbackwidget.fakecaptcha`)
on loopback and says so in a banner on the page. The demo never switches from one to the
other by itself: without network access the test keys simply fail, visibly.
"""

from __future__ import annotations

import base64
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

from .app import FeedbackWidget
from .config import Settings
from .fakecaptcha import FakeHCaptcha
from .i18n import static_dir
from .sites import Site
from .web.assets import captcha_sources, stylesheet
from .webhooks.receiver import WebhookReceiver

TEST_SITEKEY = "10000000-ffff-ffff-ffff-000000000001"
TEST_SECRET = "0x0000000000000000000000000000000000000000"  # noqa: S105 - hCaptcha's published test secret
MODES = ("hcaptcha-test", "fake")
PREFIX = "/feedback"
PORT = 8000
#: The story both editions run: one article id, a tally per site.
ARTICLE_ID = "2026/11/night-trains-return-to-the-north"
TITLE = "Night trains return to the northern line after eleven years"


@dataclass(frozen=True, slots=True)
class Story:
    """One article page: ``slug`` is its path under the edition, ``body`` the template macro
    that writes its text, ``published`` ISO 8601 UTC."""

    slug: str
    article_id: str
    title: str
    section: str
    authors: tuple[str, ...]
    tags: tuple[str, ...]
    published: str
    body: str


@dataclass(frozen=True, slots=True)
class Edition:
    """One edition, one site: its pages are served under ``host`` (a host name of loopback)."""

    site: str
    name: str
    host: str
    stories: tuple[Story, ...]

    def origin(self, port: int) -> str:
        return f"http://{self.host}:{port}"


EDITIONS = (
    Edition("north", "The Courier · North edition", "127.0.0.1", (
        Story("night-trains", ARTICLE_ID, TITLE, "Transport", ("Mari Tamm",), ("rail", "north"),
              "2026-11-26T06:00:00Z", "night_trains"),
        Story("water-board", "2026/11/lake-towns-share-a-water-board",
              "Five lake towns agree to run their water supply together", "Politics", ("Liis Kask",),
              ("water", "councils"), "2026-11-27T08:30:00Z", "water_board"),
    )),
    Edition("south", "The Courier · South edition", "localhost", (
        Story("night-trains", ARTICLE_ID, TITLE, "Travel", ("Mari Tamm", "Tomas Ruiz"), ("rail", "travel"),
              "2026-11-26T07:00:00Z", "night_trains"),
        Story("port-cranes", "2026/11/port-cranes-dispute",
              "Dockers and the port authority settle the dispute over remote-controlled cranes", "Economy",
              ("Ana Sousa",), ("port", "jobs"), "2026-11-28T05:45:00Z", "port_cranes"),
    )),
)


@dataclass
class Demo:
    app: Starlette
    widget: FeedbackWidget
    settings: Settings
    captcha: str
    port: int
    sites: tuple[Site, ...]

    def origin(self, site: str) -> str:
        """Where the pages of edition ``site`` are served (``http://HOST:PORT``)."""
        return next(e.origin(self.port) for e in EDITIONS if e.site == site)


def demo_webhooks(receiver: WebhookReceiver, secret: str) -> dict[str, Any]:
    """Webhooks to the loopback receiver stub, with events that a few votes already cause."""
    return {
        "webhook_urls": receiver.url,
        "webhook_secrets": secret,
        "webhook_allowed_hosts": receiver.host,
        "webhook_allow_private": True,  # the stub listens on loopback
        "webhook_milestones": "1,5,10,25,50,100",
        "webhook_sentiment_below": 0.4,
        "webhook_sentiment_above": 0.8,
        "webhook_min_votes": 5,
        "webhook_retry_base": 1,
        # No daily digest: on a fresh store it would only report an empty yesterday, and it
        # would arrive first (ahead of the milestones a vote causes) whenever the demo starts
        # after the digest hour.
        "webhook_digest_hour": "off",
    }


def demo_settings(
    captcha: str, database_url: str, fake: FakeHCaptcha | None = None, **more: Any
) -> Settings:
    if captcha not in MODES:
        raise ValueError(f"--captcha must be one of {', '.join(MODES)}")
    if captcha == "fake":
        if fake is None:
            raise ValueError("the fake captcha mode needs a running FakeHCaptcha")
        keys: dict[str, Any] = fake.settings()
    else:
        keys = {"hcaptcha_sitekey": TEST_SITEKEY, "hcaptcha_secret": TEST_SECRET}
    return Settings(demo=True, database_url=database_url, public_url=PREFIX, **keys, **more)


def demo_sites(port: int, tokens: Mapping[str, str] | None = None) -> list[Site]:
    """The editions as sites: each allows its own origin only; ``tokens`` maps a site id to
    its dashboard/export token (at least 16 characters). North is the primary site."""
    tokens = tokens or {}
    return [
        Site(e.site, [e.origin(port)], name=e.name, lang="en", tokens=[tokens[e.site]] if e.site in tokens else [])
        for e in EDITIONS
    ]


def edition_of(request: Request) -> Edition:
    """The edition whose host name the request was sent to (the port is not compared, so the
    demo also renders behind a test server's random port); the North edition otherwise."""
    host = request.url.hostname
    return next((e for e in EDITIONS if e.host == host), EDITIONS[0])


def build_demo(
    captcha: str,
    *,
    database_url: str,
    fake: FakeHCaptcha | None = None,
    port: int = PORT,
    site_tokens: Mapping[str, str] | None = None,
    **more: Any,
) -> Demo:
    """The demo as an ASGI app: each edition's lead story at ``/`` of its origin, its stories
    at ``/SITE/SLUG``, the widget mounted at ``/feedback``. ``port`` is where the editions'
    origins say they are; ``more`` are further settings (``run_demo`` adds webhooks and the
    server-wide dashboard token). Raises ValueError for an unknown captcha mode."""
    settings = demo_settings(captcha, database_url, fake, **more)
    sites = demo_sites(port, site_tokens)
    widget = FeedbackWidget(settings, sites=sites)
    templates = jinja2.Environment(loader=jinja2.PackageLoader("feedbackwidget", "templates"), autoescape=True)
    captcha_hosts = captcha_sources(settings.hcaptcha_js_url)
    csp = "; ".join(
        [
            "default-src 'none'",
            f"script-src 'self' {captcha_hosts}",
            f"style-src 'self' {captcha_hosts}",
            f"connect-src 'self' {captcha_hosts}",
            f"frame-src {captcha_hosts}",
            "img-src 'self' data:",
            "base-uri 'none'",
            "form-action 'self'",
        ]
    )

    def page(edition: Edition, story: Story) -> Response:
        links = [
            {"name": e.name, "site": e.site, "url": e.origin(port) + "/", "current": e is edition,
             "stories": [(s.title, f"{e.origin(port)}/{e.site}/{s.slug}") for s in e.stories]}
            for e in EDITIONS
        ]
        html = templates.get_template("demo.html").render(
            edition=edition,
            story=story,
            editions=links,
            fake=captcha == "fake",
            widget=widget.embed(story.article_id, title=story.title, version=story.published[:10],
                                section=story.section, authors=story.authors, tags=story.tags,
                                published_at=story.published, site=edition.site),
            embed_url=f"{PREFIX}/embed/{story.article_id}?site={edition.site}",
        )
        return HTMLResponse(html, headers={"Content-Security-Policy": csp, "Cache-Control": "no-store"})

    async def front(request: Request) -> Response:
        edition = edition_of(request)
        return page(edition, edition.stories[0])

    async def story(request: Request) -> Response:
        edition = next((e for e in EDITIONS if e.site == request.path_params["site"]), None)
        found = None if edition is None else next(
            (s for s in edition.stories if s.slug == request.path_params["slug"]), None)
        if edition is None or found is None:
            return HTMLResponse("<!doctype html><title>Not found</title><p>No such page.</p>", 404)
        if edition_of(request) is not edition:
            # Each edition's pages live on its own origin: the widget there votes for its site.
            return RedirectResponse(f"{edition.origin(port)}/{edition.site}/{found.slug}", 307)
        return page(edition, found)

    async def demo_css(request: Request) -> Response:
        return stylesheet("demo.css").response(request)

    app = Starlette(
        routes=[
            Route("/", front),
            Route("/demo.css", demo_css),
            Mount(PREFIX, app=widget),
            Route("/{site}/{slug}", story),
        ],
        lifespan=widget.lifespan,
    )
    return Demo(app, widget, settings, captcha, port, tuple(sites))


def startup_lines(demo: Demo, server_token: str | None, folder: Path, receiver_url: str) -> list[str]:
    """What ``run_demo`` prints: each site's pages, dashboard and token, then the server's."""
    label = (
        "OFFLINE FAKE captcha (nothing is checked by hCaptcha)"
        if demo.captcha == "fake"
        else "hCaptcha's published test keys against the real hCaptcha service"
    )
    lines = [f"feedbackwidget demo — two sites on one server — captcha: {label}"]
    for site in demo.sites:
        origin = demo.origin(site.id)
        token = site.tokens[0] if site.tokens else "none"
        lines += [
            f"  site {site.id!r} ({site.title}): {origin}/",
            f"      its dashboard: {origin}{PREFIX}/sites/{site.id}/admin (token {token}: this site only)",
        ]
    main = f"http://127.0.0.1:{demo.port}{PREFIX}"
    lines += [
        f"  every site: dashboard token {server_token or 'none'} (the server's EXPORT_TOKEN)",
        f"  webhook deliveries to the receiver stub at {receiver_url}: {main}/admin/webhooks (server token)",
        f"votes are stored in {folder / 'demo.db'}; press Ctrl+C to stop",
    ]
    return lines


def run_demo(port: int, captcha: str) -> None:
    """Serve the demo on 127.0.0.1:``port`` (reached as 127.0.0.1 and as localhost) until interrupted."""
    if captcha not in MODES:
        raise SystemExit(f"feedbackwidget demo: --captcha must be one of {', '.join(MODES)}")
    if not (static_dir() / "widget.js").exists():
        raise SystemExit("feedbackwidget demo: static/widget.js is missing from this installation")
    folder = Path(tempfile.mkdtemp(prefix="feedbackwidget-demo-"))
    fake = FakeHCaptcha().start() if captcha == "fake" else None
    hook_secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    receiver = WebhookReceiver([hook_secret]).start()
    token = secrets.token_urlsafe(18)
    site_tokens = {e.site: secrets.token_urlsafe(18) for e in EDITIONS}
    try:
        demo = build_demo(
            captcha, database_url=f"sqlite:///{folder / 'demo.db'}", fake=fake, port=port,
            site_tokens=site_tokens, export_token=token, **demo_webhooks(receiver, hook_secret),
        )
        print("\n".join(startup_lines(demo, token, folder, receiver.url)))
        uvicorn.run(demo.app, host="127.0.0.1", port=port, log_level="warning", forwarded_allow_ips="")
    finally:
        receiver.stop()
        if fake is not None:
            fake.stop()
