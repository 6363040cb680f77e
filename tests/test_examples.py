"""The examples in examples/ work as their READMEs say (HTTP level; the static publisher page
is driven in a real browser by tests/browser/test_examples_page.py)."""

from __future__ import annotations

import importlib.util
import json
import secrets
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from starlette.testclient import TestClient

from feedbackwidget import FeedbackWidget, Settings
from feedbackwidget.fakecaptcha import FakeHCaptcha
from feedbackwidget.sites import Site, load_sites
from tests.helpers import SECRET

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(relative: str) -> ModuleType:
    path = EXAMPLES / relative
    spec = importlib.util.spec_from_file_location("example_" + path.parent.name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def host_settings(fake: FakeHCaptcha, tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'votes.db'}", secret_key=SECRET, public_url="/feedback", **fake.settings()
    )


def exercise_host(client: TestClient, page: str, article: str) -> None:
    html = client.get(page).text
    assert 'src="/feedback/widget.js"' in html and f'data-feedback-article="{article}"' in html
    signed = html.split('data-feedback-signed="', 1)[1].split('"', 1)[0]
    script = client.get("/feedback/widget.js")
    assert script.status_code == 200 and "__FEEDBACKWIDGET_CONFIG__" not in script.text
    vote = client.post(
        "/feedback/api/v1/votes",
        json={"article_id": article, "vote": "up", "captcha_token": f"PASS-{secrets.token_hex(8)}", "signed": signed},
    )
    assert vote.status_code == 200, vote.text
    assert client.get(f"/feedback/api/v1/articles/{article}").json()["up"] == 1
    embed = client.get(f"/feedback/embed/{article}")
    assert embed.status_code == 200 and 'action="/feedback/api/v1/votes"' in embed.text


def test_starlette_host(fake: FakeHCaptcha, tmp_path: Path) -> None:
    example = load("starlette_host/app.py")
    with TestClient(example.create_app(host_settings(fake, tmp_path))) as client:
        exercise_host(client, "/articles/cycle-lanes", "cycle-lanes")
        assert client.get("/articles/nothing").status_code == 404


