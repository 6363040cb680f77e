"""The yardstick: a bare Starlette route returning 1 KiB of HTML, served with the
very uvicorn options ``feedbackwidget serve`` uses (one worker, uvloop, httptools).

    python benchmarks/bare.py --port 8100
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from feedbackwidget.cli import server_options
from feedbackwidget.config import Settings

BODY = ("<!doctype html><title>bare</title><p>" + "x" * 1024)[:1024]


async def page(request: Request) -> HTMLResponse:
    return HTMLResponse(BODY)


app = Starlette(routes=[Route("/", page)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--trusted-proxies", default="", help="as FEEDBACKWIDGET_TRUSTED_PROXIES")
    args = parser.parse_args()
    # The very options of `feedbackwidget serve`, built by the same function.
    settings = Settings(secret_key="bare", trusted_proxies=args.trusted_proxies)
    options = server_options(settings, host=args.host, port=args.port)
    uvicorn.run(app, access_log=False, log_level="warning", **options)


if __name__ == "__main__":
    main()
