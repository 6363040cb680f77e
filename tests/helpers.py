"""What many test files share: the settings' secrets, a real uvicorn on a loopback port, a vote body."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from pathlib import Path
from typing import Any

import uvicorn

from feedbackwidget import Settings
from feedbackwidget.cli import server_options

SECRET = "test-secret-key-0123456789abcdef"
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
EXPORT_TOKEN = "export-token-0123456789"


class Served:
    """An app served by a real uvicorn on a loopback port, in a background thread."""

    def __init__(self, app: Any, settings: Settings) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        options = server_options(settings, host="127.0.0.1", port=self.port)
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", **options)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.run(self.server.serve(sockets=[self.sock]))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Served:
        self.thread.start()
        started = threading.Event()

        def check() -> None:
            while self.thread.is_alive() and not self.server.started:
                started.wait(0.01)  # polls a condition; the server sets no event of its own

        check()
        if not self.server.started:
            raise RuntimeError("uvicorn did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        self.sock.close()


def vote_body(article: str = "article-1", vote: str = "up", token: str | None = None, **extra: Any) -> dict[str, Any]:
    import secrets

    return {"article_id": article, "vote": vote, "captcha_token": token or f"PASS-{secrets.token_hex(8)}", **extra}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# -- article pages with schema.org JSON-LD (what the metadata reader reads) ---------------------

NEWS = {
    "@context": "https://schema.org", "@type": "NewsArticle", "headline": "Rates rise",
    "articleSection": "Economy", "datePublished": "2026-11-29T08:00:00+01:00",
    "author": [{"@type": "Person", "name": "Ann Lee"}, {"@type": "Organization", "name": "Desk"}],
    "keywords": "rates, banks",
}


def page(*blocks: Any, article: str = "a1", raw: str = "") -> str:
    """An article page showing ``article``'s widget, with each of ``blocks`` as a JSON-LD script."""
    # As a CMS writes it: "</" escaped inside the script element (JSON allows "<\/").
    escaped = (json.dumps(b).replace("</", "<\\/") for b in blocks)
    scripts = "".join(f'<script type="application/ld+json">{text}</script>' for text in escaped)
    return (f"<!doctype html><html><head><title>x</title>{scripts}{raw}</head><body>"
            f'<div data-feedback-article="{article}"></div></body></html>')
