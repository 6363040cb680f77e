"""Two editions of a news site, one feedback widget: the sites come from sites.toml.

Each edition is a site with its own origin, so this app serves the English edition at
http://127.0.0.1:8000 and the Russian one at http://localhost:8000 (one port, two host
names). A page is rendered for the site whose origin the request was sent to, and its
markup is signed for that site (``widget.embed(..., site=...)``).

Run from this folder:  uvicorn --factory app:main   (settings from FEEDBACKWIDGET_* variables,
FEEDBACKWIDGET_SITES_FILE=sites.toml)
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
<html lang="{{ lang }}"><head><meta charset="utf-8"><title>{{ title }}</title></head>
<body><main><article>
<h1>{{ title }}</h1>
{{ feedback }}
</article></main></body></html>"""
)
#: Per site: article id -> (title, section). Both editions run the same story under one id.
ARTICLES = {
    "default": {"armenia-us-charter": ("Armenia, drifting further from Russia, deepens US ties", "Diplomacy")},
    "ru": {"armenia-us-charter": ("Армения, отдаляясь от России, углубляет связи с США", "Дипломатия")},  # noqa: RUF001
}


def create_app(settings: Settings) -> Starlette:
    # PUBLIC_URL must be "/feedback" (the mount path), so widget.embed() emits /feedback/widget.js.
    widget = FeedbackWidget(settings)  # reads settings.sites_file; ConfigError if it cannot work

    async def article(request: Request) -> HTMLResponse:
        site = widget.sites.for_origin(f"{request.url.scheme}://{request.url.netloc}".lower())
        found = None if site is None else ARTICLES.get(site.id, {}).get(request.path_params["slug"])
        if site is None or found is None:
            return HTMLResponse("Not found", 404)
        title, section = found
        markup = widget.embed(request.path_params["slug"], title=title, section=section, site=site.id)
        return HTMLResponse(PAGE.render(lang=site.lang or "en", title=title, feedback=markup))

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
    """uvicorn --factory app:main — settings from FEEDBACKWIDGET_* (PUBLIC_URL=/feedback, SITES_FILE)."""
    return create_app(Settings.from_env())
