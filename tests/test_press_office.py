"""What a tired press officer sees: advice that fits each failure, unfinished broadcasts made
visible, reruns that say what they will do, consistent commands, JSON that stays JSON, read-only
commands that create nothing, and checks that catch typos — each with its exact words."""

from __future__ import annotations

import json
import re

import pytest

from metpost.plugins import platform_classes
from tests.fake_platforms.server import Fault, Reply

MESSAGE = "{{ borough }}: the high street is closed after a fire."
KNOWN = ", ".join(sorted(platform_classes()))
SEND = ["send", "--all", "-m", MESSAGE, "--yes"]


def broadcast_id(outcome) -> str:
    return re.search(r"Broadcast (\S+):", outcome.stdout).group(1)


# -- advice that fits the failure ----------------------------------------------------------------

def graph_permission_error(_request) -> Reply:
    return Reply(403, {"error": {
        "message": "(#200) If posting to a page, requires both pages_read_engagement and "
                   "pages_manage_posts permission with page token",
        "type": "OAuthException", "code": 200, "fbtrace_id": "A1"}})


def test_each_failure_gets_the_next_step_that_fits(fleet):
    fleet.x.revoke(fleet.x_token("hackney"))
    fleet.graph.queue_fault(1, Fault("permission", answer=graph_permission_error))
    fleet.x.drop_after_accept_next(0)
    outcome = fleet.run([*SEND, "--concurrency", "1"])
    assert outcome.exit_code == 1
    broadcast = broadcast_id(outcome)
    steps = outcome.stdout.splitlines()[outcome.stdout.splitlines().index(
        next(line for line in outcome.stdout.splitlines() if line.startswith("Broadcast "))) + 1:]
    assert steps == [
        "renew HACKNEY_X_CONSUMER_KEY, HACKNEY_X_CONSUMER_SECRET, HACKNEY_X_ACCESS_TOKEN and "
        "HACKNEY_X_ACCESS_TOKEN_SECRET (hackney-x: the platform refused the credentials), then: "
        f"metpost retry {broadcast}",
        "hackney-facebook: grant pages_read_engagement, pages_manage_posts to the app or page, "
        f"then: metpost retry {broadcast}",
    ]
    fleet.x.revoked.clear()
    document = json.loads(fleet.run(["retry", broadcast, "--yes", "--json"]).stdout)
    assert document["next_steps"] == []


def test_a_duplicate_says_the_text_is_live_and_a_transient_failure_says_retry(fleet):
    assert fleet.run(["send", "--account", "hackney-x", "-m", MESSAGE, "--yes"]).exit_code == 0
    fleet.graph.rate_limit_next(20, code=17)
    outcome = fleet.run([*SEND, "--again", "--deadline", "1"])
    broadcast = broadcast_id(outcome)
    lines = outcome.stdout.splitlines()
    assert f"To finish it: metpost retry {broadcast}" in lines
    assert "hackney-x: the same text is already live there; nothing to resend" in lines


# -- unfinished broadcasts are visible ---------------------------------------------------------

def test_a_broadcast_left_in_doubt_is_marked_in_history(fleet):
    assert fleet.run(SEND).exit_code == 0
    fleet.ledger_execute("UPDATE posts SET state = 'sending', claimed_by = 'elsewhere:1:x', "
                         "lease_until = 0 WHERE account LIKE 'camden-%'")
    history = fleet.run(["history"])
    [header, row, *rest] = history.stdout.splitlines()
    assert header.split("\t") == ["Broadcast", "When", "Key", "Source", "Posts", "Message"]
    cells = row.split("\t")
    assert cells[4] == "unfinished: 2 sent, 2 in doubt"
    assert cells[5] == "Hackney: the high street is closed after a fire."
    assert rest == [f"Unfinished: {cells[0]} (2 sent, 2 in doubt)",
                    f"  to finish it: metpost retry {cells[0]}"]
    record = json.loads(fleet.run(["history", "--json"]).stdout)["broadcasts"][0]
    assert (record["in_doubt"], record["unfinished"]) == (2, True)


# -- reruns say what they will do ---------------------------------------------------------------

def test_a_rerun_of_a_broadcast_that_is_out_says_so_first(fleet):
    first = fleet.run(SEND)
    broadcast = broadcast_id(first)
    rerun = fleet.run(SEND)
    assert rerun.exit_code == 0
    assert rerun.error_lines[0] == (f"already sent as broadcast {broadcast}, nothing to post "
                                    "(use --again to post it again)")
    dry = fleet.run(["send", "--all", "-m", MESSAGE, "--dry-run"])
    said = (f"already sent as broadcast {broadcast}, nothing to post (use --again to post it "
            "again)")
    if "://" in fleet.ledger:  # a dry run opens no connection, so it cannot know
        assert said not in dry.error_lines
    else:
        assert said in dry.error_lines


def test_a_dry_run_creates_no_ledger(fleet):
    fleet.run(["send", "--all", "-m", MESSAGE, "--dry-run"])
    if "://" in fleet.ledger:  # a database URL: a dry run does not even connect
        assert fleet.ledger_rows("SELECT table_name FROM information_schema.tables WHERE "
                                 "table_schema = current_schema()") == []
    else:
        assert not (fleet.root / "ledger.sqlite3").exists()


# -- consistency ---------------------------------------------------------------------------------

