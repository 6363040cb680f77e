"""``feedbackwidget demo``: a sample publisher article with the widget, on the embedded store.

``--captcha hcaptcha-test`` (the default) uses hCaptcha's published test keys against the real
service; ``--captcha fake`` starts the offline stand-in (:mod:`feedbackwidget.fakecaptcha`)
on loopback and says so in a banner on the page. The demo never switches from one to the
other by itself: without network access the test keys simply fail, visibly.
"""

from __future__ import annotations

import base64
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route

from .app import FeedbackWidget
from .config import Settings
from .fakecaptcha import FakeHCaptcha
from .i18n import static_dir
from .web.assets import captcha_sources, stylesheet
from .webhooks.receiver import WebhookReceiver

TEST_SITEKEY = "10000000-ffff-ffff-ffff-000000000001"
TEST_SECRET = "0x0000000000000000000000000000000000000000"  # noqa: S105 - hCaptcha's published test secret
MODES = ("hcaptcha-test", "fake")
PREFIX = "/feedback"
ARTICLE_ID = "2026/11/night-trains-return-to-the-north"
TITLE = "Night trains return to the northern line after eleven years"


@dataclass
class Demo:
    app: Starlette
    widget: FeedbackWidget
    settings: Settings
    captcha: str


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


def build_demo(captcha: str, *, database_url: str, fake: FakeHCaptcha | None = None, **more: Any) -> Demo:
    """The demo as an ASGI app: the article at ``/``, the widget mounted at ``/feedback``.
    ``more`` are further settings (``run_demo`` adds webhooks and a dashboard token)."""
    settings = demo_settings(captcha, database_url, fake, **more)
    widget = FeedbackWidget(settings)
    templates = jinja2.Environment(loader=jinja2.PackageLoader("feedbackwidget", "templates"), autoescape=True)
    csp = "; ".join(
        [
            "default-src 'none'",
            f"script-src 'self' {captcha_sources(settings.hcaptcha_js_url)}",
            f"style-src 'self' {captcha_sources(settings.hcaptcha_js_url)}",
            f"connect-src 'self' {captcha_sources(settings.hcaptcha_js_url)}",
            f"frame-src {captcha_sources(settings.hcaptcha_js_url)}",
            "img-src 'self' data:",
            "base-uri 'none'",
            "form-action 'self'",
        ]
    )

    async def article(request: Request) -> Response:
        html = templates.get_template("demo.html").render(
            title=TITLE,
            fake=captcha == "fake",
            widget=widget.embed(ARTICLE_ID, title=TITLE, version="2026-11-26", section="Transport",
                                authors=["Mari Tamm"], tags=["rail", "north"], published_at="2026-11-26T06:00:00Z"),
            embed_url=f"{PREFIX}/embed/{ARTICLE_ID}",
        )
        return HTMLResponse(html, headers={"Content-Security-Policy": csp, "Cache-Control": "no-store"})

    async def demo_css(request: Request) -> Response:
        return stylesheet("demo.css").response(request)

    app = Starlette(
        routes=[Route("/", article), Route("/demo.css", demo_css), Mount(PREFIX, app=widget)],
        lifespan=widget.lifespan,
    )
    return Demo(app, widget, settings, captcha)


def run_demo(port: int, captcha: str) -> None:
    """Serve the demo on 127.0.0.1:``port`` until interrupted."""
    if captcha not in MODES:
        raise SystemExit(f"feedbackwidget demo: --captcha must be one of {', '.join(MODES)}")
    if not (static_dir() / "widget.js").exists():
        raise SystemExit("feedbackwidget demo: static/widget.js is missing from this installation")
    folder = Path(tempfile.mkdtemp(prefix="feedbackwidget-demo-"))
    fake = FakeHCaptcha().start() if captcha == "fake" else None
    hook_secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    receiver = WebhookReceiver([hook_secret]).start()
    token = secrets.token_urlsafe(18)
    try:
        demo = build_demo(
            captcha, database_url=f"sqlite:///{folder / 'demo.db'}", fake=fake, export_token=token,
            **demo_webhooks(receiver, hook_secret),
        )
        label = (
            "OFFLINE FAKE captcha (nothing is checked by hCaptcha)"
            if fake
            else "hCaptcha's published test keys against the real hCaptcha service"
        )
        print(f"feedbackwidget demo: http://127.0.0.1:{port}/  — captcha: {label}")
        print(f"votes are stored in {folder / 'demo.db'}; press Ctrl+C to stop")
        print(f"dashboard: http://127.0.0.1:{port}{PREFIX}/admin (token {token}); webhook deliveries to the "
              f"receiver stub at {receiver.url}: http://127.0.0.1:{port}{PREFIX}/admin/webhooks")
        uvicorn.run(demo.app, host="127.0.0.1", port=port, log_level="warning", forwarded_allow_ips="")
    finally:
        receiver.stop()
        if fake is not None:
            fake.stop()
