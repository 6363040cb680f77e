"""A FastAPI site that mounts the feedback widget under /feedback.

Run from this folder:  uvicorn --factory app:main   (settings from FEEDBACKWIDGET_* variables)
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from markupsafe import escape

from feedbackwidget import FeedbackWidget, Settings


def create_app(settings: Settings) -> FastAPI:
    widget = FeedbackWidget(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with widget.lifespan(app):  # FastAPI, like Starlette, skips mounted lifespans
            yield

    app = FastAPI(lifespan=lifespan)

    @app.get("/posts/{slug}", response_class=HTMLResponse)
    async def post(slug: str) -> str:
        title = slug.replace("-", " ").capitalize()
        return (
            f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title></head>'
            f"<body><main><article><h1>{escape(title)}</h1><p>Post text.</p>"
            f"{widget.embed(slug, title=title)}</article></main></body></html>"
        )

    app.mount("/feedback", widget)
    return app


def main() -> FastAPI:
    """uvicorn --factory app:main — settings from FEEDBACKWIDGET_* (PUBLIC_URL=/feedback)."""
    return create_app(Settings.from_env())
