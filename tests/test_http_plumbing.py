"""The HTTP plumbing under tweepy and facebook-sdk: requests go to the account's api_url, with
timeouts, no retries of their own, and the environment's proxy settings read once per client."""

from __future__ import annotations

import pytest
import requests

from metpost.platforms.api import Timeouts
from metpost.platforms.http import routed_session

ORIGIN = "https://api.twitter.com"


@pytest.mark.parametrize("no_proxy, expected", [
    ("", "http://proxy.example:3128"),
    ("api.twitter.com", None),
    (".twitter.com,localhost", None),
])
def test_the_environments_proxy_is_honoured_as_requests_would(monkeypatch, no_proxy, expected):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", no_proxy)
    session = routed_session(requests.Session(), ORIGIN, None, Timeouts())
    assert session.proxies.get("https") == expected
    # Read once: later changes to the environment do not reach a client already made.
    monkeypatch.setenv("HTTPS_PROXY", "http://elsewhere.example:1")
    assert session.merge_environment_settings(f"{ORIGIN}/2/tweets", {}, None, None, None)[
        "proxies"].get("https") == expected


def test_a_ca_bundle_from_the_environment_is_kept(monkeypatch, tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    session = routed_session(requests.Session(), ORIGIN, None, Timeouts())
    assert session.verify == str(bundle)


def test_requests_never_retry_by_themselves():
    session = routed_session(requests.Session(), ORIGIN, "http://127.0.0.1:9", Timeouts())
    assert session.get_adapter(f"{ORIGIN}/2/tweets").max_retries.total == 0


def test_a_client_made_after_the_environment_changes_sees_the_change(monkeypatch):
    # The settings are worked out once per environment, not once per process.
    monkeypatch.setenv("HTTPS_PROXY", "http://first.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    first = routed_session(requests.Session(), ORIGIN, None, Timeouts())
    monkeypatch.setenv("HTTPS_PROXY", "http://second.example:3128")
    second = routed_session(requests.Session(), ORIGIN, None, Timeouts())
    assert first.proxies.get("https") == "http://first.example:3128"
    assert second.proxies.get("https") == "http://second.example:3128"


def test_a_url_that_cannot_be_used_is_told_apart_from_one_that_can():
    from metpost.platforms.http import url_problem

    for good in ("http://127.0.0.1:8080", "https://[::1]:8443/v2/", "https://api.example/x/",
                 "http://host:"):
        assert url_problem(good) is None, good
    assert url_problem("http://:8080") == "names no host"
    assert url_problem("http://[::1:8080").startswith("has a host that cannot be read")
    for port in ("0", "65536", "eighty"):
        assert url_problem(f"http://host:{port}") == (
            "has a port that is not a number from 1 to 65535")
    for appended_to in ("http://host/api?key=1", "http://host/#top", "http://host/?"):
        assert url_problem(appended_to).startswith("has a ? query or # fragment")
        assert url_problem(appended_to, base=False) is None
