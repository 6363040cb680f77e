"""Serve index.html on http://localhost:8001 and the widget on http://127.0.0.1:8000 — two
different sites, as a publisher and a feedback host would be.

    python run.py                   # hCaptcha's published test keys (needs the real service)
    python run.py --captcha fake    # offline stand-in on 127.0.0.1:8002, clearly not hCaptcha
"""

from __future__ import annotations

import argparse
import tempfile
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import uvicorn

from feedbackwidget import FeedbackWidget, Settings
from feedbackwidget.fakecaptcha import FakeHCaptcha

HERE = Path(__file__).resolve().parent
PAGE_ORIGIN = "http://localhost:8001"


def widget_settings(captcha: str, database_url: str, fake: FakeHCaptcha | None = None) -> Settings:
    keys = (
        fake.settings()
        if fake is not None
        else {
            "hcaptcha_sitekey": "10000000-ffff-ffff-ffff-000000000001",
            "hcaptcha_secret": "0x0000000000000000000000000000000000000000",
        }
    )
    return Settings(demo=True, database_url=database_url, allowed_origins=PAGE_ORIGIN, **keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--captcha", choices=["hcaptcha-test", "fake"], default="hcaptcha-test")
    args = parser.parse_args()
    fake = FakeHCaptcha(port=8002).start() if args.captcha == "fake" else None
    database = Path(tempfile.mkdtemp()) / "votes.db"
    settings = widget_settings(args.captcha, f"sqlite:///{database}", fake)
    pages = ThreadingHTTPServer(("127.0.0.1", 8001), partial(SimpleHTTPRequestHandler, directory=str(HERE)))
    threading.Thread(target=pages.serve_forever, daemon=True).start()
    print(f"publisher page: {PAGE_ORIGIN}/   widget: http://127.0.0.1:8000/   captcha: {args.captcha}")
    try:
        uvicorn.run(FeedbackWidget(settings), host="127.0.0.1", port=8000, log_level="warning")
    finally:
        pages.shutdown()
        if fake is not None:
            fake.stop()


if __name__ == "__main__":
    main()
