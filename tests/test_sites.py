"""Several sites on one server (sites.py): configuration, the request's site, and no cross-talk
between sites in tallies, tokens, exports, dashboards, pseudonyms and signatures."""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from feedbackwidget import FeedbackWidget
from feedbackwidget.config import Settings
from feedbackwidget.errors import ConfigError
from feedbackwidget.sites import Site, Sites, load_sites, site_from_table
from feedbackwidget.web.runtime import _query_site

from .helpers import vote_body

NORTH, SOUTH = "https://north.example", "https://south.example"
NORTH_TOKEN, SOUTH_TOKEN = "north-token-0123456789", "south-token-0123456789"
SERVER_TOKEN = "server-token-0123456789"


def two_sites(**north: Any) -> list[Site]:
    return [
        Site("north", [NORTH], name="The North Edition", tokens=[NORTH_TOKEN], lang="uk", **north),
        Site("south", [SOUTH, "https://*.south.example"], tokens=[SOUTH_TOKEN]),
    ]


@pytest.fixture
def sites_client(make_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    widget = FeedbackWidget(make_settings(export_token=SERVER_TOKEN), sites=two_sites())
    with TestClient(widget, base_url="http://testserver") as client:
        yield client


def vote(client: TestClient, origin: str | None, article: str, value: str = "up", query: str = "",
         **extra: Any) -> Any:
    """A vote by a new reader (no cookie of an earlier one)."""
    client.cookies.clear()
    headers = {"Origin": origin} if origin else {}
    return client.post(f"/api/v1/votes{query}", json=vote_body(article, value, **extra), headers=headers)


def tally(client: TestClient, origin: str, article: str) -> tuple[int, int]:
    body = client.get(f"/api/v1/articles/{article}", headers={"Origin": origin}).json()
    return body["up"], body["down"]


def rows(answer: Any) -> list[dict[str, str]]:
    assert answer.status_code == 200, answer.text
    return list(csv.DictReader(io.StringIO(answer.text)))


# -- configuration -------------------------------------------------------------------------


def test_a_sites_file_is_read_in_order(tmp_path: Path) -> None:
    path = tmp_path / "sites.toml"
    path.write_text(
        '[[site]]\nid = "default"\nname = "La Voz"\nallowed_origins = ["https://lavoz.example"]\n'
        'tokens = ["t-0123456789abcdef"]\nlang = "uk-UA"\nmin_votes = 20\n\n'
        '[[site]]\nid = "norte"\nallowed_origins = "https://norte.lavoz.example, https://*.norte.example"\n'
        'reasons = ["wrong", "biased"]\n'
    )
    first, second = load_sites(path)
    assert (first.id, first.title, first.lang, first.min_votes, first.tokens) == (
        "default", "La Voz", "uk", 20, ("t-0123456789abcdef",))
    assert second.allowed_origins == ("https://norte.lavoz.example", "https://*.norte.example")
    assert second.reasons == ("wrong", "biased") and second.title == "norte"
    assert "t-0123456789abcdef" not in repr(first)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('[[site]]\nid = "a"\nallowed_origin = ["https://a.example"]\n', "unknown key(s) ['allowed_origin']"),
        ('[[site]]\nallowed_origins = ["https://a.example"]\n', "has no id"),
        ('[[site]]\nid = "A b"\n', "is not a site id"),
        ('[[site]]\nid = "a"\nlang = "klingon"\n', "lang: 'klingon' is not a supported language"),
        ('[[site]]\nid = "a"\ntokens = ["short"]\n', "at least 16 characters"),
        ('[[site]]\nid = "a"\nallowed_origins = ["a.example"]\n', "is not an origin"),
        ('[[site]]\nid = "a"\nmin_votes = -1\n', "min_votes"),
        ('[[site]]\nid = "a"\nreasons = ["Not OK!"]\n', "reasons"),
        ("site = 1\n", "has no [[site]] table"),
        ('[sites]\nid = "a"\n', "unknown top-level key(s) ['sites']"),
        ("[[site]\n", "is not valid TOML"),
    ],
)
def test_a_bad_sites_file_is_one_clear_error(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "sites.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_sites(path)
    assert problem in caught.value.detail and str(path) in caught.value.detail


def test_a_missing_sites_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_sites(tmp_path / "nowhere.toml")


@pytest.mark.parametrize(("raw", "problem"), [
    (b'[[site]]\nid = "a"\nname = "\xff\xfe"\n', "is not UTF-8 text"),
    (b'site = ["north"]\n', "has no [[site]] table"),
    (b'site = [1, 2]\n', "has no [[site]] table"),
])
def test_a_sites_file_that_is_not_tables_of_text_is_one_clear_error(tmp_path: Path, raw: bytes, problem: str) -> None:
    path = tmp_path / "sites.toml"
    path.write_bytes(raw)
    with pytest.raises(ConfigError, match=re.escape(problem)):
        load_sites(path)


def test_sites_given_in_python_must_be_sites(make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(ConfigError, match=r"must be a list of feedbackwidget\.sites\.Site"):
        FeedbackWidget(make_settings(), sites=[{"id": "a"}])  # type: ignore[list-item]


def test_a_server_without_the_sites_of_its_store_does_not_start(make_settings: Callable[..., Settings]) -> None:
    """One server of a fleet started without the others' sites file would count the named sites'
    pages as its one site's: it refuses to open, saying why."""
    settings = make_settings()
    with TestClient(FeedbackWidget(settings, sites=two_sites())) as client:
        assert vote(client, SOUTH, "story").status_code == 200
    with pytest.raises(ConfigError, match="SITES_FILE: is not set, but this store holds the sites south"), \
            TestClient(FeedbackWidget(settings)):
        pass


@pytest.mark.parametrize(
    ("north", "south", "problem"),
    [
        ([NORTH], [NORTH], "belongs to both"),
        (["https://*.news.example"], ["https://south.news.example"], "belongs to both"),
        (["https://a.news.example"], ["https://*.news.example"], "belongs to both"),
        (["https://*.news.example"], ["https://*.south.news.example"], "belongs to both"),
        (["*"], [SOUTH], "'*' would take every other site's pages"),
        ([], [SOUTH], "has no allowed_origins"),
    ],
)
def test_sites_never_share_an_origin(north: list[str], south: list[str], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        Sites([Site("north", north), Site("south", south)])


def test_a_site_named_twice_is_refused() -> None:
    with pytest.raises(ConfigError, match="named twice"):
        Sites([Site("north", [NORTH]), Site("north", [SOUTH])])


_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 50), st.text(max_size=40),
                    st.lists(st.text(max_size=30), max_size=3))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["id", "allowed_origins", "name", "lang", "tokens", "min_votes",
                                        "reasons", "reason_text", "allowed_hostnames", "hcaptcha_sitekey",
                                        "colour"]), _VALUES))
