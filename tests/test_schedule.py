"""Schedules: slots from cron expressions (daylight saving included), rotas, the window
`metpost due` looks at, and schedules.yaml's validation."""

from __future__ import annotations

import itertools
import json
import textwrap
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from metpost.schedule import (
    Schedule,
    check_cron,
    due_slots,
    next_slot,
    parse_duration,
    parse_moment,
    rota_entry,
    slot_variables,
    slots_between,
    times_within,
)
from metpost.selection import Selection
from tests.conftest import PROJECT

LONDON = ZoneInfo("Europe/London")
EVERYONE = Selection(all=True)


def schedule(cron: str, **more) -> Schedule:
    return Schedule(name="s", cron=cron, timezone="Europe/London", selection=EVERYONE, **more)


def keys(slots) -> list[str]:
    return [slot.key for slot in slots]


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_a_daily_0130_fires_once_on_the_october_change_day_at_the_first_0130():
    slots = slots_between(schedule("30 1 * * *"), utc(2026, 10, 24), utc(2026, 10, 27))
    assert keys(slots) == ["2026-10-24T01:30", "2026-10-25T01:30", "2026-10-26T01:30"]
    # 01:30 happens twice on the 25th (BST, then GMT): cronsim, like Debian's cron, runs a
    # fixed-time job the first time only.
    assert slots[1].at.astimezone(UTC) == utc(2026, 10, 25, 0, 30)
    assert slots[2].at.astimezone(UTC) == utc(2026, 10, 26, 1, 30)


def test_a_daily_0130_runs_at_0200_on_the_march_change_day_when_0130_does_not_exist():
    slots = slots_between(schedule("30 1 * * *"), utc(2027, 3, 27), utc(2027, 3, 30))
    # Clocks jump from 01:00 GMT to 02:00 BST: the skipped job runs as they change.
    assert keys(slots) == ["2027-03-27T01:30", "2027-03-28T02:00", "2027-03-29T01:30"]
    assert slots[1].at.astimezone(UTC) == utc(2027, 3, 28, 1, 0)


def test_the_repeated_hour_is_one_slot_even_for_a_schedule_that_runs_in_it_twice():
    slots = slots_between(schedule("*/30 * * * *"), utc(2026, 10, 25, 0, 0),
                          utc(2026, 10, 25, 2, 0))
    # 01:00 and 01:30 come once as BST and once as GMT; each wall time is one slot.
    assert keys(slots) == ["2026-10-25T01:00", "2026-10-25T01:30", "2026-10-25T02:00"]
    assert len({slot.label for slot in slots}) == 3


def test_slot_labels_are_the_broadcast_keys():
    slot = next_slot(schedule("0 8 * * *"), utc(2026, 12, 1, 7, 0))
    assert slot.label == "schedule:s:2026-12-01T08:00"
    assert next_slot(schedule("0 8 * * *"), utc(2026, 12, 1, 8, 0)).key == "2026-12-01T08:00"


def test_a_rota_fills_each_slot_in_turn_from_rota_start():
    rota = ({"officer": "PC Patel"}, {"officer": "PC Okafor"}, {"officer": "PS Hughes"})
    daily = schedule("0 8 * * *", rota=rota, rota_start=date(2026, 12, 1),
                     vars={"officer": "nobody", "area": "Hackney"})
    week = slots_between(daily, utc(2026, 11, 25), utc(2026, 12, 7, 23))
    # No slot before rota_start: the schedule starts with the rota.
    assert week[0].key == "2026-12-01T08:00"
    assert [rota_entry(slot)[0] for slot in week] == [0, 1, 2, 0, 1, 2, 0]
    assert [slot_variables(slot) for slot in week[:2]] == [
        {"officer": "PC Patel", "area": "Hackney"}, {"officer": "PC Okafor", "area": "Hackney"}]


