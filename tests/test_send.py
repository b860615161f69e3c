"""metpost send against fake X and Graph servers, through the real tweepy and facebook-sdk."""

from __future__ import annotations

import json

import pytest

HACKNEY = "Hackney: rumours of a riot are untrue.\nUpdates: hackney-x."
ARGS = ["send", "--borough", "Hackney", "--template", "rumour-control", "--var", "rumour=a riot"]


def test_send_posts_to_x_and_facebook_with_each_accounts_credentials(fleet):
    outcome = fleet.run([*ARGS, "--yes", "--json"])
    assert outcome.exit_code == 0, outcome.stderr
    assert fleet.x_texts("MPSHackney") == [HACKNEY]
    assert fleet.page_texts("1001") == [HACKNEY.replace("hackney-x", "hackney-facebook")]
    assert fleet.x_texts("MPSCamden") == [] and fleet.page_texts("1002") == []

    tweet = next(r for r in fleet.x.requests if r.method == "POST")
    assert tweet.path == "/2/tweets"
    assert 'oauth_consumer_key="hackney-consumer_key-s3cr3t-value"' in tweet.headers[
        "authorization"]
    page_post = next(r for r in fleet.graph.requests if r.method == "POST")
    assert page_post.path == "/v24.0/1001/feed"
    assert page_post.form()["access_token"] == "hackney-page-token-s3cr3t"

    document = json.loads(outcome.stdout)
    x_post, fb_post = document["posts"]
    x_id = fleet.x.live_posts("MPSHackney")[0].id
    fb_id = fleet.graph.live_posts("1001")[0].id
    assert x_post == {
        "account": "hackney-x", "platform": "x", "handle": "@MPSHackney", "text": HACKNEY,
        "length": len(HACKNEY), "limit": 280, "ok": True, "problems": [],
        "missing_credentials": [], "status": "sent", "remote_id": x_id,
        "url": f"https://x.com/MPSHackney/status/{x_id}", "error": None, "attempts": 1,
        "problem": None}
    assert fb_post["status"] == "sent"
    assert fb_post["remote_id"] == fb_id
    assert fb_post["url"] == f"https://www.facebook.com/1001/posts/{fb_id.split('_')[1]}"
    assert document["dry_run"] is False
    assert document["broadcast"]


def test_secrets_are_used_without_the_white_space_an_env_file_leaves(fleet):
    # A Windows-edited environment file ends each value with "\r"; no token has white space.
    padded = {name: f" {value}\r\n" for name, value in fleet.env.items()
              if name.startswith("HACKNEY_")}
    outcome = fleet.run([*ARGS, "--yes"], env=padded)
    assert outcome.exit_code == 0, outcome.stdout + outcome.stderr
    assert fleet.x_texts("MPSHackney") == [HACKNEY]
    assert fleet.page_texts("1001") == [HACKNEY.replace("hackney-x", "hackney-facebook")]
    page_post = next(r for r in fleet.graph.requests if r.method == "POST")
    assert page_post.form()["access_token"] == "hackney-page-token-s3cr3t"


def test_a_padded_secret_is_used_and_redacted_without_its_white_space():
    from metpost.models import Account
    from metpost.secrets import REDACT, resolve_credentials

    account = Account(name="a", platform="x", credentials={"token": "PADDED_TOKEN"})
    values, missing = resolve_credentials(account, {"PADDED_TOKEN": " padded-9f3k2qz\r\n"})
    assert values == {"token": "padded-9f3k2qz"} and missing == []
    assert "padded-9f3k2qz" not in REDACT("the platform echoed padded-9f3k2qz back")


def test_plain_output_lists_each_post_and_a_summary(fleet):
    outcome = fleet.run([*ARGS, "--yes"])
    assert outcome.exit_code == 0
    lines = outcome.stdout.splitlines()
    x_id = fleet.x.live_posts("MPSHackney")[0].id
    assert lines[0] == f"sent       hackney-x (@MPSHackney): https://x.com/MPSHackney/status/{x_id}"
    assert lines[1].startswith("sent       hackney-facebook: https://www.facebook.com/1001/posts/")
    assert lines[2].endswith(": 2 posts: 2 sent.")


def test_graph_version_is_configurable(fleet):
    text = fleet.config.read_text().replace("    page_id: '1001'",
                                            "    page_id: '1001'\n    graph_version: v25.0")
    fleet.config.write_text(text)
    assert fleet.run([*ARGS, "--yes"]).exit_code == 0
    assert fleet.graph.versions_seen == {"v25.0"}


def test_rejections_are_reported_in_the_platforms_words_and_exit_1(fleet):
    fleet.x.revoke(fleet.x_token("hackney"))
    fleet.graph.revoke("hackney-page-token-s3cr3t")
    outcome = fleet.run([*ARGS, "--yes", "--json"])
    assert outcome.exit_code == 1
    errors = {p["account"]: p["error"] for p in json.loads(outcome.stdout)["posts"]}
    assert errors["hackney-x"] == ("X refused the credentials (revoked or wrong keys): "
                                   "Unauthorized")
    assert errors["hackney-facebook"].startswith(
        "Facebook refused the page token: Error validating access token")
    assert errors["hackney-facebook"].endswith("(code 190)")