def test_any_site_table_is_a_site_or_one_config_error(table: dict[str, Any]) -> None:
    try:
        site = site_from_table(table, "sites file x.toml")
    except ConfigError as error:
        assert error.detail.startswith("sites file x.toml: ") and "\n" not in error.detail
    else:
        assert site.id == table["id"]


def test_the_environment_is_one_default_site(make_settings: Callable[..., Settings]) -> None:
    widget = FeedbackWidget(make_settings(allowed_origins="*"))
    assert [s.id for s in widget.sites] == ["default"] and not widget.sites.named


def test_the_sites_file_setting_is_read_by_the_app(make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    path = tmp_path / "sites.toml"
    path.write_text(f'[[site]]\nid = "north"\nallowed_origins = ["{NORTH}"]\n\n'
                    f'[[site]]\nid = "south"\nallowed_origins = ["{NORTH}"]\n')
    with pytest.raises(ConfigError, match=r"FEEDBACKWIDGET_SITES_FILE: .*belongs to both"):
        FeedbackWidget(make_settings(sites_file=str(path)))


# -- the request's site ----------------------------------------------------------------------


def test_the_same_article_id_on_two_sites_is_two_articles(sites_client: TestClient) -> None:
    answer = vote(sites_client, NORTH, "story", "up")
    assert answer.status_code == 200 and answer.json()["site"] == "north"
    assert vote(sites_client, "https://www.south.example", "story", "down").json()["site"] == "south"
    assert vote(sites_client, SOUTH, "story", "down").status_code == 200
    assert tally(sites_client, NORTH, "story") == (1, 0)
    assert tally(sites_client, SOUTH, "story") == (0, 2)
    # The widget's own ?site= agrees with the Origin: the same answers.
    assert sites_client.get("/api/v1/articles/story?site=south").json()["down"] == 2


def test_a_page_cannot_act_for_a_site_it_is_not_on(sites_client: TestClient) -> None:
    refused = vote(sites_client, NORTH, "story", "up", query="?site=south")
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden_origin"
    assert vote(sites_client, "https://elsewhere.example", "story").json()["error"] == "forbidden_origin"
    assert tally(sites_client, SOUTH, "story") == (0, 0) and tally(sites_client, NORTH, "story") == (0, 0)


def test_an_unknown_site_is_not_found(sites_client: TestClient) -> None:
    for answer in (sites_client.get("/api/v1/articles/story?site=west"),
                   sites_client.get("/sites/west/admin")):
        assert answer.status_code == 404 and answer.json()["error"] == "not_found"


def test_public_tallies_vary_by_origin(sites_client: TestClient) -> None:
    answer = sites_client.get("/api/v1/articles/story", headers={"Origin": NORTH})
    assert answer.headers["vary"] == "Origin" and answer.json()["site"] == "north"


def test_one_reader_is_two_unlinkable_voters(sites_client: TestClient) -> None:
    voter = vote(sites_client, NORTH, "story").json()["voter"]
    again = sites_client.post("/api/v1/votes", json=vote_body("story", "up"),
                              headers={"Origin": SOUTH, "X-Feedback-Voter": voter})
    assert again.status_code == 200
    auth = {"Authorization": f"Bearer {SERVER_TOKEN}"}
    north = rows(sites_client.get("/sites/north/api/v1/export?kind=votes", headers=auth))
    south = rows(sites_client.get("/sites/south/api/v1/export?kind=votes", headers=auth))
    assert len(north) == len(south) == 1 and north[0]["voter"] != south[0]["voter"]


def test_signed_markup_vouches_for_its_own_site_only(make_settings: Callable[..., Settings]) -> None:
    widget = FeedbackWidget(make_settings(export_token=SERVER_TOKEN), sites=two_sites())
    markup = str(widget.embed("story", title="Signed title", site="north"))
    assert 'data-feedback-site="north"' in markup and 'lang="uk"' in markup
    signed = markup.split('data-feedback-signed="')[1].split('"')[0]
    with TestClient(widget) as client:
        assert vote(client, NORTH, "story", signed=signed).status_code == 200
        elsewhere = vote(client, SOUTH, "story", signed=signed, title="Unsigned")  # the sites disagree
        assert elsewhere.status_code == 403 and elsewhere.json()["error"] == "forbidden_origin"
        forged = signed[:-2] + ("AA" if not signed.endswith("AA") else "BB")  # no site's: simply unsigned
        assert vote(client, SOUTH, "story", signed=forged, title="Unsigned").status_code == 200
        auth = {"Authorization": f"Bearer {SERVER_TOKEN}"}
        north = rows(client.get("/sites/north/api/v1/export?kind=articles", headers=auth))
        south = rows(client.get("/sites/south/api/v1/export?kind=articles", headers=auth))
    assert north[0]["title"] == "Signed title"
    assert south[0]["title"] == "Unsigned"  # the first untrusted title, not the other site's signed one
    with pytest.raises(ValueError, match="no site 'west'"):
        widget.embed("story", site="west")


def test_each_site_uses_its_own_captcha_keys(make_settings: Callable[..., Settings]) -> None:
    sites = two_sites(hcaptcha_secret="not-the-stand-in-secret", hcaptcha_sitekey="north-sitekey")
    with TestClient(FeedbackWidget(make_settings(), sites=sites)) as client:
        assert client.get("/healthz").json()["status"] == "ok"
        wrong = vote(client, NORTH, "story")
        assert wrong.status_code == 503 and wrong.json()["error"] == "captcha_unavailable"
        assert vote(client, SOUTH, "story").status_code == 200
        health = client.get("/healthz").json()  # whichever site the request is, north's trouble shows
        assert health["status"] == "degraded" and health["detail"].startswith("site north: ")
        north = client.get("/widget-actions.js?lang=en", headers={"Origin": NORTH})
        south = client.get("/widget-actions.js?lang=en&site=south")
        assert "north-sitekey" in north.text and "north-sitekey" not in south.text
        assert "Origin" in north.headers.get_list("vary") and "Origin" not in south.headers.get_list("vary")


def test_the_embed_page_may_be_framed_by_its_site_only(sites_client: TestClient) -> None:
    page = sites_client.get("/embed/story?site=north")
    policy = page.headers["content-security-policy"]
    assert f"frame-ancestors 'self' {NORTH}" in policy and SOUTH not in policy
    assert '<html lang="uk"' in page.text  # the site's language when the page names none
    assert "frame-ancestors 'self' https://south.example https://*.south.example" in sites_client.get(
        "/embed/story?site=south").headers["content-security-policy"]


# -- tokens, dashboards and exports ------------------------------------------------------------


def test_a_site_token_reads_its_own_site_only(sites_client: TestClient) -> None:
    vote(sites_client, NORTH, "story", "up")
    vote(sites_client, SOUTH, "story", "down")
    north = {"Authorization": f"Bearer {NORTH_TOKEN}"}
    mine = rows(sites_client.get("/sites/north/api/v1/export?kind=votes", headers=north))
    assert [(r["article_id"], r["vote"], r["site"]) for r in mine] == [("story", "up", "north")]
    assert sites_client.get("/sites/south/api/v1/export?kind=votes", headers=north).status_code == 401
    assert sites_client.get("/api/v1/export?kind=votes&site=south", headers=north).status_code == 401
    assert sites_client.get("/sites/south/admin", headers=north).status_code == 401
    listing = sites_client.get("/sites/north/api/v1/articles", headers=north).json()["articles"]
    assert [(a["article_id"], a["up"], a["down"]) for a in listing] == [("story", 1, 0)]


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
@pytest.mark.parametrize("kind", ["votes", "events", "articles", "daily"])
def test_every_export_kind_carries_and_filters_by_site(sites_client: TestClient, kind: str, fmt: str) -> None:
    for origin, article, value in [(NORTH, "n1", "up"), (NORTH, "both", "down"), (SOUTH, "both", "up")]:
        assert vote(sites_client, origin, article, value).status_code == 200
    auth = {"Authorization": f"Bearer {SERVER_TOKEN}"}
    for site, expected in [("north", {"n1", "both"}), ("south", {"both"})]:
        answer = sites_client.get(f"/sites/{site}/api/v1/export?kind={kind}&format={fmt}", headers=auth)
        assert answer.status_code == 200, answer.text
        assert f"feedbackwidget-{site}-{kind}" in answer.headers["content-disposition"]
        found = rows(answer) if fmt == "csv" else [json.loads(line) for line in answer.text.splitlines()]
        assert {r["article_id"] for r in found} == expected and {r["site"] for r in found} == {site}
        if fmt == "csv":
            assert answer.text.splitlines()[0].endswith(",site")


def test_the_dashboard_switches_between_the_sites_a_token_reads(sites_client: TestClient) -> None:
    vote(sites_client, NORTH, "north-only", "up")
    vote(sites_client, SOUTH, "south-only", "down")
    sites_client.cookies.clear()
    html = {"Accept": "text/html"}
    signed_in = sites_client.post("/sites/north/admin/login", data={"token": SERVER_TOKEN}, headers=html,
                                  follow_redirects=False)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/sites/north/admin"
    north = sites_client.get("/sites/north/admin", headers=html)
    assert north.status_code == 200 and "north-only" in north.text and "south-only" not in north.text
    assert 'href="/sites/south/admin"' in north.text and "The North Edition" in north.text
    assert 'href="/sites/north/api/v1/export?' in north.text  # the page's exports stay on its site
    south = sites_client.get("/sites/south/admin", headers=html)  # the same session, the other site
    assert south.status_code == 200 and "south-only" in south.text and "north-only" not in south.text
    sites_client.cookies.clear()
    only = sites_client.get("/sites/south/admin", headers={**html, "Authorization": f"Bearer {SOUTH_TOKEN}"})
    assert only.status_code == 200 and 'href="/sites/north/admin"' not in only.text


def test_webhook_deliveries_are_the_servers_not_a_sites(make_settings: Callable[..., Settings]) -> None:
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    settings = make_settings(export_token=SERVER_TOKEN, webhook_urls="https://hooks.example/in",
                             webhook_secrets=secret, webhook_allowed_hosts="hooks.example")
    with TestClient(FeedbackWidget(settings, sites=two_sites())) as client:
        html = {"Accept": "text/html"}
        server = client.get("/sites/south/admin/webhooks", headers={**html, "Authorization": f"Bearer {SERVER_TOKEN}"})
        assert server.status_code == 200 and "https://hooks.example" in server.text
        site = {**html, "Authorization": f"Bearer {SOUTH_TOKEN}"}
        assert client.get("/sites/south/admin/webhooks", headers=site).status_code == 401
        page = client.get("/sites/south/admin", headers=site)
        assert page.status_code == 200 and "Webhook deliveries" not in page.text


def test_the_cli_exports_one_site_or_every_site(make_settings: Callable[..., Settings], db_url: str,
                                                tmp_path: Path) -> None:
    with TestClient(FeedbackWidget(make_settings(), sites=two_sites())) as client:
        vote(client, NORTH, "story", "up")
        vote(client, SOUTH, "story", "down")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDBACKWIDGET_")}
    cli = [sys.executable, "-m", "feedbackwidget.cli", "export", "--format", "csv", "--database-url", db_url]

    def export(*args: str, **extra: str) -> list[dict[str, str]]:
        done = subprocess.run([*cli, *args], env={**env, **extra}, capture_output=True, text=True, timeout=60,
                              check=False)
        assert done.returncode == 0, done.stderr
        return list(csv.DictReader(io.StringIO(done.stdout)))

    north = export("--site", "north")
    assert [(r["article_id"], r["vote"], r["site"]) for r in north] == [("story", "up", "north")]
    every = export("--site", "*")
    assert sorted((r["site"], r["article_id"], r["vote"]) for r in every) == [
        ("north", "story", "up"), ("south", "story", "down")]
    assert export() == every  # the store holds named sites: every site by default
    sites_file = tmp_path / "sites.toml"
    sites_file.write_text(f'[[site]]\nid = "north"\nallowed_origins = ["{NORTH}"]\n\n'
                          f'[[site]]\nid = "south"\nallowed_origins = ["{SOUTH}"]\n')
    assert export(FEEDBACKWIDGET_SITES_FILE=str(sites_file)) == every
    for args, extra, problem in [
        (["--site", "No Such"], {}, "--site: 'No Such' is not a site id"),
        (["--site", "west"], {}, "--site: this store has no site 'west' (it has: default, north, south)"),
        (["--site", "west"], {"FEEDBACKWIDGET_SITES_FILE": str(sites_file)},
         "--site: FEEDBACKWIDGET_SITES_FILE has no site 'west' (it has: north, south)"),
        ([], {"FEEDBACKWIDGET_SITES_FILE": str(tmp_path / "missing.toml")}, "cannot be read"),
    ]:
        refused = subprocess.run([*cli, *args], env={**env, **extra}, capture_output=True, text=True, timeout=60,
                                 check=False)
        assert refused.returncode == 2 and problem in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr and refused.stdout == ""


def test_one_site_given_is_a_site_with_its_own_settings_and_ids(make_settings: Callable[..., Settings]) -> None:
    """A sites file with one [[site]] is not the environment's single site: its origins, keys and
    tokens apply, and its articles are its own (a second site may join later without moving them)."""
    settings = make_settings(export_token=SERVER_TOKEN, allowed_origins=SOUTH)
    with TestClient(FeedbackWidget(settings, sites=[Site("north", [NORTH], tokens=[NORTH_TOKEN])])) as client:
        assert vote(client, SOUTH, "story").json()["error"] == "forbidden_origin"  # the server's origins do not apply
        assert vote(client, NORTH, "story").json()["site"] == "north"
        exported = rows(client.get("/sites/north/api/v1/export?kind=votes",
                                   headers={"Authorization": f"Bearer {NORTH_TOKEN}"}))
        assert [(r["article_id"], r["site"]) for r in exported] == [("story", "north")]
    with TestClient(FeedbackWidget(settings, sites=two_sites())) as client:  # south joins: north's vote stays north's
        assert tally(client, NORTH, "story") == (1, 0) and tally(client, SOUTH, "story") == (0, 0)


def test_a_form_vote_goes_back_to_its_sites_embed_page(sites_client: TestClient) -> None:
    answer = sites_client.post("/api/v1/votes?site=south", data=vote_body("story", "down"), follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/sites/south/embed/story")
    page = sites_client.get(answer.headers["location"])
    assert page.status_code == 200 and "https://south.example" in page.headers["content-security-policy"]
    assert tally(sites_client, SOUTH, "story") == (0, 1) and tally(sites_client, NORTH, "story") == (0, 0)


def test_a_parquet_export_carries_its_site_too(sites_client: TestClient) -> None:
    import pyarrow.parquet as pq  # the parquet extra, installed for the tests
    vote(sites_client, NORTH, "story", "up")
    vote(sites_client, SOUTH, "story", "down")
    answer = sites_client.get("/sites/south/api/v1/export?kind=events&format=parquet",
                              headers={"Authorization": f"Bearer {SOUTH_TOKEN}"})
    assert answer.status_code == 200, answer.text
    table = pq.read_table(io.BytesIO(answer.content))
    assert table.column_names[-1] == "site"
    assert table.to_pylist() and {(r["article_id"], r["vote"], r["site"]) for r in table.to_pylist()} == {
        ("story", "down", "south")}


def test_a_site_editor_who_comes_to_the_plain_dashboard_lands_on_their_site(sites_client: TestClient) -> None:
    html = {"Accept": "text/html"}
    sent = sites_client.get("/admin", headers={**html, "Authorization": f"Bearer {SOUTH_TOKEN}"}, follow_redirects=False)
    assert sent.status_code == 303 and sent.headers["location"] == "/sites/south/admin"
    signed_in = sites_client.post("/admin/login", data={"token": SOUTH_TOKEN}, headers=html, follow_redirects=False)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/sites/south/admin"
    assert sites_client.get("/admin", headers=html, follow_redirects=False).headers["location"] == "/sites/south/admin"
    assert sites_client.get("/sites/south/admin", headers=html).status_code == 200
    assert sites_client.get("/sites/north/api/v1/export", headers=html).status_code == 401  # still not north's
    wrong = sites_client.post("/admin/login", data={"token": "nobody-0123456789abcdef"}, headers=html)
    assert wrong.status_code == 401


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["site", "website", "xsite", "s", "", "%73ite", "site "]),
                          st.text(alphabet="ab%2F&=+ ;", max_size=5)), max_size=5))
def test_the_site_parameter_is_read_as_parse_qsl_reads_it(parts: list[tuple[str, str]]) -> None:
    """The request's ``site=`` is found without parsing the whole query (web/runtime.py), and is
    exactly the first non-blank ``site`` that ``urllib.parse.parse_qsl`` finds."""
    query = "&".join(f"{name}={value}" for name, value in parts).encode()
    expected = next((v for n, v in parse_qsl(query.decode("latin-1")) if n == "site"), None)
    assert _query_site(query) == expected