def test_due_slots_inside_the_window_are_due_and_older_ones_expired():
    daily = schedule("0 8 * * *")
    now = utc(2026, 12, 3, 8, 10)
    first_run = due_slots([daily], now, timedelta(minutes=30), {"s": None})
    assert [(d.slot.key, d.expired) for d in first_run] == [("2026-12-03T08:00", False)]
    # The previous run was on the 1st: the slot of the 2nd fell due in between and expired.
    later = due_slots([daily], now, timedelta(minutes=30), {"s": utc(2026, 12, 1, 8, 5)})
    assert [(d.slot.key, d.expired) for d in later] == [
        ("2026-12-01T08:00", True), ("2026-12-02T08:00", True), ("2026-12-03T08:00", False)]
    # A run just before a slot: nothing is due yet.
    assert due_slots([daily], utc(2026, 12, 3, 7, 59), timedelta(minutes=30), {"s": None}) == []


def test_durations_and_times():
    assert parse_duration("30m") == timedelta(minutes=30)
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("90s") == timedelta(seconds=90)
    for bad in ("", "30", "m", "1x"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    assert parse_moment("2026-12-01T08:00:00Z") == utc(2026, 12, 1, 8)
    assert parse_moment("2026-12-01T08:00", LONDON).tzinfo is LONDON
    with pytest.raises(ValueError, match="has no offset"):
        parse_moment("2026-12-01T08:00")


# -- schedules.yaml ---------------------------------------------------------------------------

CONFIG = """\
    timezone: Europe/London
    boroughs:
      - {name: Hackney, bcu: CE}
    personalities:
      on-the-street: {display: "MPS On The Street"}
    accounts:
      - name: hackney-x
        platform: x
        borough: Hackney
        credentials: {consumer_key: '${CK}', consumer_secret: '${CS}', access_token: '${AT}',
                      access_token_secret: '${ATS}'}
      - name: street-x
        platform: x
        personality: on-the-street
        credentials: {consumer_key: '${CK}', consumer_secret: '${CS}', access_token: '${AT}',
                      access_token_secret: '${ATS}'}
      - name: hackney-facebook
        platform: facebook
        page_id: '1'
        borough: Hackney
        credentials: {page_access_token: '${PT}'}
    """
TEMPLATES = {"takeover.j2": """\
    ---
    description: Today's officer.
    vars:
      officer: Who
      plans: {help: What, default: "patrols"}
    ---
    I'm {{ officer }}: {{ plans }}.
    """}


def write_schedules(project, text: str):
    config = project(CONFIG, TEMPLATES)
    (config.parent / "schedules.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    return config


def test_the_shipped_schedules_are_valid_and_listed(cli_run):
    outcome = cli_run(["schedule", "list", "--config", str(PROJECT / "accounts.yaml"), "--now",
                       "2026-12-01T12:00:00Z", "--json"])
    assert outcome.exit_code == 0, outcome.stderr
    assert json.loads(outcome.stdout) == {"schedules": [
        {"name": "on-the-street", "cron": "0 8 * * *", "timezone": "Europe/London",
         "next": "2026-12-02T08:00:00+00:00"},
        {"name": "weekend-safety", "cron": "0 19 * * 5,6", "timezone": "Europe/London",
         "next": "2026-12-04T19:00:00+00:00"},
        {"name": "night-reassurance", "cron": "0 23 * * 5,6", "timezone": "Europe/London",
         "next": "2026-12-04T23:00:00+00:00"}]}


@pytest.mark.parametrize("name", ["on-the-street", "weekend-safety", "night-reassurance"])
def test_every_shipped_schedule_previews_and_fits_for_a_week(cli_run, name):
    config = str(PROJECT / "accounts.yaml")
    for day in range(1, 8):
        outcome = cli_run(["schedule", "preview", name, "--config", config, "--at",
                           f"2026-12-{day:02d}T00:00", "--json"])
        assert outcome.exit_code == 0, outcome.stdout + outcome.stderr
        document = json.loads(outcome.stdout)
        for post in document["posts"]:
            assert post["ok"], (document["slot"], post)
        # No X post of a shipped schedule breaks X's rule on the same text on several accounts.
        assert "x_rules" not in document, document["x_rules"]


def test_a_rota_turn_is_the_same_in_whatever_order_slots_are_looked_at():
    # Turns counted for one slot are carried on for the next (one pass for a run's slots); a
    # slot before those counted, or over the October repeated hour, must get the same turn
    # as when counted from rota_start alone.
    from metpost import schedule as module

    rota = tuple({"n": str(n)} for n in range(7))
    every = schedule("*/30 * * * *", rota=rota, rota_start=date(2026, 10, 24))
    slots = slots_between(every, utc(2026, 10, 24), utc(2026, 10, 26))

    def alone(slot):
        module._TURNS_COUNTED.clear()
        return rota_entry(slot)[0]

    expected = [alone(slot) for slot in slots]
    module._TURNS_COUNTED.clear()
    assert [rota_entry(slot)[0] for slot in slots] == expected  # in order
    assert [rota_entry(slot)[0] for slot in reversed(slots)] == expected[::-1]  # backwards
    mixed = slots[40:] + slots[:40]
    assert [rota_entry(slot)[0] for slot in mixed] == expected[40:] + expected[:40]
    # One turn a wall-time slot, over the repeated hour too (00:00 and 00:30 local came first).
    assert expected[0] == 2
    assert all((b - a) % 7 == 1 for a, b in itertools.pairwise(expected))


def test_preview_shows_the_rota_entry_of_that_slot(cli_run):
    outcome = cli_run(["schedule", "preview", "on-the-street", "--config",
                       str(PROJECT / "accounts.yaml"), "--at", "2026-12-04T07:00", "--json"])
    document = json.loads(outcome.stdout)
    assert document["slot"] == "2026-12-04T08:00"
    assert document["rota_entry"]["index"] == 3
    assert document["rota_entry"]["vars"]["officer"] == "PC Tom Reilly, Camden"
    [post] = document["posts"]
    assert post["account"] == "on-the-street-x"
    assert post["text"].startswith("Good morning! I'm a dog handler based in Camden")
    plain = cli_run(["schedule", "preview", "on-the-street", "--config",
                     str(PROJECT / "accounts.yaml"), "--at", "2026-12-04T07:00"])
    assert "rota entry 4 of 7: officer=PC Tom Reilly, Camden" in plain.stderr
    assert "Today: PC Tom Reilly, Camden" in plain.stdout


def test_every_problem_in_schedules_yaml_is_one_line_with_its_line(project, cli_run):
    config = write_schedules(project, """\
        schedules:
          - name: on-the-street
            cron: "0 8 * *"
            select: {personality: [on-the-stret]}
            template: takeover
          - name: on-the-street
            cron: "61 8 * * *"
            select: {tag: [borough]}
            templat: takeover
          - name: Night
            cron: "30 1 * * *"
            select: {borough: [Hackny], platfrom: [x]}
            template: takover
          - name: rota
            cron: "0 8 * * *"
            select: {account: [street-x]}
            template: takeover
            vars: {plan: "x", borough: Hackney}
            rota:
              - {officer: "PC Patel"}
              - {plans: "school visits"}
          - name: reposts
            cron: "0 9 * * *"
            select: {borough: [Hackney]}
            message: "{{ borough }}: hello"
            x_repost_from: hackney-facebook
            rota_start: 2026-12-01
        """)
    outcome = cli_run(["schedule", "list", "--config", str(config)])
    assert outcome.exit_code == 2
    path = config.parent / "schedules.yaml"
    assert [line.removeprefix(f"metpost: error: {path}:") for line in outcome.error_lines] == [
        '3: schedules[0].cron: a cron expression has five fields: minute hour day-of-month '
        'month day-of-week, e.g. "0 8 * * *"',
        "4: schedules[0].select: unknown personality 'on-the-stret' — did you mean "
        "'on-the-street'?",
        "2: schedules[0]: template 'takeover' needs officer: give it in vars; Who",
        "9: schedules[1].templat: unknown key 'templat' — did you mean 'template'?",
        "7: schedules[1].cron: not a cron expression: bad minute",
        "8: schedules[1].select: unknown tag 'borough'",
        "6: schedules[1]: needs a template: NAME (from templates/) or a message: TEXT",
        "10: schedules[2].name: 'Night' is not a usable name: use lowercase letters, digits "
        "and dashes, like on-the-street",
        "12: schedules[2].select.platfrom: unknown key 'platfrom' — did you mean 'platform'?",
        "12: schedules[2].select: unknown borough 'Hackny' — did you mean 'Hackney'?",
        "13: schedules[2].template: unknown template 'takover' — did you mean 'takeover'?; "
        "see metpost templates list",
        "14: schedules[3]: a rota needs rota_start: the date (like 2026-12-01) whose first "
        "slot takes the rota's first entry",
        "18: schedules[3].vars.plan: template 'takeover' takes no 'plan' — did you mean "
        "'plans'? (it takes: officer, plans)",
        "18: schedules[3].vars.borough: 'borough' is set by metpost for each account and "
        "cannot be given",
        "14: schedules[3]: template 'takeover' needs officer: give it in vars or in every "
        "rota entry (rota[1] has none); Who",
        "27: schedules[4].rota_start: rota_start is only for a rota; add rota: or remove it",
        "26: schedules[4].x_repost_from: account 'hackney-facebook' is on facebook, whose "
        "posts metpost cannot repost; name an X account",
    ]


def test_duplicate_names_and_a_missing_time_zone_are_refused(project, cli_run):
    config = project(CONFIG.replace("    timezone: Europe/London\n", ""), TEMPLATES)
    (config.parent / "schedules.yaml").write_text(textwrap.dedent("""\
        schedules:
          - {name: a, cron: "0 8 * * *", select: {all: true}, message: "hi", timezone: UTC}
          - {name: a, cron: "0 9 * * *", select: {all: true}, message: "hi", timezone: UTC}
          - {name: b, cron: "0 9 * * *", select: {all: true}, message: "hi"}
          - {name: c, cron: "0 9 * * *", select: {all: true}, message: "hi", timezone: Mars/Base}
        """), encoding="utf-8")
    outcome = cli_run(["check", "--config", str(config)])
    assert outcome.exit_code == 2
    path = config.parent / "schedules.yaml"
    assert outcome.error_lines == [
        f"metpost: error: {path}:3: schedules[1].name: duplicate schedule name 'a' (first at "
        "line 2); schedule names must be unique",
        f"metpost: error: {path}:4: schedules[2]: needs a time zone: add timezone: "
        f"Europe/London (an IANA name) to {config} or to this schedule",
        f"metpost: error: {path}:5: schedules[3].timezone: unknown time zone 'Mars/Base'; use "
        "an IANA name such as Europe/London"]


def test_check_validates_the_schedules_beside_the_config(cli_run):
    outcome = cli_run(["check", "--config", str(PROJECT / "accounts.yaml")])
    assert outcome.exit_code == 0, outcome.stderr
    assert f"{PROJECT / 'schedules.yaml'}: 3 schedules, valid" in outcome.stdout.splitlines()


def test_a_schedules_file_named_but_missing_is_an_error(fleet):
    outcome = fleet.run(["due", "--schedules", str(fleet.root / "nope.yaml")])
    assert outcome.exit_code == 2
    assert outcome.error_lines == [
        f"metpost: error: {fleet.root / 'nope.yaml'}: no such file; pass --schedules PATH or "
        "set METPOST_SCHEDULES"]


def test_cron_line_names_this_metpost_and_the_files_absolutely(cli_run, tmp_path):
    import sys
    from pathlib import Path

    outcome = cli_run(["schedule", "cron-line", "--config", str(PROJECT / "accounts.yaml"),
                       "--env-file", "/etc/metpost/env", "--every", "10",
                       "--ledger", str(tmp_path / "ledger.sqlite3")])
    assert outcome.exit_code == 0, outcome.stderr
    [line] = outcome.stdout.splitlines()
    metpost = Path(sys.executable).absolute().parent / "metpost"
    assert line == (f"*/10 * * * * set -a && . /etc/metpost/env && set +a && exec {metpost} "
                    f"due --config {PROJECT / 'accounts.yaml'} --ledger "
                    f"{tmp_path / 'ledger.sqlite3'}")
    assert "chmod 600" in outcome.stderr


@pytest.mark.parametrize(("ledger", "refusal"), [
    ("mysql://metpost@db/metpost",
     "Error: Invalid value for '--ledger': mysql://metpost@db/metpost is not a ledger metpost "
     "can use"),
    ("", "Error: Invalid value for '--ledger': it is empty"),
    ("postgresql://metpost:hunter2@db/metpost",
     "metpost: error: --ledger postgresql://metpost@db/metpost: the URL must not contain the "
     "database password"),
])
def test_cron_line_writes_no_ledger_that_due_could_not_use(cli_run, ledger, refusal):
    # Not a line that keeps a ledger of its own (a folder "mysql:", or the default file), nor
    # one with the database password in the crontab and in every cron mail.
    outcome = cli_run(["schedule", "cron-line", "--config", str(PROJECT / "accounts.yaml"),
                       "--ledger", ledger])
    assert outcome.exit_code == 2
    assert outcome.stdout == ""
    assert outcome.error_lines[-1].startswith(refusal)
    assert "hunter2" not in outcome.stdout + outcome.stderr


def test_the_readme_cron_line_is_the_one_cron_line_prints():
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Running from cron", 1)[1].split("\n## ", 1)[0]
    assert "metpost schedule cron-line" in section
    assert ("*/5 * * * * set -a && . /etc/metpost/env && set +a && exec "
            "/srv/metpost/.venv/bin/metpost due --config /srv/metpost/accounts.yaml") in section


@pytest.mark.parametrize(("every", "times", "catch_up"), [
    ("5", "*/5 * * * *", []), ("15", "*/15 * * * *", []),
    ("20", "*/20 * * * *", ["--catch-up", "40m"]), ("30", "*/30 * * * *", ["--catch-up", "1h"]),
    ("60", "0 * * * *", ["--catch-up", "2h"])])
def test_cron_line_runs_at_even_gaps_with_a_window_of_two_runs(cli_run, tmp_path, every, times,
                                                                  catch_up):
    outcome = cli_run(["schedule", "cron-line", "--config", str(PROJECT / "accounts.yaml"),
                       "--every", every, "--ledger", str(tmp_path / "ledger.sqlite3")])
    assert outcome.exit_code == 0, outcome.stderr
    line = outcome.stdout.strip()
    assert line.startswith(f"{times} set -a")
    # The default window (30m) covers two runs up to every 15 minutes; beyond, twice --every.
    assert line.split(" due ", 1)[1].split()[4:] == catch_up


@pytest.mark.parametrize("every", ["45", "7", "0", "59", "61", "120"])
def test_cron_line_refuses_an_interval_that_does_not_divide_the_hour(cli_run, every):
    # */45 runs at :00 and :45 only, */7 leaves 4 minutes before the hour: uneven gaps that the
    # catch-up window was not made for.
    outcome = cli_run(["schedule", "cron-line", "--config", str(PROJECT / "accounts.yaml"),
                       "--every", every])
    assert outcome.exit_code == 2
    assert outcome.stdout == ""
    assert outcome.error_lines[-1] == (
        f"Error: Invalid value for '--every': {every} is not a number of minutes that divides "
        "the hour; use one of 1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, or 60 (hourly)")


def test_cron_line_names_the_default_ledger_this_shell_would_use(cli_run, tmp_path):
    # cron has no $XDG_DATA_HOME: a line without --ledger would keep a ledger apart from the one
    # metpost history reads in this shell.
    data = tmp_path / "my data"
    outcome = cli_run(["schedule", "cron-line", "--config", str(PROJECT / "accounts.yaml")],
                      env={"XDG_DATA_HOME": str(data)})
    assert outcome.exit_code == 0, outcome.stderr
    ledger = data / "metpost" / "ledger.sqlite3"
    assert outcome.stdout.strip().endswith(f"due --config {PROJECT / 'accounts.yaml'} --ledger "
                                           f"'{ledger}'")
    assert (f"It names the ledger this shell's metpost uses by default, {ledger}; pass --ledger "
            "to name another.") in outcome.error_lines


@pytest.mark.parametrize("text", ["", "\n  \n", "# schedules come later\n"])
def test_an_empty_schedules_file_is_refused_not_taken_for_none(fleet, text):
    # due would send nothing and exit 0: a file emptied by mistake would stop every schedule
    # silently. schedules: [] says "none" on purpose.
    path = fleet.root / "schedules.yaml"
    path.write_text(text, encoding="utf-8")
    outcome = fleet.run(["due", "--now", "2026-12-01T08:05:00Z"])
    assert outcome.exit_code == 2
    assert outcome.error_lines == [
        f"metpost: error: {path}:1: (top level): must be a mapping with a schedules: list, not "
        "empty; write \"schedules: []\" to have none"]
    path.write_text("schedules: []\n", encoding="utf-8")
    assert fleet.run(["due", "--now", "2026-12-01T08:05:00Z"]).exit_code == 0


def test_schedules_with_every_entry_commented_out_is_refused_too(fleet):
    path = fleet.root / "schedules.yaml"
    path.write_text("schedules:\n#  - name: roads\n#    cron: '0 7 * * *'\n", encoding="utf-8")
    outcome = fleet.run(["due", "--now", "2026-12-01T08:05:00Z"])
    assert outcome.exit_code == 2
    assert outcome.error_lines == [
        f"metpost: error: {path}:1: schedules: holds no list (are its entries commented out?); "
        "write \"schedules: []\" to have none"]


@pytest.mark.parametrize("window", ["0s", "0m", "0d0h0m0s", "30s"])
def test_a_catch_up_window_under_a_minute_is_refused(fleet, window):
    outcome = fleet.run(["due", "--catch-up", window, "--now", "2026-12-01T08:05:00Z"])
    assert outcome.exit_code == 2
    assert (f"Error: Invalid value for '--catch-up': '{window}' is too short: give at least 1m "
            "(cron starts metpost due up to a minute after a slot: every slot would be "
            "missed)") in outcome.error_lines


def test_a_renamed_schedule_goes_on_from_its_former_names_last_run():
    daily = schedule("0 8 * * *")
    renamed = Schedule(name="daily", cron="0 8 * * *", timezone="Europe/London",
                       selection=EVERYONE, renamed_from=("s",))
    now = utc(2026, 12, 3, 8, 10)
    marks = {"s": utc(2026, 12, 1, 8, 5), "daily": None}
    # The days between the former name's last run and now are looked at, as for the old name.
    assert ([(d.slot.key, d.expired) for d in due_slots([renamed], now, timedelta(minutes=30),
                                                        marks)]
            == [(d.slot.key, d.expired) for d in due_slots([daily], now, timedelta(minutes=30),
                                                           marks)]
            == [("2026-12-01T08:00", True), ("2026-12-02T08:00", True),
                ("2026-12-03T08:00", False)])
    slot = next_slot(renamed, now)
    assert slot.labels == ("schedule:daily:2026-12-04T08:00", "schedule:s:2026-12-04T08:00")
    assert next_slot(daily, now).labels == ("schedule:s:2026-12-04T08:00",)


def test_renamed_from_names_one_schedule_that_is_gone(project, cli_run):
    config = write_schedules(project, """\
        schedules:
          - {name: a, cron: "0 8 * * *", select: {all: true}, message: "hi"}
          - {name: b, cron: "0 8 * * *", select: {all: true}, message: "hi", renamed_from: a}
          - {name: c, cron: "0 8 * * *", select: {all: true}, message: "hi", renamed_from: x}
          - {name: d, cron: "0 8 * * *", select: {all: true}, message: "hi", renamed_from: x}
          - {name: e, cron: "0 8 * * *", select: {all: true}, message: "hi", renamed_from: e}
          - {name: f, cron: "0 8 * * *", select: {all: true}, message: "hi", renamed_from: X Y}
        """)
    outcome = cli_run(["check", "--config", str(config)])
    assert outcome.exit_code == 2
    path = config.parent / "schedules.yaml"
    assert [line.removeprefix(f"metpost: error: {path}:") for line in outcome.error_lines] == [
        "3: schedules[1].renamed_from: schedule 'a' is still in this file (line 2); rename it, "
        "or remove renamed_from",
        "5: schedules[3].renamed_from: schedule 'c' was renamed from 'x' already",
        "6: schedules[4].renamed_from: is the schedule's own name; give the name it had before",
        "7: schedules[5].renamed_from: 'X Y' is not a schedule name"]


RENAMED = """\
    schedules:
      - name: {name}
        cron: "0 7 * * *"
        timezone: Europe/London
        select: {{account: [hackney-x]}}
        message: "Roads closed today for the parade."
"""


def test_renaming_a_schedule_with_renamed_from_does_not_post_its_last_slot_again(fleet):
    path = fleet.root / "schedules.yaml"
    path.write_text(textwrap.dedent(RENAMED.format(name="roads")), encoding="utf-8")
    assert fleet.run(["due", "--now", "2026-12-01T07:02:00Z"]).exit_code == 0
    assert len(fleet.x_texts("MPSHackney")) == 1
    path.write_text(textwrap.dedent(RENAMED.format(name="roads-daily"))
                    + "    renamed_from: roads\n", encoding="utf-8")
    outcome = fleet.run(["due", "--now", "2026-12-01T07:07:00Z", "--json"])
    assert outcome.exit_code == 0, outcome.stderr
    [slot] = json.loads(outcome.stdout)["slots"]
    assert (slot["schedule"], slot["slot"], slot["status"]) == (
        "roads-daily", "2026-12-01T07:00", "already sent")
    assert len(fleet.x_texts("MPSHackney")) == 1
    # The next day's slot goes out under the new name.
    fleet.x.duplicate_window = 0
    assert fleet.run(["due", "--now", "2026-12-02T07:02:00Z"]).exit_code == 0
    assert len(fleet.x_texts("MPSHackney")) == 2
    assert fleet.run(["show", "schedule:roads-daily:2026-12-02T07:00"]).exit_code == 0


def test_a_schedule_renamed_twice_lists_both_former_names_and_posts_nothing_again(fleet):
    fleet.x.refuse_duplicates = False  # only metpost can keep the slot from going out twice
    path = fleet.root / "schedules.yaml"
    path.write_text(textwrap.dedent(RENAMED.format(name="roads")), encoding="utf-8")
    assert fleet.run(["due", "--now", "2026-12-01T07:02:00Z"]).exit_code == 0
    path.write_text(textwrap.dedent(RENAMED.format(name="roads-daily"))
                    + "    renamed_from: roads\n", encoding="utf-8")
    assert fleet.run(["due", "--now", "2026-12-01T07:07:00Z"]).exit_code == 0
    path.write_text(textwrap.dedent(RENAMED.format(name="roads-am"))
                    + "    renamed_from: [roads-daily, roads]\n", encoding="utf-8")
    outcome = fleet.run(["due", "--now", "2026-12-01T07:12:00Z", "--json"])
    assert outcome.exit_code == 0, outcome.stderr
    [slot] = json.loads(outcome.stdout)["slots"]
    assert (slot["schedule"], slot["status"]) == ("roads-am", "already sent")
    assert len(fleet.x_texts("MPSHackney")) == 1


@pytest.mark.parametrize("start", ["0001-01-01", "9999-12-31"])
def test_a_rota_start_beyond_python_dates_is_one_line_with_its_line(project, cli_run, start):
    config = write_schedules(project, f"""\
        schedules:
          - name: takeover
            cron: "0 8 * * *"
            select: {{personality: [on-the-street]}}
            message: "Today {{{{ officer }}}}"
            rota_start: {start}
            rota:
              - {{officer: "PC Patel"}}
        """)
    outcome = cli_run(["schedule", "preview", "takeover", "--config", str(config)])
    assert outcome.exit_code == 2
    [line] = outcome.error_lines
    assert line.endswith(f":6: schedules[0].rota_start: {start} is not a date in the years "
                         "1971 to 9998")


def test_a_rota_of_one_empty_entry_is_one_problem_not_three(project, cli_run):
    config = write_schedules(project, """\
        schedules:
          - name: takeover
            cron: "0 8 * * *"
            select: {personality: [on-the-street]}
            message: "Today {{ officer }}"
            rota_start: 2026-12-01
            rota: [{}]
        """)
    outcome = cli_run(["schedule", "list", "--config", str(config)])
    assert outcome.exit_code == 2
    [line] = outcome.error_lines
    assert line.endswith(':7: schedules[0].rota[0]: must be a mapping of template variables, '
                         'like {officer: "PC Amy Patel"}')


def test_a_schedule_name_too_long_for_its_slots_keys_is_refused(fleet):
    path = fleet.root / "schedules.yaml"
    path.write_text("schedules:\n  - name: " + "a" * 101 + "\n    cron: '0 7 * * *'\n"
                    "    timezone: Europe/London\n"
                    "    select: {all: true}\n    message: hi\n", encoding="utf-8")
    outcome = fleet.run(["schedule", "list"])
    assert outcome.exit_code == 2
    assert outcome.error_lines == [f"metpost: error: {path}:2: schedules[0].name: is 101 "
                                   "characters long; give at most 100 (each slot's --key holds "
                                   "it)"]


@pytest.mark.parametrize(("cron", "problem"), [
    ("0 8 30 2 *", "day-of-month 30 never comes in month 2, so this would never run; give a "
                   "day that month has"),
    ("0 8 31 apr,jun *", "day-of-month 31 never comes in month apr,jun, so this would never "
                         "run; give a day that month has"),
    ("0 8 32 * *", "not a cron expression: bad day-of-month"),
    ("0 8 29 2 *", None),  # a leap day comes every four years
    ("0 8 30 2 mon", None),  # cron's day-of-month or day-of-week: every Monday in February
])
def test_a_day_no_month_of_the_schedule_has_is_named_as_such(cron, problem):
    assert check_cron(cron) == problem


@pytest.mark.parametrize("zone", ["Europe/London", "America/Santiago", "Australia/Lord_Howe",
                                  "UTC"])
@pytest.mark.parametrize("cron", ["*/5 * * * *", "30 1 * * *", "0,30 0-3 * * *",
                                  "15 8 L * *", "0 9 1-7 * 1", "*/20 1 * 3,10 0", "0 0 29 2 *"])
def test_counting_a_rotas_turns_by_the_day_gives_what_walking_every_time_gives(zone, cron):
    # Each range spans clock changes (Europe's in March and October, Chile's at midnight,
    # Lord Howe's half hour) and starts and ends mid-day.
    schedule = Schedule(name="s", cron=cron, timezone=zone, selection=Selection())
    for start, end in [(datetime(2026, 3, 1, 7, 13, tzinfo=UTC),
                        datetime(2026, 4, 20, 1, 0, tzinfo=UTC)),
                       (datetime(2026, 9, 25, 23, 59, tzinfo=UTC),
                        datetime(2028, 3, 1, 0, 30, tzinfo=UTC)),
                       (datetime(2026, 10, 25, 0, 10, tzinfo=UTC),
                        datetime(2026, 10, 25, 2, 10, tzinfo=UTC))]:
        walked = sum(1 for slot in slots_between(schedule, start, end) if slot.at < end)
        assert times_within(schedule, start, end) == walked, (start, end)