def test_duplicate_content_fails_at_once(fleet):
    assert fleet.run([*ARGS, "--yes", "--account", "hackney-x"]).exit_code == 0
    # --again asks to post the same text once more: X refuses duplicates, with its reason.
    outcome = fleet.run([*ARGS, "--yes", "--again", "--json"])
    assert outcome.exit_code == 1
    posts = {p["account"]: p for p in json.loads(outcome.stdout)["posts"]}
    first_x = fleet.x.live_posts("MPSHackney")[0].id
    assert posts["hackney-x"]["error"] == (
        "X refused the post as a duplicate: You are not allowed to create a Tweet with "
        "duplicate content; the same text is already live there as "
        f"https://x.com/MPSHackney/status/{first_x}")
    assert posts["hackney-x"]["attempts"] == 1
    assert posts["hackney-facebook"]["error"].startswith(
        "Facebook refused the post as a duplicate: (#506) Duplicate status message (code 506); "
        "the "
        "same text is already live there as https://www.facebook.com/1001/posts/")


def test_secrets_never_appear_in_output_or_logs(fleet, tmp_path):
    log = tmp_path / "attempts.jsonl"
    fleet.x.revoke(fleet.x_token("hackney"))
    outcome = fleet.run([*ARGS, "--yes", "--log-file", str(log)])
    everything = outcome.stdout + outcome.stderr + log.read_text()
    everything += fleet.ledger_text()
    for secret in fleet.env.values():
        assert secret not in everything


def test_not_on_a_terminal_needs_yes(fleet):
    outcome = fleet.run(ARGS)
    assert outcome.exit_code == 2
    assert outcome.error_lines == [
        "metpost: error: not on a terminal: add --yes to post without confirmation "
        "(or --dry-run to preview)"]
    assert fleet.x.request_count == 0 and fleet.graph.request_count == 0


def test_the_fake_x_refuses_another_accounts_consumer_key(fleet):
    outcome = fleet.run([*ARGS, "--yes", "--json", "--platform", "x"],
                        env={"HACKNEY_X_CONSUMER_KEY": "camden-consumer_key-s3cr3t-value"})
    assert outcome.exit_code == 1
    [post] = json.loads(outcome.stdout)["posts"]
    assert post["error"] == "X refused the credentials (revoked or wrong keys): Unauthorized"
    assert fleet.x.live_posts() == []


def test_config_path_from_the_environment(fleet, cli_run, tmp_path):
    outcome = cli_run(["accounts", "list", "--json"], env={"METPOST_CONFIG": str(fleet.config)})
    assert outcome.exit_code == 0
    assert len(json.loads(outcome.stdout)["accounts"]) == 4
    default = cli_run(["accounts", "list"], cwd=fleet.config.parent)
    assert default.exit_code == 0 and "camden-facebook" in default.stdout


@pytest.mark.parametrize("more", [[], ["--plan", "roads.plan.json"]])
def test_a_send_refused_by_its_checks_answers_in_one_json_document(fleet, more, tmp_path):
    outcome = fleet.run(["send", "--all", "-m", "{{ borough }} " + "a" * 300, "--yes", "--json",
                         *[str(tmp_path / arg) if arg.endswith(".json") else arg
                           for arg in more]])
    assert outcome.exit_code == 2
    document = json.loads(outcome.stdout)  # one document: a second would not parse
    assert document["exit_code"] == 2 and document["dry_run"] is False
    assert "too long for X" in document["error"]
    assert {post["account"] for post in document["posts"]} == {
        "hackney-x", "hackney-facebook", "camden-x", "camden-facebook"}
    assert fleet.x.request_count == fleet.graph.request_count == 0


def test_a_header_token_pasted_with_a_character_no_token_has_stops_the_broadcast_first(
        project, cli_run):
    # Mastodon's token goes into a request's header, which cannot hold it: the post would fail
    # only once the broadcast had begun.
    config = project("accounts:\n  - name: street-mastodon\n    platform: mastodon\n"
                     "    api_url: http://127.0.0.1:9\n"  # never reached
                     "    credentials: {access_token: '${STREET_TOKEN}'}\n")
    pasted = "tok-s3cret\u00a0€"
    outcome = cli_run(["send", "--config", str(config), "--all", "-m", "Roads reopen.", "--yes"],
                      env={"STREET_TOKEN": pasted})
    assert outcome.exit_code == 2
    assert ("credential STREET_TOKEN: holds a character other than printable ASCII, which no "
            "token has; copy it again, as it is") in outcome.stderr
    assert "s3cret" not in outcome.stdout + outcome.stderr and "€" not in outcome.stderr

