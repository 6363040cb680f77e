"""Settings validation and signed tokens (rotation, expiry with an injected clock)."""

from __future__ import annotations

import pytest

from feedbackwidget import FeedbackWidget, Settings
from feedbackwidget.errors import ConfigError
from feedbackwidget.tokens import CLOCK_SKEW, Tokens, client_key, pseudonym, same_secret


def test_from_env_reads_prefixed_variables_and_overrides_win() -> None:
    s = Settings.from_env(
        {
            "FEEDBACKWIDGET_SECRET_KEY": "k",
            "FEEDBACKWIDGET_ALLOWED_ORIGINS": "https://A.example, https://b.example:8443/",
            "FEEDBACKWIDGET_RATE_LIMIT": "5/10seconds",
            "FEEDBACKWIDGET_TRUSTED_PROXIES": "10.0.0.0/8, ::1",
            "FEEDBACKWIDGET_HCAPTCHA_TIMEOUT": "2.5",
            "FEEDBACKWIDGET_PUBLIC_URL": "https://feedback.example/fw/",
        },
        database_url="sqlite:///x.db",
    )
    assert s.allowed_origins == ("https://a.example", "https://b.example:8443")
    assert (s.rate_limit.count, s.rate_limit.period) == (5, 10.0)
    assert s.trusted_proxies == ("10.0.0.0/8", "::1")
    assert s.hcaptcha_timeout == 2.5
    assert s.public_url == "https://feedback.example/fw"
    assert s.database_url == "sqlite:///x.db"


def test_repr_hides_secrets() -> None:
    s = Settings(secret_key="very-secret", hcaptcha_secret="hc-secret", export_token="tok-secret")
    assert "secret" not in repr(s).replace("secret_key", "").replace("hcaptcha_secret", "").replace("_secret", "")
    assert "very-secret" not in repr(s) and "hc-secret" not in repr(s) and "tok-secret" not in repr(s)