def test_retry_needs_yes_without_a_terminal(fleet):
    fleet.x.revoke(fleet.x_token("hackney"))
    fleet.run(SEND)
    refused = fleet.run(["retry", "last"])
    assert refused.exit_code == 2
    assert refused.error_lines == [
        "metpost: error: not on a terminal: add --yes to retry without confirmation"]


def test_an_unknown_command_suggests_the_closest(cli_run):
    outcome = cli_run(["histroy"])
    assert outcome.exit_code == 2
    assert outcome.error_lines[-1] == (
        "Error: No such command 'histroy' — did you mean 'history'?; see metpost --help")


def test_twitter_is_x_and_an_unknown_platform_lists_the_known(fleet):
    assert fleet.run(["accounts", "list", "--platform", "twitter", "--all"]).stdout.count(
        "\tx\t") == 2
    outcome = fleet.run(["accounts", "list", "--platform", "twiter", "--all"])
    assert outcome.error_lines == [
        "metpost: error: unknown platform 'twiter' — did you mean 'twitter'? (known: "
        f"{KNOWN})"]


def test_an_unquoted_var_value_gets_a_quoting_hint(fleet):
    outcome = fleet.run(["send", "--all", "-m", "{{ borough }} {{ what }}", "--var",
                         "what=a", "fire", "--dry-run"])
    assert outcome.exit_code == 2
    assert outcome.error_lines[-1] == (
        "Error: Got unexpected extra argument (fire); a --var value with spaces must be "
        'quoted, as in --var rumour="a stabbing at Mare Street"')


def test_a_prefix_matching_several_broadcasts_lists_them(fleet):
    first = broadcast_id(fleet.run(SEND))
    second = broadcast_id(fleet.run(["send", "--all", "-m", "{{ borough }}: reopened", "--yes"]))
    prefix = "2"
    outcome = fleet.run(["show", prefix])
    assert outcome.exit_code == 2
    [line] = outcome.error_lines
    assert line.startswith(f"metpost: error: '{prefix}' matches 2 broadcasts: ")
    assert first in line and second in line and line.endswith("; give more of the id")


# -- --json always answers in JSON --------------------------------------------------------------

@pytest.mark.parametrize("args, exit_code", [
    (["send", "--all", "-m", "{{ boroguh }}", "--dry-run", "--json"], 2),
    (["send", "--all", "-m", "hi", "--json"], 2),  # no --yes without a terminal
    (["send", "--borough", "Hackny", "-m", "hi", "--json", "--dry-run"], 2),
    (["send", "--all", "--json", "--dry-run", "--deadline", "nan", "-m", "hi"], 2),
])
def test_a_refused_command_with_json_answers_in_json(fleet, args, exit_code):
    outcome = fleet.run(args)
    assert outcome.exit_code == exit_code
    document = json.loads(outcome.stdout)
    assert document["exit_code"] == exit_code
    assert "\n" not in document["error"]
    assert document["problems"][0] in outcome.stderr


# -- read-only commands never create a ledger ---------------------------------------------------

def test_history_and_show_without_a_ledger_create_nothing(cli_run, tmp_path):
    ledger = tmp_path / "nowhere" / "ledger.sqlite3"
    history = cli_run(["history", "--ledger", str(ledger)])
    assert history.exit_code == 0
    assert history.error_lines == [
        f"no ledger at {ledger} (nothing has been sent from here yet)"]
    show = cli_run(["show", "last", "--ledger", str(ledger)])
    assert show.exit_code == 2
    assert show.error_lines == [
        f"metpost: error: no ledger at {ledger} (nothing has been sent from here yet)"]
    assert not ledger.exists() and not ledger.parent.exists()


# -- check catches what would fail at 3 a.m. ----------------------------------------------------

def test_check_finds_unfillable_names_attributes_and_stray_variants(fleet):
    templates = fleet.config.parent / "templates"
    (templates / "note.j2").write_text("{{ boroguh }}: {{ borough.bcuu }} {{ venue }}\n")
    (templates / "note.facebok.j2").write_text("{{ borough }}\n")
    outcome = fleet.run(["check"])
    assert outcome.exit_code == 2
    assert [line for line in outcome.error_lines if "note." in line] == [
        f"metpost: error: {templates / 'note.facebok.j2'}: no platform 'facebok' — did you mean "
        f"'facebook'?, so this variant would never be used (known: {KNOWN})",
        f"metpost: error: {templates / 'note.j2'}: {{{{ boroguh }}}} is not a variable any "
        "account, borough, personality or --var provides — did you mean 'borough'?",
        f"metpost: error: {templates / 'note.j2'}: {{{{ venue }}}} is not a variable any "
        "account, borough, personality or --var provides; pass it with --var venue=VALUE or "
        "add it to the accounts' vars",
        f"metpost: error: {templates / 'note.j2'}:1: borough has no 'bcuu' — did you mean "
        "'bcu'?",
    ]


def test_a_misspelt_required_key_is_named_as_a_typo(project, cli_run):
    config = project("accounts:\n  - name: hackney-x\n    platfrom: x\n")
    outcome = cli_run(["check", "--config", str(config)])
    assert outcome.exit_code == 2
    assert (f"metpost: error: {config}:3: accounts[0].platfrom: unknown key 'platfrom' — did "
            "you mean 'platform'?") in outcome.error_lines
