"""`metpost accounts verify` against the fake X and Graph servers, through the real tweepy and
facebook-sdk: whom each account's credentials belong to, asked of every account at once."""

from __future__ import annotations

import json
import time


def verify(fleet, *extra: str, env=None):
    return fleet.run(["accounts", "verify", *extra], env=env)


def records(outcome) -> dict[str, dict]:
    return {a.pop("account"): a for a in json.loads(outcome.stdout)["accounts"]}


def test_every_account_ok_with_the_platforms_own_names(fleet):
    fleet.graph.pages["1001"].username = "MPSHackney"
    outcome = verify(fleet, "--json")
    assert outcome.exit_code == 0, outcome.stderr
    assert records(outcome) == {
        "hackney-x": {"ok": True, "platform_handle": "@MPSHackney", "problem": None},
        "hackney-facebook": {"ok": True, "platform_handle": "MPSHackney", "problem": None},
        "camden-x": {"ok": True, "platform_handle": "@MPSCamden", "problem": None},
        "camden-facebook": {"ok": True, "platform_handle": "Camden", "problem": None}}
    me = [r for r in fleet.x.requests if r.path == "/2/users/me"]
    assert len(me) == 2 and fleet.x.me_calls == 2
    pages = [r for r in fleet.graph.requests if r.method == "GET"]
    assert sorted(r.path for r in pages) == ["/v24.0/1001", "/v24.0/1002"]
    assert {r.query["fields"] for r in pages} == {"name,username"}
    # Nothing was posted.
    assert not [r for r in fleet.x.requests + fleet.graph.requests if r.method != "GET"]


def test_plain_output_is_a_line_per_account_and_a_summary(fleet):
    outcome = verify(fleet, "--platform", "x")
    assert outcome.exit_code == 0
    assert outcome.stdout.splitlines() == [
        "ok        hackney-x (@MPSHackney) [x]: @MPSHackney",
        "ok        camden-x (@MPSCamden) [x]: @MPSCamden",
        "2 accounts: 2 ok."]


def test_credentials_of_another_account_are_a_mismatch_with_the_configured_handle(fleet):
    camden = {"HACKNEY_X_CONSUMER_KEY": fleet.env["CAMDEN_X_CONSUMER_KEY"],
              "HACKNEY_X_ACCESS_TOKEN": fleet.x_token("camden")}
    outcome = verify(fleet, "--account", "hackney-x", "--json", env=camden)
    assert outcome.exit_code == 1
    assert records(outcome) == {"hackney-x": {
        "ok": False, "platform_handle": "@MPSCamden",
        "problem": "the credentials belong to @MPSCamden, not @MPSHackney as accounts.yaml "
                   "says; fix the handle or the credentials"}}


def test_a_page_whose_username_is_not_the_configured_handle_is_a_mismatch(fleet):
    fleet.graph.pages["1002"].username = "MetPoliceCamden"
    text = fleet.config.read_text().replace("    page_id: '1002'",
                                            "    page_id: '1002'\n    handle: MPSCamden")
    fleet.config.write_text(text)
    outcome = verify(fleet, "--account", "camden-facebook", "--json")
    assert outcome.exit_code == 1
    assert records(outcome)["camden-facebook"]["problem"] == (
        "the credentials belong to MetPoliceCamden, not MPSCamden as accounts.yaml says; fix "
        "the handle or the credentials")


def test_rejected_tokens_are_reported_in_the_platforms_words(fleet):
    fleet.x.revoke(fleet.x_token("hackney"))
    fleet.graph.revoke("camden-page-token-s3cr3t")
    outcome = verify(fleet, "--json")
    assert outcome.exit_code == 1
    found = records(outcome)
    assert found["hackney-x"] == {
        "ok": False, "platform_handle": None,
        "problem": "X refused the credentials (revoked or wrong keys): Unauthorized"}
    assert found["camden-facebook"]["ok"] is False
    assert found["camden-facebook"]["problem"].startswith("Facebook refused the page token: ")
    assert found["camden-facebook"]["problem"].endswith("(code 190)")
    assert found["camden-x"]["ok"] is True and found["hackney-facebook"]["ok"] is True


def test_a_page_the_token_cannot_reach_says_so(fleet):
    outcome = verify(fleet, "--account", "camden-facebook", "--json",
                     env={"CAMDEN_FB_TOKEN": "hackney-page-token-s3cr3t"})
    assert outcome.exit_code == 1
    problem = records(outcome)["camden-facebook"]["problem"]
    assert problem.startswith("page 1002 is not reachable with this token: Facebook refused "
                              "the request: Unsupported get request. Object with ID '1002'")
    assert "hackney-page-token" not in outcome.stdout


def test_a_variable_not_set_is_named_and_nothing_is_asked_for_that_account(fleet):
    outcome = verify(fleet, env={"CAMDEN_FB_TOKEN": "", "HACKNEY_X_ACCESS_TOKEN_SECRET": ""})
    assert outcome.exit_code == 1
    assert outcome.stdout.splitlines() == [
        "PROBLEM   hackney-x (@MPSHackney) [x]: not set in the environment: "
        "HACKNEY_X_ACCESS_TOKEN_SECRET",
        "ok        hackney-facebook [facebook]: Hackney",
        "ok        camden-x (@MPSCamden) [x]: @MPSCamden",
        "PROBLEM   camden-facebook [facebook]: not set in the environment: CAMDEN_FB_TOKEN",
        "4 accounts: 2 ok, 2 with problems."]
    assert fleet.x.me_calls == 1
    assert [r.path for r in fleet.graph.requests] == ["/v24.0/1001"]


def test_accounts_are_asked_at_once(fleet):
    fleet.x.latency = fleet.graph.latency = 0.4
    started = time.monotonic()
    outcome = verify(fleet)
    elapsed = time.monotonic() - started
    assert outcome.exit_code == 0
    assert fleet.x.max_in_flight == 2 and fleet.graph.max_in_flight == 2
    assert elapsed < 0.4 * 3, elapsed  # one round trip each way, not four in a row


def test_secrets_never_appear(fleet):
    fleet.x.revoke(fleet.x_token("hackney"))
    outcome = verify(fleet, "--json")
    for secret in fleet.env.values():
        assert secret not in outcome.stdout + outcome.stderr
