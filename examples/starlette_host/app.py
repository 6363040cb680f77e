"""A Starlette news site that mounts the feedback widget under /feedback.

Run from this folder:  uvicorn --factory app:main   (settings from FEEDBACKWIDGET_* variables)
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route

from feedbackwidget import FeedbackWidget, Settings

PAGE = jinja2.Environment(autoescape=True).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title></head>
<body><main><article>
<h1>{{ title }}</h1>
<p>The council approved the new cycle lanes on Tuesday after a two-hour debate.</p>
{{ feedback }}
</article></main></body></html>"""
)
ARTICLES = {"cycle-lanes": "Council approves cycle lanes on the harbour road"}


def create_app(settings: Settings) -> Starlette:
    # PUBLIC_URL must be "/feedback" (the mount path), so widget.embed() emits /feedback/widget.js.
    widget = FeedbackWidget(settings)

    async def article(request: Request) -> HTMLResponse:
        slug = request.path_params["slug"]
        title = ARTICLES.get(slug)
        if title is None:
            return HTMLResponse("Not found", 404)
        # The title and revision are signed, so the widget server trusts them.
        return HTMLResponse(PAGE.render(title=title, feedback=widget.embed(slug, title=title, version="1")))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Starlette does not run a mounted app's lifespan: compose the widget's into ours.
        async with widget.lifespan(app):
            yield

    return Starlette(
        routes=[Route("/articles/{slug}", article), Mount("/feedback", app=widget)],
        lifespan=lifespan,
    )


def main() -> Starlette:
    """uvicorn --factory app:main — settings from FEEDBACKWIDGET_* (PUBLIC_URL=/feedback)."""
    return create_app(Settings.from_env())
