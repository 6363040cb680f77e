"""``feedbackwidget demo`` serves two sites from one server: the North edition on
``http://127.0.0.1:PORT`` and the South edition on ``http://localhost:PORT``, with the same
story under the same article id in both (HTTP level, fake captcha, a temporary SQLite file)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from feedbackwidget.demo import ARTICLE_ID, PREFIX, build_demo, startup_lines
from feedbackwidget.fakecaptcha import FakeHCaptcha

PORT = 8123
NORTH, SOUTH = f"http://127.0.0.1:{PORT}", f"http://localhost:{PORT}"
TOKENS = {"north": "north-" + "n" * 24, "south": "south-" + "s" * 24}
SERVER_TOKEN = "server-" + "e" * 24


@pytest.fixture
def client(fake: FakeHCaptcha, tmp_path: Path) -> Iterator[TestClient]:
    demo = build_demo("fake", database_url=f"sqlite:///{tmp_path / 'demo.db'}", fake=fake, port=PORT,
                      site_tokens=TOKENS, export_token=SERVER_TOKEN)
    with TestClient(demo.app) as client:
        yield client


def signed_of(html: str) -> str:
    return html.split('data-feedback-signed="', 1)[1].split('"', 1)[0]


def vote(client: TestClient, origin: str, vote: str = "up", *, site: str | None = None, **extra: Any) -> Any:
    """A vote as the widget on a page of ``origin`` sends it (to the server at that origin)."""
    query = f"?site={site}" if site else ""
    body = {"article_id": ARTICLE_ID, "vote": vote, "captcha_token": f"PASS-{secrets.token_hex(8)}", **extra}
    return client.post(f"{origin}{PREFIX}/api/v1/votes{query}", json=body, headers={"Origin": origin})


def tally(client: TestClient, site: str) -> tuple[int, int]:
    answer = client.get(f"{PREFIX}/api/v1/articles/{ARTICLE_ID}?site={site}").json()
    assert answer["site"] == site
    return answer["up"], answer["down"]


def test_each_edition_is_served_on_its_own_origin(client: TestClient) -> None:
    north, south = client.get(NORTH + "/").text, client.get(SOUTH + "/").text
    for html, site, other in ((north, "north", "south"), (south, "south", "north")):
        assert f'data-feedback-site="{site}"' in html and f'data-feedback-site="{other}"' not in html
        assert f'data-feedback-article="{ARTICLE_ID}"' in html  # the same story, the same id
        assert f'href="{NORTH}/"' in html and f'href="{SOUTH}/"' in html  # both sites linked
        assert f"{PREFIX}/embed/{ARTICLE_ID}?site={site}" in html
    assert "North edition" in north and "Transport" in north and "By Mari Tamm<" in north
    assert "South edition" in south and "Travel" in south and "By Mari Tamm and Tomas Ruiz" in south
    assert signed_of(north) != signed_of(south)  # signed for its own site
    assert client.get(SOUTH + "/south/port-cranes").status_code == 200
    # A page asked for under the other edition's host name goes to its own origin.
    moved = client.get(NORTH + "/south/port-cranes", follow_redirects=False)
    assert moved.status_code == 307 and moved.headers["location"] == SOUTH + "/south/port-cranes"
    assert client.get(NORTH + "/north/no-such-story").status_code == 404
    assert client.get(NORTH + "/west/night-trains").status_code == 404


def test_a_vote_on_one_site_leaves_the_other_sites_tally_of_the_same_article(client: TestClient) -> None:
    south_page = client.get(SOUTH + "/").text
    answer = vote(client, SOUTH, site="south", signed=signed_of(south_page))
    assert answer.status_code == 200, answer.text
    assert answer.json()["site"] == "south" and answer.json()["sentiment"]["up"] == 1
    assert tally(client, "south") == (1, 0) and tally(client, "north") == (0, 0)
    # Without ?site= the Origin decides: a vote from the North edition's origin is North's.
    assert vote(client, NORTH, "down").json()["site"] == "north"
    assert tally(client, "north") == (0, 1) and tally(client, "south") == (1, 0)
    # The iframe of each site may be framed by that site's pages only.
    frame = client.get(f"{PREFIX}/embed/{ARTICLE_ID}?site=south").headers["content-security-policy"]
    assert f"frame-ancestors 'self' {SOUTH}" in frame and NORTH not in frame


def test_a_page_of_one_site_cannot_vote_for_the_other(client: TestClient) -> None:
    # Sent to another origin than the page's (a real deployment's widget host): the declared
    # site holds the request to its own origins.
    refused = client.post(f"{PREFIX}/api/v1/votes?site=north", headers={"Origin": SOUTH},
                          json={"article_id": ARTICLE_ID, "vote": "up", "captcha_token": "PASS-x1"})
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden_origin"
    assert tally(client, "north") == (0, 0) and tally(client, "south") == (0, 0)


def bearer(site: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[site]}"}


def test_each_sites_token_opens_only_its_own_dashboard(client: TestClient) -> None:
    assert vote(client, SOUTH, site="south").status_code == 200
    server = {"Authorization": f"Bearer {SERVER_TOKEN}"}
    for site, other in (("north", "south"), ("south", "north")):
        dashboard = f"{PREFIX}/sites/{site}/admin"
        page = client.get(dashboard, headers=bearer(site))
        assert page.status_code == 200, page.text
        assert f'href="{PREFIX}/sites/{other}/admin"' not in page.text  # no way across
        assert client.get(dashboard, headers=bearer(other)).status_code == 401
        assert f'href="{PREFIX}/sites/{other}/admin"' in client.get(dashboard, headers=server).text
        export = f"{PREFIX}/sites/{site}/api/v1/export?format=ndjson&kind=articles"
        rows = [json.loads(line) for line in client.get(export, headers=bearer(site)).text.splitlines()]
        assert all(row["site"] == site for row in rows)
        assert [row["article_id"] for row in rows] == ([ARTICLE_ID] if site == "south" else [])  # South's vote only
        assert client.get(export, headers=bearer(other)).status_code == 401


def test_start_up_names_each_sites_dashboard_and_token(fake: FakeHCaptcha, tmp_path: Path) -> None:
    demo = build_demo("fake", database_url=f"sqlite:///{tmp_path / 'demo.db'}", fake=fake, port=PORT,
                      site_tokens=TOKENS, export_token=SERVER_TOKEN)
    text = "\n".join(startup_lines(demo, SERVER_TOKEN, tmp_path, "http://127.0.0.1:9/hooks"))
    assert "OFFLINE FAKE captcha" in text
    assert f"{NORTH}{PREFIX}/sites/north/admin (token {TOKENS['north']}: this site only)" in text
    assert f"{SOUTH}{PREFIX}/sites/south/admin (token {TOKENS['south']}: this site only)" in text
    assert f"dashboard token {SERVER_TOKEN}" in text
    assert text.count(TOKENS["north"]) == 1 and text.count(TOKENS["south"]) == 1
