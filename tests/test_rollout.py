"""Staged rollout: planned and paused accounts are skipped, listed as skipped, and refused by
name; accounts list shows status and check counts them."""

from __future__ import annotations

import json

import pytest

from tests.conftest import PROJECT, run


@pytest.fixture
def staged(fleet):
    """Camden's X account is not launched yet and its page is paused."""
    text = fleet.config.read_text()
    text = text.replace("  - name: camden-x\n    platform: x\n",
                        "  - name: camden-x\n    platform: x\n    status: planned\n")
    text = text.replace("  - name: camden-facebook\n    platform: facebook\n",
                        "  - name: camden-facebook\n    platform: facebook\n    status: paused\n")
    fleet.config.write_text(text)
    return fleet


MESSAGE = ["--message", "{{ borough }}: roads reopen at 6pm."]


def test_a_selection_skips_accounts_that_are_not_live_and_lists_them(staged):
    outcome = staged.run(["send", "--all", *MESSAGE, "--dry-run", "--json"])
    assert outcome.exit_code == 0, outcome.stderr
    document = json.loads(outcome.stdout)
    assert [p["account"] for p in document["posts"]] == ["hackney-x", "hackney-facebook"]
    assert document["skipped"] == [{"account": "camden-x", "status": "planned"},
                                   {"account": "camden-facebook", "status": "paused"}]
    plain = staged.run(["send", "--tag", "borough", *MESSAGE, "--dry-run"])
    assert plain.exit_code == 0
    assert ("skipped 2 accounts not live: camden-x (planned), camden-facebook (paused)"
            in plain.stderr.splitlines())


def test_a_send_posts_to_live_accounts_only_and_says_which_were_skipped(staged):
    outcome = staged.run(["send", "--all", *MESSAGE, "--yes"])
    assert outcome.exit_code == 0, outcome.stdout + outcome.stderr
    assert staged.x_texts("MPSHackney") == ["Hackney: roads reopen at 6pm."]
    assert staged.x_texts("MPSCamden") == [] and staged.page_texts("1002") == []
    assert outcome.stderr.splitlines() == [
        "skipped 2 accounts not live: camden-x (planned), camden-facebook (paused)"]
    keyed = staged.run(["send", "--all", *MESSAGE, "--yes", "--json", "--key", "k"])
    assert json.loads(keyed.stdout)["skipped"][0] == {"account": "camden-x",
                                                      "status": "planned"}


def test_naming_an_account_that_is_not_live_is_an_error_that_says_its_status(staged):
    outcome = staged.run(["send", "--account", "camden-x", "--account", "camden-facebook",
                          *MESSAGE, "--yes"])
    assert outcome.exit_code == 2
    text = staged.config.read_text().splitlines()
    x_line = text.index("  - name: camden-x") + 1
    fb_line = text.index("  - name: camden-facebook") + 1
    assert outcome.error_lines == [
        f"metpost: error: account 'camden-x' is planned ({staged.config}:{x_line}); set its "
        "status: live in the config to post from it",
        f"metpost: error: account 'camden-facebook' is paused ({staged.config}:{fb_line}); set "
        "its status: live in the config to post from it"]
    assert staged.x.request_count == 0 and staged.graph.request_count == 0


def test_a_selection_that_reaches_only_accounts_not_live_is_an_error(staged):
    outcome = staged.run(["send", "--borough", "Camden", *MESSAGE, "--dry-run"])
    assert outcome.exit_code == 2
    assert outcome.error_lines == [
        "metpost: error: the selection reaches no live account: it reaches only camden-x "
        "(planned), camden-facebook (paused); see metpost accounts list"]


def test_accounts_list_shows_status_and_check_counts_them(staged):
    listed = staged.run(["accounts", "list", "--platform", "x"])
    assert listed.exit_code == 0
    assert listed.stdout.splitlines() == [
        "Name\tPlatform\tHandle\tBorough\tPersonality\tTags\tStatus",
        "hackney-x\tx\t@MPSHackney\tHackney\t\tborough, bcu-ce\tlive",
        "camden-x\tx\t@MPSCamden\tCamden\t\tborough, bcu-cn\tplanned",
    ]
    as_json = json.loads(staged.run(["accounts", "list", "--json"]).stdout)["accounts"]
    assert [a["status"] for a in as_json] == ["live", "live", "planned", "paused"]
    named = staged.run(["accounts", "list", "--account", "camden-x"])
    assert named.exit_code == 0  # listing a planned account by name is fine
    checked = staged.run(["check"])
    assert checked.stdout.splitlines()[0] == (
        f"{staged.config}: valid — 4 accounts (2 live, 1 planned, 1 paused), 2 boroughs, "
        "0 personalities")
    assert json.loads(staged.run(["check", "--json"]).stdout)["statuses"] == {
        "live": 2, "planned": 1, "paused": 1}


def test_verify_checks_planned_accounts_too(staged):
    outcome = staged.run(["accounts", "verify", "--borough", "Camden", "--json"])
    assert outcome.exit_code == 0, outcome.stdout
    assert [a["account"] for a in json.loads(outcome.stdout)["accounts"]] == [
        "camden-x", "camden-facebook"]


def test_a_misspelt_status_is_a_config_error_with_the_closest(fleet):
    text = fleet.config.read_text().replace("  - name: camden-x\n    platform: x\n",
                                            "  - name: camden-x\n    platform: x\n"
                                            "    status: plannned\n")
    fleet.config.write_text(text)
    outcome = fleet.run(["check"])
    assert outcome.exit_code == 2
    line = fleet.config.read_text().splitlines().index("    status: plannned") + 1
    assert outcome.error_lines == [
        f"metpost: error: {fleet.config}:{line}: accounts[2].status: unknown status "
        "'plannned' — did you mean 'planned'? (known: live, planned, paused)"]


def test_the_shipped_example_rolls_boroughs_out_in_stages():
    config = str(PROJECT / "accounts.yaml")
    document = json.loads(run(["check", "--config", config, "--json"]).stdout)
    assert document["statuses"] == {"live": 20, "planned": 48, "paused": 0}
    outcome = run(["send", "--config", config, "--tag", "borough", "--message",
                   "{{ borough }}: test", "--dry-run", "--json"])
    assert outcome.exit_code == 0
    document = json.loads(outcome.stdout)
    live = {p["account"].rsplit("-", 1)[0] for p in document["posts"]}
    assert live == {"hackney", "tower-hamlets", "camden", "islington", "lambeth", "southwark",
                    "westminster", "kensington-and-chelsea"}
    assert len(document["skipped"]) == 48
    assert {s["status"] for s in document["skipped"]} == {"planned"}
