"""Every setting, written in any form a publisher might reasonably write it, is normalised to
what browsers and services send, or refused with one line naming the variable."""

from __future__ import annotations

import logging
from dataclasses import fields
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedbackwidget import Settings
from feedbackwidget.config_values import matches_host
from feedbackwidget.errors import ConfigError

BASE = {"secret_key": "k" * 32}


@pytest.mark.parametrize(
    ("name", "written", "meant"),
    [
        ("allowed_origins", "https://News.Example/", ("https://news.example",)),
        ("allowed_origins", "https://news.example:443, http://news.example:80", ("https://news.example", "http://news.example")),
        ("allowed_origins", "https://a.example https://b.example", ("https://a.example", "https://b.example")),
        ("allowed_origins", "https://a.example;https://b.example;", ("https://a.example", "https://b.example")),
        ("allowed_origins", "https://bücher.example", ("https://xn--bcher-kva.example",)),
        ("allowed_origins", "https://*.News.example", ("https://*.news.example",)),
        ("allowed_origins", "https://a.example, https://A.example", ("https://a.example",)),
        ("allowed_origins", "http://[::1]:8000", ("http://[::1]:8000",)),
        ("allowed_hostnames", "News.Example., https://other.example:8443/x", ("news.example", "other.example")),
        ("allowed_hostnames", "news.example:443", ("news.example",)),
        ("allowed_hostnames", "bücher.example", ("xn--bcher-kva.example",)),
        ("public_url", "https://News.Example:443/feedback/", "https://news.example/feedback"),
        ("public_url", "/feedback/", "/feedback"),
        ("public_url", "https://news.example//feedback//", "https://news.example/feedback"),
        ("public_url", "https://news.example/", "https://news.example"),
        ("hcaptcha_timeout", "5s", 5.0),
        ("hcaptcha_timeout", "2500ms", 2.5),
        ("hcaptcha_timeout", " 3 ", 3.0),
        ("min_votes", "10.0", 10),
        ("reasons", "Too-Long, unclear  biased", ("too-long", "unclear", "biased")),
        ("reason_text", "Yes", True),
        ("trusted_proxies", "10.0.0.1/8 localhost", ("10.0.0.0/8", "127.0.0.1", "::1")),
        ("trusted_proxies", "192.168.1.1/32", ("192.168.1.1",)),
        ("database_url", "postgres://u@h/db", "postgresql://u@h/db"),
        ("database_url", "postgresql+asyncpg://u@h/db", "postgresql://u@h/db"),
        ("database_url", "SQLITE:///x.db", "sqlite:///x.db"),
        ("secret_key_fallbacks", "old1, old2,old1", ("old1", "old2")),
    ],
)
def test_reasonable_forms_are_normalised(name: str, written: str, meant: Any) -> None:
    extra = {"reasons": "a"} if name == "reason_text" else {}
    assert getattr(Settings(**{**BASE, **extra, name: written}), name) == meant


@pytest.mark.parametrize(
    ("limit", "count", "period"),
    [("30/minute", 30, 60.0), ("30/min", 30, 60.0), ("30 per minute", 30, 60.0), ("30/m", 30, 60.0),
     ("5/10s", 5, 10.0), ("5/10 seconds", 5, 10.0), ("100/Hour", 100, 3600.0), ("1000/day", 1000, 86400.0),
     ("2/1.5h", 2, 5400.0)],
)
def test_rate_limit_forms(limit: str, count: int, period: float) -> None:
    parsed = Settings(**BASE, rate_limit=limit).rate_limit
    assert (parsed.count, parsed.period) == (count, period)


@pytest.mark.parametrize(
    ("name", "written"),
    [
        ("allowed_origins", "news.example"),  # which scheme? refusing beats guessing
        ("allowed_origins", "https://news.example/articles"),
        ("allowed_origins", "null"),
        ("allowed_origins", "https://news.example:99999"),
        ("public_url", "feedback.example.com"),
        ("public_url", "https://news.example/feedback?x=1"),
        ("public_url", "https://*.news.example/"),
        ("hcaptcha_timeout", "five"),
        ("hcaptcha_timeout", "0"),
        ("hcaptcha_timeout", "5 fortnights"),
        ("min_votes", "-1"),
        ("min_votes", "2.5"),
        ("rate_limit", "30"),
        ("rate_limit", "0/minute"),
        ("rate_limit", "30/fortnight"),
        ("reasons", "too long"),  # two codes, "too" and "long": fine — but this one is not:
        ("trusted_proxies", "proxy.internal"),
        ("redis_url", "localhost:6379"),
        ("database_url", "sqlite://x.db"),
        ("database_url", "mysql://h/db"),
        ("database_url", "postgresql://h:port/db"),
        ("reason_text", "maybe"),
    ],
)
def test_unreasonable_forms_are_refused_naming_the_variable(name: str, written: str) -> None:
    if name == "reasons":
        written = "bad code!"
    with pytest.raises(ConfigError) as caught:
        Settings(**{**BASE, name: written})
    assert caught.value.variable == "FEEDBACKWIDGET_" + name.upper()
    assert "\n" not in str(caught.value)


def test_env_values_lose_surrounding_quotes_and_space() -> None:
    s = Settings.from_env({"FEEDBACKWIDGET_SECRET_KEY": ' "quoted-key" ', "FEEDBACKWIDGET_EXPORT_TOKEN": "'tok'"})
    assert (s.secret_key, s.export_token) == ("quoted-key", "tok")


def test_unknown_variable_is_named_in_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    env = {"FEEDBACKWIDGET_SECRET_KEY": "k", "FEEDBACKWIDGET_ALLOWED_ORIGIN": "https://a.example",
           "FEEDBACKWIDGET_ALLOWED_ORIGIN_": "x"}  # warned once per process: a name not seen before
    with caplog.at_level(logging.WARNING, logger="feedbackwidget"):
        s = Settings.from_env(env)
    assert s.allowed_origins == ()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert lines[0].startswith("FEEDBACKWIDGET_ALLOWED_ORIGIN ") and "FEEDBACKWIDGET_ALLOWED_ORIGINS?" in lines[0]


def test_subdomain_patterns_match_subdomains_only() -> None:
    assert matches_host("a.news.example", ["*.news.example"])
    assert not matches_host("news.example", ["*.news.example"])
    assert not matches_host("evilnews.example", ["*.news.example"])
    assert matches_host("News.Example.", ["news.example"])


NAMES = [f.name for f in fields(Settings) if f.init and f.name not in ("secret_key", "demo")]


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(NAMES), value=st.text(max_size=80))
def test_any_string_for_any_setting_is_a_setting_or_one_clear_line(name: str, value: str) -> None:
    try:
        Settings(**{**BASE, name: value})
    except ConfigError as error:
        assert error.variable == "FEEDBACKWIDGET_" + name.upper()
        assert "\n" not in str(error)
