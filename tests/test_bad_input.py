"""Bad input: a clear error naming what to fix, exit code 2, and nothing sent to any platform."""

from __future__ import annotations

import pytest

SEND = ["send", "--borough", "Hackney", "--template", "rumour-control", "--var", "rumour=a riot",
        "--yes"]


def edit_config(fleet, old: str, new: str) -> None:
    text = fleet.config.read_text()
    assert old in text
    fleet.config.write_text(text.replace(old, new, 1))


CASES = {
    "unknown key in config": (
        lambda f: edit_config(f, "    handle: '@MPSHackney'", "    handel: '@MPSHackney'"),
        SEND, ["{config}:7: accounts[0].handel: unknown key 'handel' — did you mean 'handle'?"]),
    "secret written in config": (
        lambda f: edit_config(f, "'${HACKNEY_FB_TOKEN}'", "EAAGm0PX4ZCpsBAKZ"),
        SEND, ["{config}:18: accounts[1].credentials.page_access_token: secrets must not be "
               "written in the config; store it in an environment variable and write "
               "${PAGE_ACCESS_TOKEN} (a ${VAR} reference) here"]),
    "duplicate account": (
        lambda f: edit_config(f, "name: camden-x", "name: hackney-x"),
        SEND, ["{config}:19: accounts[2].name: duplicate account name 'hackney-x' (first at "
               "line 5); account names must be unique"]),
    "wrong type in config": (
        lambda f: edit_config(f, "    page_id: '1001'", "    page_id: 1001"),
        SEND, ['{config}:14: accounts[1].page_id: must be a string: quote it, as "1001"']),
    "invalid YAML": (
        lambda f: edit_config(f, "boroughs:", "boroughs: ["),
        SEND, ["{config}:2: invalid YAML: expected the node content, but found '-'"]),
    "unknown borough": (
        None, ["send", "--borough", "Hackny", "--message", "hi", "--yes"],
        ["unknown borough 'Hackny' — did you mean 'Hackney'?"]),
    "unknown tag and platform": (
        None, ["send", "--tag", "bcu-cx", "--platform", "mastodn", "--message", "hi", "--yes"],
        ["unknown tag 'bcu-cx' — did you mean 'bcu-cn'?",
         "unknown platform 'mastodn' — did you mean 'mastodon'? (known: bluesky, facebook, feed, "
         "mastodon, webhook, x)"]),
    "nothing selected": (
        None, ["send", "--message", "hi", "--yes"],
        ["nothing selected: choose accounts with --borough, --personality, --tag, --account "
         "or --all"]),
    "unknown template": (
        None, ["send", "--borough", "Hackney", "--template", "rumor-control", "--yes"],
        ["unknown template 'rumor-control' — did you mean 'rumour-control'?; see metpost "
         "templates list"]),
    "missing --var": (
        None, ["send", "--borough", "Hackney", "--template", "rumour-control", "--yes"],
        ["template 'rumour-control' needs --var rumour=… (What people are saying)"]),
    "undeclared --var": (
        None, [*SEND, "--var", "rumor=x"],
        ["--var rumor=…: template 'rumour-control' takes no 'rumor' — did you mean 'rumour'? "
         "(it takes: rumour)"]),
    "undefined variable": (
        None, ["send", "--borough", "Hackney", "--message", "{{ borough }} {{ when }}", "--yes"],
        ["--message: {{ when }} is not a variable any account, borough, personality or --var "
         "provides; pass it with --var when=VALUE or add it to the accounts' vars"]),
    "template syntax error": (
        None, ["send", "--borough", "Hackney", "--message", "{{ borough }", "--yes"],
        ["--message:1: template syntax error: unexpected '}'"]),
    "too long for X: nothing is sent anywhere": (
        None, ["send", "--borough", "Hackney", "--message", "{{ borough }} " + "a" * 280, "--yes"],
        ["hackney-x: too long for X: 288/280 weighted characters (8 over); shorten it, or add "
         "--thread to post it as a thread of 2",
         "nothing was sent"]),
    "empty text": (
        None, ["send", "--borough", "Hackney", "--message", "{{ '  ' }}", "--yes"],
        ["hackney-x: text is empty", "hackney-facebook: text is empty", "nothing was sent"]),
    "credentials not set": (
        None, ["send", "--borough", "Hackney", "--message", "hi {{ borough }}", "--yes"],
        ["credentials not set in the environment: HACKNEY_FB_TOKEN", "nothing was sent"]),
    "both --template and --message": (
        None, ["send", "--borough", "Hackney", "--template", "rumour-control", "--message", "x"],
        ["Error: give exactly one of --template NAME or --message TEXT"]),
    "--var without =": (
        None, ["send", "--borough", "Hackney", "--message", "x", "--var", "rumour"],
        ["Error: Invalid value for '--var': 'rumour' is not NAME=VALUE, e.g. --var "
         "rumour=\"a fire\""]),
    "no --yes off a terminal": (
        None, SEND[:-1],
        ["not on a terminal: add --yes to post without confirmation (or --dry-run to preview)"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_clear_line_each_exit_2_and_nothing_sent(fleet, case):
    prepare, args, expected = CASES[case]
    if prepare:
        prepare(fleet)
    env = {"HACKNEY_FB_TOKEN": ""} if case == "credentials not set" else None
    outcome = fleet.run(args, env=env)
    assert outcome.exit_code == 2, outcome.stdout + outcome.stderr
    assert "Traceback" not in outcome.stdout + outcome.stderr
    errors = [line for line in outcome.error_lines
              if line.startswith(("metpost: error: ", "Error: "))]
    wanted = [line.replace("{config}", str(fleet.config)) for line in expected]
    wanted = [w if w.startswith("Error: ") else f"metpost: error: {w}" for w in wanted]
    assert errors == wanted
    assert fleet.x.request_count == 0
    assert fleet.graph.request_count == 0


def test_there_are_at_least_a_dozen_kinds():
    assert len(CASES) >= 12


def test_missing_config_file(tmp_path, cli_run):
    outcome = cli_run(["send", "--config", str(tmp_path / "nope.yaml"), "--all", "-m", "x"])
    assert outcome.exit_code == 2
    assert outcome.error_lines == [
        f"metpost: error: {tmp_path / 'nope.yaml'}: no such file; pass --config PATH or set "
        "METPOST_CONFIG"]


NO_LEDGER = ("Error: Invalid value for '--ledger': {shown} is not a ledger metpost can use; "
             "give the path of a SQLite file, or a postgresql://user@host/database URL")
EMPTY = ("it is empty; give the path of a SQLite file or a postgresql://user@host/database URL, "
         "or leave it out for the default ledger")


@pytest.mark.parametrize(("ledger", "expected"), [
    ("mysql://metpost:hunter2@db/metpost", NO_LEDGER.format(shown="mysql://metpost@db/metpost")),
    ("file:///var/lib/metpost/ledger.sqlite3",
     NO_LEDGER.format(shown="file:///var/lib/metpost/ledger.sqlite3")),
    ("SQLite3+WAL://ledger.db", NO_LEDGER.format(shown="SQLite3+WAL://ledger.db")),
    (" postgresql://metpost:hunter2@db/metpost",
     "Error: Invalid value for '--ledger': ' postgresql://metpost@db/metpost' begins or ends "
     "with white space; remove it"),
    ("ledger.sqlite3\n", "Error: Invalid value for '--ledger': 'ledger.sqlite3\\n' begins or "
                         "ends with white space; remove it"),
    ("", f"Error: Invalid value for '--ledger': {EMPTY}"),
    ("  ", f"Error: Invalid value for '--ledger': {EMPTY}"),
])
def test_a_ledger_that_names_no_usable_database_is_refused(fleet, tmp_path, monkeypatch, ledger,
                                                           expected):
    # Not taken for a file name: "mysql://db/x" would become folders, and an empty value (a
    # cron line's unset variable) would quietly keep a ledger apart from the other hosts'.
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    for args in ([*SEND, "--ledger", ledger], [*SEND[:-1], "--dry-run", "--ledger", ledger],
                 ["history", "--ledger", ledger]):
        outcome = fleet.run(args)
        assert outcome.exit_code == 2, outcome.stdout + outcome.stderr
        assert outcome.error_lines[-1] == expected
        assert "hunter2" not in outcome.stdout + outcome.stderr
    assert fleet.x.request_count == 0 and fleet.graph.request_count == 0
    assert list(here.iterdir()) == []


@pytest.mark.parametrize(("value", "expected"), [
    ("", f"metpost: error: $METPOST_LEDGER: {EMPTY}"),
    ("sqlite:///ledger.db", "Error: Invalid value for '--ledger': $METPOST_LEDGER: "
                            "sqlite:///ledger.db is not a ledger metpost can use; give the path "
                            "of a SQLite file, or a postgresql://user@host/database URL"),
])
def test_metpost_ledger_that_names_no_usable_database_is_refused(fleet, cli_run, tmp_path,
                                                                 monkeypatch, value, expected):
    # An empty one is not replaced by the default ledger: that would be a ledger of its own.
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    home = tmp_path / "home"  # where the default ledger would go
    env = {**fleet.env, "METPOST_LEDGER": value, "HOME": str(home), "XDG_DATA_HOME": str(home)}
    outcome = cli_run(["send", "--config", str(fleet.config), *SEND[1:]], env=env)
    assert outcome.exit_code == 2
    assert outcome.error_lines[-1] == expected
    assert fleet.x.request_count == 0 and fleet.graph.request_count == 0
    assert list(here.iterdir()) == [] and not home.exists()