@pytest.mark.parametrize(
    ("kwargs", "variable"),
    [
        ({}, "FEEDBACKWIDGET_SECRET_KEY"),
        ({"secret_key": "k", "rate_limit": "0/minute"}, "FEEDBACKWIDGET_RATE_LIMIT"),
        ({"secret_key": "k", "public_url": "ftp://x"}, "FEEDBACKWIDGET_PUBLIC_URL"),
        ({"secret_key": "k", "redis_url": "http://x"}, "FEEDBACKWIDGET_REDIS_URL"),
        ({"secret_key": "k", "hcaptcha_verify_url": "not a url"}, "FEEDBACKWIDGET_HCAPTCHA_VERIFY_URL"),
        ({"secret_key": "k", "allowed_origins": "https://x.example/path"}, "FEEDBACKWIDGET_ALLOWED_ORIGINS"),
    ],
)
def test_bad_values_name_their_variable(kwargs: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings(**kwargs)
    assert caught.value.variable == variable
    assert str(caught.value).startswith(variable)


def test_demo_is_the_only_way_without_a_secret_key() -> None:
    assert Settings(demo=True).secret_key
    with pytest.raises(ConfigError):
        Settings(demo=False)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_voter_token_expires_and_is_reissued_past_half_life() -> None:
    clock = Clock()
    tokens = Tokens("key", voter_max_age=100 * 86400, clock=clock)
    token, voter_id = tokens.new_voter()
    assert tokens.voter(token) == tokens.voter(token)
    fresh = tokens.voter(token)
    assert fresh is not None and fresh.voter_id == voter_id and fresh.reissue is None
    clock.now += 51 * 86400
    older = tokens.voter(token)
    assert older is not None and older.reissue is not None
    clock.now += 50 * 86400
    assert tokens.voter(token) is None  # past max age: nobody
    renewed = tokens.voter(older.reissue)
    assert renewed is not None and renewed.voter_id == voter_id


@pytest.mark.parametrize("ahead", [5, CLOCK_SKEW - 1, -5, -(CLOCK_SKEW - 1)])
def test_voter_token_from_a_server_with_another_clock_keeps_the_reader(ahead: int) -> None:
    """A token signed by a server ``ahead`` seconds ahead of this one names the same reader,
    and is not re-issued (that would replace nothing, but costs a cookie per request)."""
    here, there = Clock(), Clock()
    there.now += ahead
    token, voter_id = Tokens("key", clock=there).new_voter()
    seen = Tokens("key", clock=here).voter(token)
    assert seen is not None and seen.voter_id == voter_id and seen.reissue is None


def test_voter_token_from_too_far_in_the_future_is_refused_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    here, there = Clock(), Clock()
    there.now += CLOCK_SKEW + 5
    token, _ = Tokens("key", clock=there).new_voter()
    with caplog.at_level("WARNING", logger="feedbackwidget"):
        assert Tokens("key", clock=here).voter(token) is None
        assert Tokens("key", clock=here).voter(token) is None
    lines = [r.getMessage() for r in caplog.records if "clocks disagree" in r.getMessage()]
    assert len(lines) == 2 and "voter token" in lines[0] and token not in lines[0]


def test_voter_token_expiry_allows_for_the_signing_servers_clock() -> None:
    clock = Clock()
    tokens = Tokens("key", voter_max_age=1000, clock=clock)
    token, _ = tokens.new_voter()
    clock.now += 1000 + CLOCK_SKEW - 1
    assert tokens.voter(token) is not None
    clock.now += 2
    assert tokens.voter(token) is None


def test_sessions_and_form_tokens_share_the_key_ring() -> None:
    old = Tokens("old")
    session = old.new_session("export")
    nonce = old.session(session, "export")
    assert nonce is not None
    rotated = Tokens("new", ["old"])
    assert rotated.session(session, "export") == nonce
    assert rotated.form_token_ok(old.form_token(nonce), nonce)
    assert rotated.form_token_ok(rotated.form_token(nonce), nonce)
    assert not rotated.form_token_ok(rotated.form_token(nonce + "x"), nonce)
    assert rotated.session(session, "another export token") is None
    assert Tokens("new").session(session, "export") is None
    assert rotated.session(rotated.new_voter()[0], "export") is None  # another purpose


def test_embed_signature_survives_rotation() -> None:
    signed = Tokens("old").sign_embed("a", "Title", "3")
    assert Tokens("new", ["old"]).embed(signed, "a") == ("Title", "3")
    assert Tokens("new").embed(signed, "a") is None
    assert Tokens("new", ["old"]).embed(signed, "b") is None


def test_rotation_accepts_fallback_and_reissues_with_the_new_key() -> None:
    token, voter_id = Tokens("old").new_voter()
    rotated = Tokens("new", ["old"])
    seen = rotated.voter(token)
    assert seen is not None and seen.voter_id == voter_id and seen.reissue
    assert Tokens("new").voter(seen.reissue) is not None
    assert Tokens("new").voter(token) is None  # once the fallback is dropped


def test_tokens_have_one_salt_per_purpose() -> None:
    tokens = Tokens("key")
    embed = tokens.sign_embed("a", "t", None)
    voter, _ = tokens.new_voter()
    assert tokens.voter(embed) is None
    assert tokens.embed(voter, "a") is None
    assert tokens.embed(embed, "a") == ("t", None)
    assert tokens.embed(embed, "b") is None


def test_pseudonym_and_client_key_are_keyed() -> None:
    assert pseudonym(b"a", "v") != pseudonym(b"b", "v")
    assert len(pseudonym(b"a", "v")) == 32
    assert client_key(b"k", "2001:db8::1") == client_key(b"k", "2001:db8::ffff:1")
    assert client_key(b"k", "2001:db8::1") != client_key(b"k", "2001:db8:0:1::1")
    assert client_key(b"k", "::ffff:1.2.3.4") == client_key(b"k", "1.2.3.4")
    assert "1.2.3.4" not in client_key(b"k", "1.2.3.4")


def test_same_secret() -> None:
    assert same_secret("abc", "abc")
    assert not same_secret("abc", "abd") and not same_secret("", "") and not same_secret(None, "x")


def test_embed_markup_escapes_and_signs(settings: Settings) -> None:
    widget = FeedbackWidget(settings.replace(public_url="https://fb.example/p"))
    html = str(widget.embed('a"><script>', title="<b>T</b>", version="v2", lang="hy"))
    assert "<script>" not in html.split("<script src")[0]
    assert 'data-feedback-article="a&#34;&gt;&lt;script&gt;"' in html
    assert 'src="https://fb.example/p/widget.js"' in html
    assert 'lang="hy"' in html and 'data-feedback-version="v2"' in html
    with pytest.raises(ValueError):
        widget.embed("")


def test_article_id_check_matches_unicode_categories() -> None:
    """The compiled character class is exactly Unicode's Cc and Cs categories."""
    import unicodedata

    from feedbackwidget.validate import clean as _clean

    for code in range(0x110000):
        ch = chr(code)
        assert _clean(ch) == (unicodedata.category(ch) not in ("Cc", "Cs")), hex(code)