def test_fastapi_host(fake: FakeHCaptcha, tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    example = load("fastapi_host/app.py")
    with TestClient(example.create_app(host_settings(fake, tmp_path))) as client:
        exercise_host(client, "/posts/a-quiet-election", "a-quiet-election")


def test_factories_read_the_environment(monkeypatch: pytest.MonkeyPatch, fake: FakeHCaptcha, tmp_path: Path) -> None:
    env: dict[str, Any] = {"FEEDBACKWIDGET_SECRET_KEY": SECRET, "FEEDBACKWIDGET_DATABASE_URL": f"sqlite:///{tmp_path / 'v.db'}"}
    env.update(fake.env())
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("FEEDBACKWIDGET_PUBLIC_URL", "/feedback")
    with TestClient(load("starlette_host/app.py").main()) as client:
        assert 'src="/feedback/widget.js"' in client.get("/articles/cycle-lanes").text


def test_static_publisher_runner_settings(fake: FakeHCaptcha, tmp_path: Path) -> None:
    runner = load("static_publisher/run.py")
    settings = runner.widget_settings("fake", f"sqlite:///{tmp_path / 'v.db'}", fake)
    assert settings.allowed_origins == ("http://localhost:8001",)
    assert settings.hcaptcha_js_url == fake.js_url
    html = (EXAMPLES / "static_publisher" / "index.html").read_text()
    assert 'data-feedback-article="harbour-ferry-timetable"' in html
    assert '<script src="http://127.0.0.1:8000/widget.js" async></script>' in html
    for example in ("starlette_host", "fastapi_host", "static_publisher", "sites"):
        assert "```sh" in (EXAMPLES / example / "README.md").read_text(), example


def test_the_sites_example_loads_and_serves_both_editions(fake: FakeHCaptcha, tmp_path: Path) -> None:
    sites_file = EXAMPLES / "sites" / "sites.toml"
    sites = load_sites(sites_file)
    assert [(s.id, s.allowed_origins, s.lang) for s in sites] == [
        ("default", ("http://127.0.0.1:8000",), "en"), ("ru", ("http://localhost:8000",), "ru")]
    assert sites[0].reasons == ("inaccurate", "unclear", "biased") and sites[1].min_votes == 5
    settings = host_settings(fake, tmp_path).replace(sites_file=str(sites_file))
    article = "armenia-us-charter"
    with TestClient(load("sites/app.py").create_app(settings)) as client:
        english = client.get(f"http://127.0.0.1:8000/articles/{article}").text
        russian = client.get(f"http://localhost:8000/articles/{article}").text
        assert 'data-feedback-site="default"' in english and '<html lang="en">' in english
        assert 'data-feedback-site="ru"' in russian and 'lang="ru"></div>' in russian and "Армения" in russian
        assert client.get(f"http://example.test:8000/articles/{article}").status_code == 404  # no site's origin
        origin = "http://localhost:8000"
        vote = client.post(
            f"{origin}/feedback/api/v1/votes?site=ru", headers={"Origin": origin},
            json={"article_id": article, "vote": "up", "captcha_token": f"PASS-{secrets.token_hex(8)}",
                  "signed": russian.split('data-feedback-signed="', 1)[1].split('"', 1)[0]},
        )
        assert vote.status_code == 200, vote.text
        assert client.get(f"/feedback/api/v1/articles/{article}?site=ru").json()["up"] == 1
        assert client.get(f"/feedback/api/v1/articles/{article}?site=default").json()["up"] == 0
        token = {"Authorization": "Bearer change-me-russian-edition-dashboard"}
        assert client.get("/feedback/sites/default/admin", headers=token).status_code == 401


def test_the_sites_guide_move_to_several_sites_keeps_the_default_sites_votes(
    fake: FakeHCaptcha, tmp_path: Path
) -> None:
    """docs/sites.md, "From one site to several": the old site kept as `default` keeps its
    tallies, its readers (same vote, same pseudonym) and its signed markup."""
    origin, auth = "https://www.courier.example", {"Authorization": f"Bearer {SECRET}"}
    settings = host_settings(fake, tmp_path).replace(allowed_origins=origin, export_token=SECRET, public_url="")
    single = FeedbackWidget(settings)
    signed = str(single.embed("story", title="Signed before")).split('data-feedback-signed="', 1)[1].split('"', 1)[0]
    with TestClient(single) as client:
        voter = client.post("/api/v1/votes", headers={"Origin": origin},
                            json={"article_id": "story", "vote": "up", "captcha_token": "PASS-a1"}).json()["voter"]
        before = json.loads(client.get("/api/v1/export?kind=votes&format=ndjson", headers=auth).text)
    several = FeedbackWidget(settings, sites=[Site("default", [origin]), Site("ru", ["https://ru.courier.example"])])
    with TestClient(several) as client:
        assert client.get("/api/v1/articles/story", headers={"Origin": origin}).json()["up"] == 1
        moved = client.post("/api/v1/votes", headers={"Origin": origin, "X-Feedback-Voter": voter},
                            json={"article_id": "story", "vote": "down", "captcha_token": "PASS-a2", "signed": signed})
        tally = moved.json()["sentiment"]
        assert (tally["up"], tally["down"]) == (0, 1)  # the same reader changed their mind
        after = json.loads(client.get("/sites/default/api/v1/export?kind=votes&format=ndjson", headers=auth).text)
        assert (after["voter"], after["site"]) == (before["voter"], "default")
        article = json.loads(client.get("/sites/default/api/v1/export?kind=articles&format=ndjson", headers=auth).text)
        assert article["title"] == "Signed before"
        assert client.get("/api/v1/articles/story?site=ru").json()["total"] == 0


def test_the_sites_guides_snippets_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every sites.toml in docs/sites.md and README.md's "Several sites" loads, and the guide's
    Python form builds an app, as written."""
    root = Path(__file__).resolve().parents[1]
    guide = (root / "docs" / "sites.md").read_text()
    readme = (root / "README.md").read_text().split("## Several sites", 1)[1].split("\n## ", 1)[0]
    blocks = [block.split("```", 1)[0] for text in (guide, readme) for block in text.split("```toml\n")[1:]]
    assert len(blocks) == 2
    for n, block in enumerate(blocks):
        path = tmp_path / f"sites{n}.toml"
        path.write_text(block)
        sites = load_sites(path)
        assert [s.id for s in sites] == ["default", "ru"] and sites[1].lang == "ru"
    monkeypatch.setenv("FEEDBACKWIDGET_SECRET_KEY", SECRET)
    monkeypatch.setenv("FEEDBACKWIDGET_DATABASE_URL", f"sqlite:///{tmp_path / 'v.db'}")
    namespace: dict[str, Any] = {}
    exec(compile(guide.split("```python\n", 1)[1].split("```", 1)[0], "docs/sites.md", "exec"), namespace)
    assert [site.id for site in namespace["widget"].sites] == ["default", "ru"]


def test_the_testing_guide_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/testing.md's example, run as written (in a scratch folder: it makes test.db)."""
    guide = (Path(__file__).resolve().parents[1] / "docs" / "testing.md").read_text()
    code = guide.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/testing.md", "exec"), namespace)
    namespace["test_a_vote_counts"]()
    assert (tmp_path / "test.db").exists()
