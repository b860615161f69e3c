"""`metpost accounts verify` for Mastodon (verify_credentials), Bluesky (the session's handle),
and webhooks and feeds, which cannot say whom credentials belong to: over real HTTP against
the fakes, through Mastodon.py and atproto. Nothing is posted."""

from __future__ import annotations

import json

from tests.conftest import run, write_project
from tests.fake_platforms.bluesky_api import FakeBluesky
from tests.fake_platforms.mastodon_api import FakeMastodon

MASTODON_TOKEN = "hackney-mastodon-t0ken"
BLUESKY_PASSWORD = "hackney-app-pass-s3cret"


def verified(config, env) -> tuple[int, dict[str, dict]]:
    outcome = run(["accounts", "verify", "--config", str(config), "--json"], env=env)
    return outcome.exit_code, {a.pop("account"): a for a in json.loads(outcome.stdout)["accounts"]}


def project_with(tmp_path, accounts: str):
    return write_project(tmp_path / "project", "accounts:\n" + accounts)


def test_mastodon_and_bluesky_say_whose_credentials_they_are(tmp_path):
    with FakeMastodon() as mastodon, FakeBluesky() as bluesky:
        mastodon.add_account("1001", "mpshackney", MASTODON_TOKEN)
        bluesky.add_account("did:plc:hackney0000000000000001", "mpshackney.bsky.social",
                            BLUESKY_PASSWORD)
        config = project_with(tmp_path, f"""\
  - name: hackney-mastodon
    platform: mastodon
    handle: "@MPSHackney@social.example"
    api_url: {mastodon.url}
    credentials: {{access_token: '${{MASTODON_TOKEN}}'}}
  - name: hackney-mastodon-short
    platform: mastodon
    handle: "@mpshackney"
    api_url: {mastodon.url}
    credentials: {{access_token: '${{MASTODON_TOKEN}}'}}
  - name: hackney-bluesky
    platform: bluesky
    handle: mpshackney.bsky.social
    api_url: {bluesky.url}
    credentials: {{app_password: '${{BLUESKY_PASSWORD}}'}}
  - name: hackney-hook
    platform: webhook
    url: http://127.0.0.1:9/hook
  - name: hackney-feed
    platform: feed
    path: feed.xml
""")
        code, found = verified(config, {"MASTODON_TOKEN": MASTODON_TOKEN,
                                        "BLUESKY_PASSWORD": BLUESKY_PASSWORD})
        assert code == 0
        assert found == {
            "hackney-mastodon": {"ok": True, "platform_handle": "@mpshackney@social.example",
                                 "problem": None},
            "hackney-mastodon-short": {"ok": True, "platform_handle": "@mpshackney",
                                       "problem": None},
            "hackney-bluesky": {"ok": True, "platform_handle": "mpshackney.bsky.social",
                                "problem": None},
            "hackney-hook": {"ok": None, "platform_handle": None, "problem":
                             "Webhook cannot say whom credentials belong to; not checked"},
            "hackney-feed": {"ok": None, "platform_handle": None, "problem":
                             "Atom feed cannot say whom credentials belong to; not checked"}}
        asked = [r.path for r in mastodon.requests]
        assert asked == ["/api/v1/accounts/verify_credentials"] * 2
        assert [r.path for r in bluesky.requests] == ["/xrpc/com.atproto.server.createSession"]
        assert not [r for r in mastodon.requests + bluesky.requests
                    if r.method != "GET" and "createSession" not in r.path]


def test_another_account_or_a_refused_secret_is_a_problem(tmp_path):
    with FakeMastodon() as mastodon, FakeBluesky() as bluesky:
        mastodon.add_account("1001", "mpscamden", MASTODON_TOKEN)
        bluesky.add_account("did:plc:hackney0000000000000001", "mpshackney.bsky.social",
                            BLUESKY_PASSWORD)
        bluesky.revoke(BLUESKY_PASSWORD)
        config = project_with(tmp_path, f"""\
  - name: hackney-mastodon
    platform: mastodon
    handle: "@mpshackney@social.example"
    api_url: {mastodon.url}
    credentials: {{access_token: '${{MASTODON_TOKEN}}'}}
  - name: hackney-bluesky
    platform: bluesky
    handle: mpshackney.bsky.social
    api_url: {bluesky.url}
    credentials: {{app_password: '${{BLUESKY_PASSWORD}}'}}
""")
        code, found = verified(config, {"MASTODON_TOKEN": MASTODON_TOKEN,
                                        "BLUESKY_PASSWORD": BLUESKY_PASSWORD})
        assert code == 1
        assert found["hackney-mastodon"] == {
            "ok": False, "platform_handle": "@mpscamden@social.example",
            "problem": "the credentials belong to @mpscamden@social.example, not "
                       "@mpshackney@social.example as accounts.yaml says; fix the handle or "
                       "the credentials"}
        assert found["hackney-bluesky"] == {
            "ok": False, "platform_handle": None,
            "problem": "Bluesky refused the app password or session: AuthenticationRequired: "
                       "Invalid identifier or password"}
        mastodon.revoke(MASTODON_TOKEN)
        code, found = verified(config, {"MASTODON_TOKEN": MASTODON_TOKEN,
                                        "BLUESKY_PASSWORD": BLUESKY_PASSWORD})
        assert found["hackney-mastodon"]["problem"] == (
            "Mastodon refused the access token (revoked or wrong): The access token is invalid")
