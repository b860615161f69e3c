"""Bad input: a clear error naming what to fix, exit code 2, and nothing sent to any platform."""

from __future__ import annotations

import json
import os
from pathlib import Path

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
    "half a character from an escape": (
        None, ["send", "--borough", "Hackney", "--message", '{{ "\\ud83d\\ude00" }} hi', "--yes",
               "--json"],
        ["--message: the text holds half a character (\\ud83d), as an escape such as "
         '"\\ud83d" makes: write the character itself']),
    **{f"a template nested too deeply: {kind}": (
        None, ["send", "--borough", "Hackney", "--message", text, "--yes"],
        ["--message:1: template syntax error: it nests too deeply to be read (blocks, brackets "
         "or operators inside one another); simplify it"])
       for kind, text in (("parentheses", "{{ " + "(" * 100 + "1" + ")" * 100 + " }}"),
                          ("ifs", "{% if 1 %}" * 1000 + "x" + "{% endif %}" * 1000),
                          ("a long sum", "{{ 1" + "+1" * 5000 + " }}"),
                          ("a hundred ifs", "{% if 1 %}" * 100 + "x" + "{% endif %}" * 100))},
    "an empty --message (an unset variable)": (
        None, ["send", "--borough", "Hackney", "--message", "", "--yes"],
        ["Error: --message is empty: give the text to post (a script's unset variable?)"]),
    "a --var the message never uses": (
        None, ["send", "--borough", "Hackney", "--message", "{{ rumour }}", "--var", "rumor=a",
               "--var", "rumour=b", "--yes"],
        ["--var rumor=…: --message never uses {{ rumor }} — did you mean 'rumour'?"]),
    "a C1 control character (a terminal's CSI)": (
        None, ["send", "--borough", "Hackney", "--message", "Roads \x9b31m shut", "--yes"],
        ["hackney-x: the text holds a control character (U+009B), which no platform shows; "
         "remove it from the template or --var",
         "hackney-facebook: the text holds a control character (U+009B), which no platform "
         "shows; remove it from the template or --var", "nothing was sent"]),
    "a lone carriage return from a --var (it would overwrite the previewed line)": (
        None, ["send", "--borough", "Hackney", "--message", "Note: {{ x }}", "--var",
               "x=hello\rEVIL", "--yes"],
        ["hackney-x: the text holds a control character (U+000D), which no platform shows; "
         "remove it from the template or --var",
         "hackney-facebook: the text holds a control character (U+000D), which no platform "
         "shows; remove it from the template or --var", "nothing was sent"]),
    "a --key that is not UTF-8": (
        None, [*SEND, "--key", "slot-\udcff"],
        ["Error: Invalid value for '--key': is not valid UTF-8 text; check the terminal's or "
         "script's encoding"]),
    "an invisible text with --thread": (
        None, ["send", "--borough", "Hackney", "--message", '{{ "\\u200b" }}', "--thread",
               "--yes"],
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


def test_a_windows_line_end_in_a_var_is_not_a_control_character(fleet):
    outcome = fleet.run(["send", "--borough", "Hackney", "--message", "Note: {{ x }}", "--var",
                         "x=first line\r\nsecond line", "--dry-run", "--json"])
    assert outcome.exit_code == 0, outcome.stdout + outcome.stderr
    assert [post["problems"] for post in json.loads(outcome.stdout)["posts"]] == [[], []]


def test_there_are_at_least_a_dozen_kinds():
    assert len(CASES) >= 12


def test_missing_config_file(tmp_path, cli_run):
    outcome = cli_run(["send", "--config", str(tmp_path / "nope.yaml"), "--all", "-m", "x"])
    assert outcome.exit_code == 2
    assert outcome.error_lines == [
        f"metpost: error: {tmp_path / 'nope.yaml'}: no such file; pass --config PATH or set "
        "METPOST_CONFIG"]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", ["a named pipe", "a device", "a folder"])
@pytest.mark.parametrize("which", ["config", "schedules"])
def test_a_config_that_is_not_a_regular_file_is_refused_without_waiting(fleet, tmp_path, kind,
                                                                        which):
    # A named pipe would wait for a writer for ever, /dev/zero never ends.
    if kind == "a named pipe":
        target = tmp_path / "pipe.yaml"
        os.mkfifo(target)
    else:
        target = Path("/dev/zero") if kind == "a device" else tmp_path
    option, variable = (("--config", "METPOST_CONFIG") if which == "config"
                        else ("--schedules", "METPOST_SCHEDULES"))
    outcome = fleet.run(["check", option, str(target)])
    assert outcome.exit_code == 2
    assert outcome.error_lines == [f"metpost: error: {target}: it is {kind}, not a file; pass "
                                   f"{option} PATH or set {variable}"]


@pytest.mark.parametrize(("args", "expected"), [
    (["--borough", "Hack\nney", "-m", "x"],
     "metpost: error: unknown borough 'Hack\\nney' — did you mean 'Hackney'?"),
    (["--account", "x\x1b[2Jy", "-m", "x"], "metpost: error: unknown account 'x\\x1b[2Jy'"),
    (["--template", "rumour-control\n"], "metpost: error: template name 'rumour-control\\n' is "
     "not allowed: give the name of a file in {templates} without its folder or '.j2' "
     "(letters, digits, '-' and '_' only, e.g. --template rumour-control); see metpost "
     "templates list"),
])
def test_a_value_with_a_line_break_or_escape_is_quoted_on_one_line(fleet, args, expected):
    outcome = fleet.run(["send", *args, "--dry-run"])
    assert outcome.exit_code == 2
    assert outcome.stderr.splitlines() == [expected.format(templates=fleet.root / "templates")]


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


def refused(outcome, fleet) -> list[str]:
    """The error lines of a run that must have been refused as bad input, with nothing sent."""
    assert outcome.exit_code == 2, outcome.stdout + outcome.stderr
    assert "Traceback" not in outcome.stdout + outcome.stderr
    assert "internal error" not in outcome.stdout + outcome.stderr
    assert fleet.x.request_count == 0 and fleet.graph.request_count == 0
    return [line for line in outcome.error_lines
            if line.startswith(("metpost: error: ", "Error: "))]


SCHEDULE = """\
schedules:
  - name: morning
    cron: "0 8 * * *"
    timezone: Europe/London
    select: {account: [hackney-x]}
    message: "Good morning {{ borough }}"
"""
FORBIDDEN = "column {column} holds {kind} (#x{code}) that YAML does not allow; remove it"


@pytest.mark.parametrize(("character", "code", "kind"), [
    ("\x00", "00", "a control character"),
    ("\x07", "07", "a control character"),
    ("\ufffe", "fffe", "a character"),
])
@pytest.mark.parametrize("where", ["accounts.yaml", "schedules.yaml", "front matter"])
def test_a_character_yaml_forbids_is_named_with_its_line_and_column(fleet, where, character,
                                                                    code, kind):
    # PyYAML's reader refuses these before parsing, giving only an offset into the text.
    (fleet.root / "schedules.yaml").write_text(SCHEDULE, encoding="utf-8")
    template = fleet.root / "templates" / "rumour-control.j2"
    path, old, new, line, column = {
        "accounts.yaml": (fleet.config, "  - {name: Hackney,", f"  - {{name: Hack{character}ney,",
                          2, 16),
        "schedules.yaml": (fleet.root / "schedules.yaml", "  - name: morning",
                           f"  - name: morn{character}ing", 2, 15),
        "front matter": (template, "description: Counter", f"description: Coun{character}ter",
                         2, 18),
    }[where]
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    part = "front matter: " if where == "front matter" else ""
    wanted = f"metpost: error: {path}:{line}: {part}" + FORBIDDEN.format(column=column, kind=kind,
                                                                         code=code)
    commands = {"accounts.yaml": [["check"], SEND],
                "schedules.yaml": [["due", "--dry-run"], ["schedule", "list"]],
                "front matter": [["templates", "list"], SEND]}[where]
    for args in commands:
        assert refused(fleet.run(args), fleet) == [wanted], args


def test_a_forbidden_character_after_other_lines_and_a_byte_order_mark(fleet):
    # Lines are counted as YAML counts them, and the byte order mark takes no column.
    text = fleet.config.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    lines[4] = lines[4].replace("name:", "\x1bname:", 1)
    fleet.config.write_text("\ufeff" + "".join(lines), encoding="utf-8")
    assert refused(fleet.run(["check"]), fleet) == [
        f"metpost: error: {fleet.config}:5: column 5 holds a control character (#x1b) that YAML "
        "does not allow; remove it"]
    fleet.config.write_text("\ufeff\x7f" + text, encoding="utf-8")
    assert refused(fleet.run(["check"]), fleet) == [
        f"metpost: error: {fleet.config}:1: column 1 holds a control character (#x7f) that YAML "
        "does not allow; remove it"]


def test_history_limit_beyond_what_a_database_counts_is_refused(fleet):
    assert fleet.run(["send", "--borough", "Hackney", "-m", "hi {{ borough }}", "--yes"]
                     ).exit_code == 0
    sent = (fleet.x.request_count, fleet.graph.request_count)
    for args in (["history", "--limit", "99999999999999999999999"],
                 ["history", "--limit", "1000001", "--json"]):
        outcome = fleet.run(args)
        assert outcome.exit_code == 2 and "Traceback" not in outcome.stderr
        wanted = (f"Invalid value for '--limit': {args[2]} is not in the range "
                  "1<=x<=1000000.")
        if "--json" in args:
            assert json.loads(outcome.stdout)["problems"] == [wanted]
        else:
            assert outcome.error_lines[-1] == f"Error: {wanted}"
    assert fleet.run(["history", "--limit", "1000000"]).exit_code == 0
    assert (fleet.x.request_count, fleet.graph.request_count) == sent


@pytest.mark.parametrize("since", ["0001-01-01", "0001-01-01T00:00+01:00", "1969-12-01",
                                   "9999-12-31", "9999-12-31T23:59-01:00", "9999-01-03"])
def test_audit_since_out_of_range_is_refused(fleet, since):
    wanted = (f"Invalid value for '--since': '{since}' is out of range: give a date or time in "
              "the years 1970 to 9998")
    assert refused(fleet.run(["audit", "--since", since]), fleet) == [f"Error: {wanted}"]
    outcome = fleet.run(["audit", "--since", since, "--json"])
    assert outcome.exit_code == 2 and "Traceback" not in outcome.stderr
    assert json.loads(outcome.stdout)["problems"] == [wanted]


@pytest.mark.parametrize("since", ["1970-01-01", "9998-12-31T23:59-23:59"])
def test_audit_since_at_the_ends_of_the_range_is_taken(fleet, since):
    outcome = fleet.run(["audit", "--since", since, "--json"])
    assert outcome.exit_code == 0, outcome.stderr
    assert json.loads(outcome.stdout) == {"events": []}


@pytest.mark.parametrize(("args", "wanted"), [
    (["--now", "0001-01-01T00:00+00:00"],
     "Invalid value for '--now': '0001-01-01T00:00+00:00' is out of range: give a time in the "
     "years 1971 to 9998"),
    (["--now", "9999-12-31T23:59+00:00"],
     "Invalid value for '--now': '9999-12-31T23:59+00:00' is out of range: give a time in the "
     "years 1971 to 9998"),
    (["--catch-up", "99999999999999d"],
     "Invalid value for '--catch-up': '99999999999999d' is longer than 7d, the most it may be: "
     "slots more than 7 days old are never looked at"),
    (["--catch-up", "7d1s"],
     "Invalid value for '--catch-up': '7d1s' is longer than 7d, the most it may be: slots more "
     "than 7 days old are never looked at"),
    (["--catch-up", "9" * 5000 + "s"],
     f"Invalid value for '--catch-up': '{'9' * 5000}s' is longer than 7d, the most it may be: "
     "slots more than 7 days old are never looked at"),
])
def test_due_refuses_times_and_durations_out_of_range(fleet, args, wanted):
    (fleet.root / "schedules.yaml").write_text(SCHEDULE, encoding="utf-8")
    for dry_run in (["--dry-run"], []):
        assert refused(fleet.run(["due", *dry_run, *args]), fleet) == [f"Error: {wanted}"]


def test_due_at_the_ends_of_the_range_of_times(fleet):
    # Within range, a cron expression whose next time would fall after the year 9999 has none.
    (fleet.root / "schedules.yaml").write_text(SCHEDULE + SCHEDULE.replace(
        "schedules:\n", "").replace("morning", "leap-day").replace("0 8 * * *", "0 0 29 2 *"),
        encoding="utf-8")
    for now in ("1971-01-01T00:00+23:59", "9998-12-31T23:59-23:59"):
        outcome = fleet.run(["due", "--dry-run", "--catch-up", "7d", "--now", now, "--json"])
        assert outcome.exit_code == 0, outcome.stderr
        assert len(json.loads(outcome.stdout)["slots"]) == 7
    outcome = fleet.run(["schedule", "list", "--now", "9998-03-01T00:00+00:00", "--json"])
    assert outcome.exit_code == 0, outcome.stderr
    assert [row["next"] for row in json.loads(outcome.stdout)["schedules"]] == [
        "9998-03-01T08:00:00+00:00", None]
    assert refused(fleet.run(["schedule", "preview", "leap-day", "--at", "9998-03-01T00:00"]),
                   fleet) == ["metpost: error: schedule 'leap-day' has no slot after "
                              "9998-03-01T00:00:00+00:00"]


@pytest.mark.parametrize("expiry", ["999999999999d", "366d", "9" * 5000 + "h"])
def test_approvals_expiry_beyond_a_year_is_refused_with_its_line(fleet, expiry):
    text = fleet.config.read_text(encoding="utf-8")
    fleet.config.write_text(text + f"approvals: {{required: true, expires_after: {expiry}}}\n",
                            encoding="utf-8")
    line = len(text.splitlines()) + 1
    wanted = (f"metpost: error: {fleet.config}:{line}: approvals.expires_after: '{expiry}' is "
              "longer than 365d, the most it may be: a plan is approved to go out soon, not to "
              "wait for a year")
    plan = fleet.root / "p.json"
    assert refused(fleet.run(["check"]), fleet) == [wanted]
    assert refused(fleet.run([*SEND[:-1], "--plan", str(plan)]), fleet) == [wanted]
    assert not plan.exists()


@pytest.mark.parametrize("command", [["show"], ["retry", "--yes"], ["retract", "--yes"]])
def test_an_empty_broadcast_names_none(fleet, command):
    # An empty prefix would match every broadcast: a script's unset "$ID" must not retract one.
    assert fleet.run(["send", "--borough", "Hackney", "-m", "hi {{ borough }}", "--yes"]
                     ).exit_code == 0
    sent = (fleet.x.request_count, fleet.graph.request_count)
    for blank in ("", "  "):
        outcome = fleet.run([*command, blank])
        assert outcome.exit_code == 2 and "Traceback" not in outcome.stderr
        assert outcome.error_lines[-1] == (
            "Error: Invalid value for 'BROADCAST': it is empty; give an id from metpost history "
            "(a unique prefix will do), the --key it was sent with, or 'last'")
    assert (fleet.x.request_count, fleet.graph.request_count) == sent
    assert fleet.ledger_rows("SELECT state FROM posts WHERE state = 'retracted'") == []


def test_a_secret_with_a_line_break_inside_is_refused_before_anything_is_sent(fleet):
    # `export TOKEN=$(cat token.txt)` of a file holding two lines: the HTTP library would
    # refuse the header before sending, which looks like a lost connection ("may have been
    # posted") and is retried until the deadline.
    secret = "EAAB-first-line\nsecond-line-secret"
    outcome = fleet.run(["send", "--all", "--message", "{{ borough }}: roads reopen.", "--yes"],
                        env={"HACKNEY_FB_TOKEN": secret})
    assert outcome.exit_code == 2, outcome
    assert ("hackney-facebook: credential HACKNEY_FB_TOKEN holds a line break or another "
            "control character, which no token has; set it again without it") in outcome.stderr
    assert "second-line" not in outcome.stdout + outcome.stderr
    assert fleet.x.request_count == fleet.graph.request_count == 0


def test_retry_refuses_a_secret_with_a_control_character_too(fleet):
    fleet.graph.fail_next(100, status=503)  # a post that fails now, for retry to finish
    first = fleet.run(["send", "--account", "hackney-facebook", "--message", "Roads reopen.",
                       "--yes", "--deadline", "1"])
    assert first.exit_code == 1, first
    before = fleet.graph.request_count
    outcome = fleet.run(["retry", "last", "--yes"],
                        env={"HACKNEY_FB_TOKEN": "EAAB\rtoken-secret"})
    assert outcome.exit_code == 2, outcome
    assert "credential HACKNEY_FB_TOKEN holds a line break or another control character" in (
        outcome.stderr)
    assert fleet.graph.request_count == before


def test_check_reports_a_malformed_secret_and_its_json_is_one_document(fleet):
    outcome = fleet.run(["check", "--json"], env={"HACKNEY_X_ACCESS_TOKEN": "tok\nen-secret"})
    assert outcome.exit_code == 2
    report = json.loads(outcome.stdout)  # one document: the report, with why it fails
    problem = ("hackney-x: credential HACKNEY_X_ACCESS_TOKEN holds a line break or another "
               "control character, which no token has; set it again without it")
    assert report["credential_problems"] == [problem]
    assert report["problems"] == [problem] and report["exit_code"] == 2
    assert outcome.stderr.splitlines() == [f"metpost: error: {problem}"]
    assert "en-secret" not in outcome.stdout + outcome.stderr


def test_check_json_with_a_broken_template_is_one_document(fleet):
    (fleet.root / "templates" / "broken.j2").write_text("{{ borough ", encoding="utf-8")
    outcome = fleet.run(["check", "--json"])
    assert outcome.exit_code == 2
    report = json.loads(outcome.stdout)
    assert report["problems"] == report["template_problems"] and report["problems"]


@pytest.mark.parametrize(("key", "why"), [
    ("", "is empty"), ("   ", "is empty"),
    ("slot\n\x1b[31mEVIL", "holds a line break or another control character"),
    ("k" * 201, "is 201 characters long; give at most 200"),
    # due would take the broadcast for its slot's, find it sent, and never send the slot.
    ("schedule:daily:2026-12-01T08:00", "begins with 'schedule:', which metpost due keeps"),
    ("Schedule:daily:2026-12-01T08:00", "begins with 'schedule:', which metpost due keeps"),
])
def test_a_key_that_cannot_name_a_broadcast_is_refused(fleet, key, why):
    # `--key "$SLOT"` with SLOT unset must not quietly send without the guarantee.
    outcome = fleet.run(["send", "--all", "--message", "Roads reopen.", "--yes", "--key", key])
    assert outcome.exit_code == 2
    assert outcome.stderr.splitlines()[-1].startswith(f"Error: Invalid value for '--key': {why}")
    assert fleet.x.request_count == fleet.graph.request_count == 0


def test_a_control_character_in_a_post_is_refused_before_anything_is_sent(fleet):
    outcome = fleet.run(["send", "--all", "--message", "{{ borough }}: roads {{ bell }}reopen.",
                         "--var", "bell=\a", "--yes"])
    assert outcome.exit_code == 2
    assert ("the text holds a control character (U+0007), which no platform shows; remove it "
            "from the template or --var") in outcome.stderr
    assert fleet.x.request_count == fleet.graph.request_count == 0
    # Line breaks and tabs are text, not control characters.
    dry = fleet.run(["send", "--all", "--message", "{{ borough }}:\n\troads reopen.",
                     "--dry-run", "--public-safety"])
    assert dry.exit_code == 0, dry.stderr


@pytest.mark.parametrize(("args", "line"), [
    (["bogus"], "Error: No such command 'bogus'; see metpost --help"),
    (["--bogus"], "Error: No such option '--bogus'; see metpost --help"),
    (["send", "--bogus"],
     "Error: No such option '--bogus'. Did you mean '--borough'? See metpost send --help"),
    (["send", "-b"], "Error: Option '-b' requires an argument; see metpost send --help"),
    (["ledger", "bogus"], "Error: No such command 'bogus'; see metpost ledger --help"),
    (["ledger", "migrate"], "Error: Missing option '--from'; see metpost ledger migrate --help"),
    # metpost's own refusals of a value say the fix themselves
    (["send", "--deadline", "-5"],
     "Error: Invalid value for '--deadline': '-5' is not a number of seconds of at least 1"),
])
def test_a_usage_error_is_one_line_with_where_to_read_more(cli_run, args, line):
    outcome = cli_run(args)
    assert outcome.exit_code == 2
    assert outcome.stderr.splitlines() == [line]
