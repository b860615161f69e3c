"""`metpost due` driven across times against the fake X and Graph servers, through the real
tweepy and facebook-sdk: each slot once, the rota in turn, daylight saving, catch-up, missed
slots, failures retried, overlapping runs and a run killed mid-flight."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta

import pytest

OFFICERS = [("PC Amy Patel", "CE123"), ("PC Daniel Okafor", "LX456"), ("PS Claire Hughes", "AW78")]


def write_schedules(fleet, text: str) -> None:
    (fleet.root / "schedules.yaml").write_text(textwrap.dedent(text), encoding="utf-8")


TAKEOVER = textwrap.dedent("""\
    schedules:
      - name: on-the-street
        cron: "0 8 * * *"
        timezone: Europe/London
        select: {account: [hackney-x]}
        message: "Today {{ officer }} ({{ shoulder }}) runs {{ account.handle }}."
        rota_start: 2026-12-01
        rota:
    """) + "".join(f"      - {{officer: \"{name}\", shoulder: {number}}}\n"
                   for name, number in OFFICERS)


def due(fleet, now: str, *extra: str):
    return fleet.run(["due", "--now", now, *extra])


def slots(outcome) -> list[tuple[str, str, str]]:
    return [(s["schedule"], s["slot"], s["status"]) for s in json.loads(outcome.stdout)["slots"]]


def simulated_days(fleet) -> None:
    """--now moves days on while the fake's clock does not: without this, X's refusal of a
    text it saw in the last 24 hours would meet the rota's texts coming round again."""
    fleet.x.duplicate_window = 0


def test_a_week_of_the_daily_takeover_posts_each_morning_once_with_the_officer_in_turn(fleet):
    write_schedules(fleet, TAKEOVER)
    simulated_days(fleet)
    assert due(fleet, "2026-12-01T07:55:00Z") == quiet()  # nothing due yet
    for day in range(1, 8):
        for minute in ("05", "06", "20", "35"):  # every few minutes, as cron runs it
            outcome = due(fleet, f"2026-12-{day:02d}T08:{minute}:00Z")
            assert outcome == quiet(), (day, minute, outcome)
    expected = [f"Today {OFFICERS[day % 3][0]} ({OFFICERS[day % 3][1]}) runs @MPSHackney."
                for day in range(7)]
    assert fleet.x_texts("MPSHackney") == expected
    assert len([r for r in fleet.x.requests if r.method == "POST"]) == 7
    assert fleet.x_texts("MPSCamden") == [] and fleet.graph.live_posts() == []
    # Each slot is one broadcast keyed by the schedule and its wall time.
    labels = [row[0] for row in fleet.ledger_rows(
        "SELECT label FROM broadcasts ORDER BY created_at")]
    assert labels == [f"schedule:on-the-street:2026-12-{day:02d}T08:00" for day in range(1, 8)]
    shown = json.loads(fleet.run(["show", "schedule:on-the-street:2026-12-03T08:00",
                                  "--json"]).stdout)
    assert shown["posts"][0]["text"] == expected[2]


def quiet():
    from tests.conftest import Outcome

    return Outcome(0, "", "")


def test_json_reports_every_slot_looked_at(fleet):
    write_schedules(fleet, TAKEOVER)
    first = due(fleet, "2026-12-01T08:05:00Z", "--json")
    assert first.exit_code == 0 and first.stderr == ""
    [slot] = json.loads(first.stdout)["slots"]
    broadcast = slot.pop("broadcast")
    assert slot == {"schedule": "on-the-street", "slot": "2026-12-01T08:00", "status": "sent",
                    "error": None}
    again = due(fleet, "2026-12-01T08:10:00Z", "--json")
    assert json.loads(again.stdout)["slots"] == [
        {"schedule": "on-the-street", "slot": "2026-12-01T08:00", "status": "already sent",
         "broadcast": broadcast, "error": None}]
    verbose = due(fleet, "2026-12-01T08:15:00Z", "--verbose")
    assert verbose.exit_code == 0
    assert verbose.stdout == (f"already sent on-the-street 2026-12-01T08:00 broadcast "
                              f"{broadcast}\n")


def test_a_slot_older_than_the_catch_up_window_is_missed_not_sent(fleet):
    write_schedules(fleet, TAKEOVER)
    simulated_days(fleet)
    assert due(fleet, "2026-12-01T08:05:00Z") == quiet()
    # cron stopped on the 2nd; the run of the 3rd finds the 2nd's slot too old.
    outcome = due(fleet, "2026-12-03T08:05:00Z", "--json")
    assert outcome.exit_code == 1
    assert slots(outcome) == [("on-the-street", "2026-12-01T08:00", "already sent"),
                              ("on-the-street", "2026-12-02T08:00", "missed"),
                              ("on-the-street", "2026-12-03T08:00", "sent")]
    assert outcome.stderr.splitlines()[0] == "metpost due: 1 of 3 slots needs attention:"
    assert "missed       on-the-street 2026-12-02T08:00: not sent within the catch-up " \
           "window" in outcome.stderr
    # Reported once: the next run does not mail it again.
    assert due(fleet, "2026-12-03T08:10:00Z") == quiet()
    # Officer 2 is not skipped in the rota's count: the 3rd is officer 3's day.
    assert fleet.x_texts("MPSHackney") == [
        "Today PC Amy Patel (CE123) runs @MPSHackney.",
        "Today PS Claire Hughes (AW78) runs @MPSHackney."]
    # A first run after an hour's delay, with a longer window, still sends it.
    late = due(fleet, "2026-12-04T09:30:00Z", "--catch-up", "2h")
    assert late == quiet()
    assert len(fleet.x_texts("MPSHackney")) == 3


def test_a_failed_slot_is_retried_by_the_next_run_within_the_window(fleet):
    write_schedules(fleet, TAKEOVER)
    token = fleet.x_token("hackney")
    fleet.x.revoke(token)
    failed = due(fleet, "2026-12-01T08:05:00Z")
    assert failed.exit_code == 1 and failed.stdout == ""
    lines = failed.stderr.splitlines()
    assert lines[0] == "metpost due: 1 of 1 slot needs attention:"
    assert lines[1].startswith("  failed       on-the-street 2026-12-01T08:00 broadcast ")
    assert lines[1].endswith(": hackney-x: X refused the credentials (revoked or wrong keys): "
                             "Unauthorized")
    assert "metpost retry" in lines[2]
    fleet.x.revoked.discard(token)  # the token is renewed
    assert due(fleet, "2026-12-01T08:20:00Z") == quiet()
    assert fleet.x_texts("MPSHackney") == ["Today PC Amy Patel (CE123) runs @MPSHackney."]


def test_a_slot_still_failing_when_it_leaves_the_window_is_reported_once_more(fleet):
    write_schedules(fleet, TAKEOVER)
    fleet.x.revoke(fleet.x_token("hackney"))
    assert due(fleet, "2026-12-01T08:05:00Z").exit_code == 1
    gone = due(fleet, "2026-12-01T08:45:00Z", "--json")
    assert gone.exit_code == 1
    [slot] = json.loads(gone.stdout)["slots"]
    assert (slot["status"], slot["error"]) == (
        "failed", f"outside the catch-up window now; metpost retry {slot['broadcast']} "
                  "finishes it")
    # No later due looks at it: the summary does not say one will.
    assert "the next metpost due" not in gone.stderr
    assert due(fleet, "2026-12-01T09:00:00Z") == quiet()
    assert fleet.x.live_posts() == []


def test_a_slot_failed_by_a_long_catch_up_run_is_not_left_behind_by_shorter_runs(fleet):
    write_schedules(fleet, TAKEOVER)
    simulated_days(fleet)
    assert due(fleet, "2026-12-01T08:05:00Z") == quiet()
    # The host was down on the 2nd; on the 3rd, a run with a day's window catches up, but the
    # 2nd's slot fails and the 3rd's goes out.
    token = fleet.x_token("hackney")
    fleet.x.revoke(token)
    assert due(fleet, "2026-12-02T18:00:00Z", "--catch-up", "12h").exit_code == 1
    fleet.x.revoked.discard(token)
    # cron's next run, with the default window, still finds that slot: too old to send now, it
    # is reported with the retry that finishes it, not passed over without a word.
    later = due(fleet, "2026-12-02T18:10:00Z", "--json")
    assert later.exit_code == 1
    [slot] = [s for s in json.loads(later.stdout)["slots"] if s["slot"] == "2026-12-02T08:00"]
    assert (slot["status"], slot["error"]) == (
        "failed", f"outside the catch-up window now; metpost retry {slot['broadcast']} "
                  "finishes it")
    # Reported once, and the schedule goes on.
    assert due(fleet, "2026-12-02T18:20:00Z") == quiet()
    assert due(fleet, "2026-12-03T08:05:00Z") == quiet()
    assert len(fleet.x_texts("MPSHackney")) == 2


NIGHTLY = """\
    schedules:
      - name: night
        cron: "30 1 * * *"
        timezone: Europe/London
        select: {account: [hackney-x]}
        message: "Night patrols out, {{ now.strftime('%d %b %H:%M %Z') }}."
    """


def drive(fleet, start: datetime, end: datetime, step: timedelta) -> list[str]:
    """Run due at every step from start to end; return each run's slots that were sent."""
    sent = []
    moment = start
    while moment <= end:
        outcome = due(fleet, moment.isoformat(), "--json")
        assert outcome.exit_code == 0, (moment, outcome)
        sent += [f"{s['slot']}@{moment:%d %H:%M}" for s in json.loads(outcome.stdout)["slots"]
                 if s["status"] == "sent"]
        moment += step
    return sent


def test_the_october_change_day_sends_a_0130_slot_once(fleet):
    write_schedules(fleet, NIGHTLY)
    sent = drive(fleet, datetime(2026, 10, 24, 0, 0, tzinfo=UTC),
                 datetime(2026, 10, 26, 3, 0, tzinfo=UTC), timedelta(minutes=20))
    # 01:30 BST is 00:30 UTC; 01:30 comes again an hour later as GMT, and is not sent again.
    assert sent == ["2026-10-24T01:30@24 00:40", "2026-10-25T01:30@25 00:40",
                    "2026-10-26T01:30@26 01:40"]
    assert fleet.x_texts("MPSHackney") == ["Night patrols out, 24 Oct 01:30 BST.",
                                           "Night patrols out, 25 Oct 01:30 BST.",
                                           "Night patrols out, 26 Oct 01:30 GMT."]


HALF_HOURLY = """\
    schedules:
      - name: half
        cron: "*/30 * * * *"
        timezone: Europe/London
        select: {account: [hackney-x]}
        message: "Half-hourly, {{ now.strftime('%d %b %H:%M %Z') }}."
    """


def test_a_slot_of_the_repeated_hour_missed_the_first_time_is_not_sent_the_second(fleet):
    write_schedules(fleet, HALF_HOURLY)
    simulated_days(fleet)
    assert slots(due(fleet, "2026-10-25T00:05:00Z", "--json")) == [
        ("half", "2026-10-25T01:00", "sent")]  # 01:00 BST
    # The host is down from 00:10 to 01:05 UTC: 01:30 BST (00:30 UTC) is past the catch-up
    # window, and 01:00 and 01:30 GMT, which come after, are the same wall times again.
    late = due(fleet, "2026-10-25T01:05:00Z", "--json")
    assert late.exit_code == 1
    assert slots(late) == [("half", "2026-10-25T01:00", "already sent"),
                           ("half", "2026-10-25T01:30", "missed")]
    assert slots(due(fleet, "2026-10-25T01:35:00Z", "--json")) == []
    assert slots(due(fleet, "2026-10-25T02:05:00Z", "--json")) == [
        ("half", "2026-10-25T02:00", "sent")]
    assert fleet.x_texts("MPSHackney") == ["Half-hourly, 25 Oct 01:00 BST.",
                                           "Half-hourly, 25 Oct 02:00 GMT."]


def test_the_march_change_day_sends_the_0130_slot_at_0200_when_clocks_change(fleet):
    write_schedules(fleet, NIGHTLY)
    sent = drive(fleet, datetime(2027, 3, 27, 0, 0, tzinfo=UTC),
                 datetime(2027, 3, 29, 3, 0, tzinfo=UTC), timedelta(minutes=20))
    # 01:30 does not exist on the 28th (01:00 GMT becomes 02:00 BST): as cronsim documents,
    # after Debian's cron, the job runs as the clocks change, at 02:00 BST (01:00 UTC).
    assert sent == ["2027-03-27T01:30@27 01:40", "2027-03-28T02:00@28 01:00",
                    "2027-03-29T01:30@29 00:40"]
    assert fleet.x_texts("MPSHackney") == ["Night patrols out, 27 Mar 01:30 GMT.",
                                           "Night patrols out, 28 Mar 02:00 BST.",
                                           "Night patrols out, 29 Mar 01:30 BST."]


def test_a_dry_run_sends_nothing_and_writes_no_ledger(fleet):
    write_schedules(fleet, TAKEOVER)
    outcome = due(fleet, "2026-12-01T08:05:00Z", "--dry-run", "--json")
    assert outcome.exit_code == 0, outcome.stderr
    assert slots(outcome) == [("on-the-street", "2026-12-01T08:00", "dry run")]
    assert fleet.x.request_count == 0
    assert not (fleet.root / "ledger.sqlite3").exists()


def test_a_slot_that_cannot_be_rendered_fails_and_says_why(fleet):
    # Only rendering finds this one: the first slot's shoulder number has five characters.
    write_schedules(fleet, TAKEOVER.replace("{{ officer }}", "{{ officer }} {{ 1 // (shoulder"
                                                             " | length - 5) }}"))
    outcome = due(fleet, "2026-12-01T08:05:00Z", "--json")
    assert outcome.exit_code == 1
    [slot] = json.loads(outcome.stdout)["slots"]
    assert slot["status"] == "failed" and slot["broadcast"] is None
    assert "ZeroDivisionError" in slot["error"]
    assert fleet.x.request_count == 0


@pytest.mark.parametrize(("message", "problem"), [
    ("Today {{ officer }} {{ nope }}.",
     "{{ nope }} is not a variable any account, borough, personality or the schedule's vars "
     "provides; give it in the schedule's vars (nope: VALUE) or add it to the accounts' vars"),
    ("Today {{ oficer }}.", "{{ oficer }} is not a variable any account, borough, personality "
                            "or the schedule's vars provides — did you mean 'officer'?"),
    ("Today {{ officer }} in {{ borough.bcuu }}.",
     "borough has no 'bcuu' — did you mean 'bcu'? (line 1 of the message)"),
    ("{{ personality }}: {{ officer }}",
     "{{ personality }} cannot be filled: no selected account has a personality; select "
     "accounts that have one, or remove it"),
])
def test_a_message_no_slot_could_fill_is_bad_input_not_a_failed_slot(fleet, message, problem):
    write_schedules(fleet, TAKEOVER.replace(
        '"Today {{ officer }} ({{ shoulder }}) runs {{ account.handle }}."', f'"{message}"'))
    for command in (["check"], ["due", "--now", "2026-12-01T08:05:00Z"]):
        outcome = fleet.run(command)
        assert outcome.exit_code == 2, command
        assert outcome.error_lines[-1] == (f"metpost: error: {fleet.root / 'schedules.yaml'}:6: "
                                           f"schedules[0].message: {problem}"), outcome.error_lines
    assert fleet.x.request_count == 0


def test_a_variable_only_some_rota_entries_give_is_refused_in_a_message(fleet):
    write_schedules(fleet, TAKEOVER.replace('{officer: "PC Amy Patel", shoulder: CE123}',
                                            '{officer: "PC Amy Patel"}'))
    outcome = fleet.run(["check"])
    assert outcome.exit_code == 2
    assert "{{ shoulder }} is not a variable" in outcome.error_lines[-1]


def test_a_retracted_slot_is_reported_retracted_and_never_sent_again(fleet):
    write_schedules(fleet, TAKEOVER)
    assert due(fleet, "2026-12-01T08:05:00Z") == quiet()
    assert fleet.run(["retract", "schedule:on-the-street:2026-12-01T08:00", "--yes"]
                     ).exit_code == 0
    assert fleet.x.live_posts() == []
    again = due(fleet, "2026-12-01T08:10:00Z", "--json")
    assert again.exit_code == 0  # taken back on purpose: nothing for cron to mail
    [slot] = json.loads(again.stdout)["slots"]
    assert (slot["status"], slot["error"]) == (
        "retracted", f"metpost retract took back {slot['broadcast']}; it is not sent again")
    assert fleet.x.live_posts() == [] and len(fleet.x.posts) == 1


def test_a_message_that_does_not_parse_is_bad_input_not_a_failed_slot(fleet):
    write_schedules(fleet, TAKEOVER.replace("{{ officer }}", "{{ officer"))
    problem = ("schedules.yaml:6: schedules[0].message: template syntax error: expected token "
               "':', got '}' (line 1 of the message)")
    for command in (["check"], ["due", "--now", "2026-12-01T08:05:00Z"]):
        outcome = fleet.run(command)
        assert outcome.exit_code == 2, command
        assert outcome.error_lines[-1].endswith(problem), outcome.error_lines
    assert fleet.x.request_count == 0


# -- real processes ---------------------------------------------------------------------------

ALL_ACCOUNTS = """\
    schedules:
      - name: roads
        cron: "0 7 * * *"
        timezone: Europe/London
        select: {all: true}
        message: "{{ borough }}: roads around the market reopen at 6pm."
    """
NOW = "2026-12-01T07:02:00+00:00"


def start_due(fleet, *extra: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "metpost", "due", "--config", str(fleet.config),
               "--ledger", fleet.ledger, "--now", NOW, *extra]
    return subprocess.Popen(command, env={**os.environ, **fleet.env}, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def exactly_one_post_each(fleet) -> None:
    counts = {"hackney-x": len(fleet.x.live_posts("MPSHackney")),
              "camden-x": len(fleet.x.live_posts("MPSCamden")),
              "hackney-facebook": len(fleet.graph.live_posts("1001")),
              "camden-facebook": len(fleet.graph.live_posts("1002"))}
    assert counts == dict.fromkeys(counts, 1)
    assert fleet.ledger_rows("SELECT COUNT(*), COUNT(DISTINCT broadcast_id) FROM posts "
                             "WHERE state = 'sent'") == [(4, 1)]


@pytest.fixture
def accepting(fleet):
    """The fakes accept duplicate texts: only metpost can keep a slot from going out twice."""
    fleet.x.refuse_duplicates = fleet.graph.refuse_duplicates = False
    write_schedules(fleet, ALL_ACCOUNTS)
    return fleet


def test_two_due_runs_started_together_send_each_slot_once(accepting):
    fleet = accepting
    fleet.x.latency = fleet.graph.latency = 0.5
    first, second = start_due(fleet, "--json"), start_due(fleet, "--json")
    results = [(process.wait(timeout=60), *process.communicate()) for process in (first, second)]
    for code, _, stderr in results:
        assert code == 0, stderr
        assert stderr == ""
    statuses = sorted(json.loads(stdout)["slots"][0]["status"] for _, stdout, _ in results)
    assert statuses == ["already sent", "sent"]
    exactly_one_post_each(fleet)
    assert len([r for r in fleet.x.requests + fleet.graph.requests if r.method == "POST"]) == 4
    # The run that waited looked at the ledger while it waited, not sending (and recording a
    # send in the audit trail) at every look: a start for each run, and one more at most.
    [(started,)] = fleet.ledger_rows("SELECT COUNT(*) FROM audit_events WHERE outcome = "
                                     "'started'")
    assert 2 <= started <= 3


def kill_due_mid_slot(fleet) -> None:
    """Start due; once the first post on each platform is made and its answer held back, kill
    it with SIGKILL."""
    fleet.x.stall_next(1, seconds=30)
    fleet.graph.stall_next(1, seconds=30)
    process = start_due(fleet, "--concurrency", "1")
    give_up = time.monotonic() + 20
    while len(fleet.x.live_posts()) < 1 or len(fleet.graph.live_posts()) < 1:
        assert time.monotonic() < give_up, "the first posts never arrived"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


def test_a_due_killed_mid_flight_is_finished_by_the_rerun_without_a_duplicate(accepting):
    fleet = accepting
    kill_due_mid_slot(fleet)
    rerun = fleet.run(["due", "--now", NOW, "--json"])
    assert rerun.exit_code == 0, rerun.stdout + rerun.stderr
    assert slots(rerun) == [("roads", "2026-12-01T07:00", "sent")]
    exactly_one_post_each(fleet)
    # The posts the dead run had made were found, not made again.
    assert len([r for r in fleet.x.requests + fleet.graph.requests if r.method == "POST"]) == 4


# -- the ledger failing during a run -----------------------------------------------------------

def refuse_writes_to(fleet, table: str, when: str = "TRUE") -> None:
    """Make the ledger refuse writes to ``table`` (those rows ``when`` holds for), as a full
    disk would, from now on."""
    message = "database or disk is full"
    if fleet.ledger.startswith("postgres"):
        fleet.ledger_execute(
            f"CREATE FUNCTION refuse_{table}() RETURNS trigger AS $$ BEGIN "
            f"RAISE EXCEPTION '{message}'; END $$ LANGUAGE plpgsql; "
            f"CREATE TRIGGER refuse_{table} BEFORE INSERT OR UPDATE ON {table} "
            f"FOR EACH ROW WHEN ({when}) EXECUTE FUNCTION refuse_{table}()")
    else:
        for event in ("INSERT", "UPDATE"):
            fleet.ledger_execute(f"CREATE TRIGGER refuse_{table}_{event} BEFORE {event} ON "
                                 f"{table} WHEN {when} BEGIN SELECT RAISE(ABORT, '{message}'); "
                                 "END")


def allow_writes_to(fleet, table: str) -> None:
    if fleet.ledger.startswith("postgres"):
        fleet.ledger_execute(f"DROP TRIGGER refuse_{table} ON {table}")
    else:
        for event in ("INSERT", "UPDATE"):
            fleet.ledger_execute(f"DROP TRIGGER refuse_{table}_{event}")


def test_a_ledger_that_fails_after_the_posts_went_out_still_gets_them_reported(fleet):
    write_schedules(fleet, TAKEOVER)
    assert due(fleet, "2026-12-01T07:55:00Z") == quiet()  # the ledger and its marks exist
    refuse_writes_to(fleet, "schedule_runs")
    outcome = due(fleet, "2026-12-01T08:05:00Z", "--json")
    # The post went out and is reported as sent; what could not be recorded is said, and cron
    # hears of it (exit 1), rather than "bad input, nothing was sent" (exit 2).
    assert outcome.exit_code == 1, outcome.stderr
    assert slots(outcome) == [("on-the-street", "2026-12-01T08:00", "sent")]
    [unrecorded] = json.loads(outcome.stdout)["notes"]
    assert unrecorded.startswith("could not record that this run looked at the schedules: ")
    assert "database or disk is full" in unrecorded
    assert outcome.stderr.splitlines() == [f"metpost due: {unrecorded}"]
    # The next run, with a working ledger, repeats nothing.
    allow_writes_to(fleet, "schedule_runs")
    assert due(fleet, "2026-12-01T08:10:00Z") == quiet()
    assert len(fleet.x_texts("MPSHackney")) == 1


def test_a_slot_the_ledger_cannot_record_is_unknown_and_the_next_is_still_sent(fleet):
    write_schedules(fleet, TAKEOVER + textwrap.indent(textwrap.dedent("""\
        - name: roads
          cron: "0 8 * * *"
          timezone: Europe/London
          select: {account: [camden-x]}
          message: "Roads around {{ borough }} market reopen at 6pm."
        """), "  "))
    assert due(fleet, "2026-12-01T07:55:00Z") == quiet()
    refuse_writes_to(fleet, "broadcasts", "NEW.label LIKE 'schedule:on-the-street:%'")
    outcome = due(fleet, "2026-12-01T08:05:00Z", "--json")
    assert outcome.exit_code == 1, outcome.stderr
    first, second = json.loads(outcome.stdout)["slots"]
    assert (first["schedule"], first["status"]) == ("on-the-street", "unknown")
    assert "database or disk is full" in first["error"]
    assert "the next metpost due checks them on their platforms" in first["error"]
    assert (second["schedule"], second["status"]) == ("roads", "sent")
    assert fleet.x_texts("MPSHackney") == []
    assert fleet.x_texts("MPSCamden") == ["Roads around Camden market reopen at 6pm."]
    # Once the ledger takes it, the next run inside the window sends the slot, once.
    allow_writes_to(fleet, "broadcasts")
    assert due(fleet, "2026-12-01T08:10:00Z") == quiet()
    assert len(fleet.x_texts("MPSHackney")) == 1 and len(fleet.x_texts("MPSCamden")) == 1


def test_a_dry_run_shows_each_slot_due_and_what_it_would_send(fleet):
    write_schedules(fleet, TAKEOVER)
    outcome = due(fleet, "2026-12-01T08:05:00Z", "--dry-run")
    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.stdout == ("dry run      on-the-street 2026-12-01T08:00\n"
                              "    hackney-x: Today PC Amy Patel (CE123) runs @MPSHackney.\n")
    assert fleet.x.request_count == 0


def test_after_a_long_outage_the_missed_slots_of_a_schedule_are_one_line_of_the_mail(fleet):
    fleet.x.refuse_duplicates = False
    write_schedules(fleet, """\
        schedules:
          - name: roads
            cron: "*/5 * * * *"
            timezone: Europe/London
            select: {account: [hackney-x]}
            message: "Roads around the market reopen at 6pm."
        """)
    assert due(fleet, "2026-12-01T08:00:00Z") == quiet()
    # cron stopped for three hours: the slots from 08:05 to 10:25 are missed; those of the
    # last half hour are sent, and those up to 08:00 were sent already.
    outcome = due(fleet, "2026-12-01T11:00:00Z")
    assert outcome.exit_code == 1
    assert outcome.stderr.splitlines() == [
        "metpost due: 29 of 43 slots need attention:",
        "  missed       roads 2026-12-01T08:05 to 2026-12-01T10:25: 29 slots not sent within "
        "the catch-up window"]
    assert len(fleet.x_texts("MPSHackney")) == 7 + 7


def test_a_first_due_killed_mid_slot_leaves_the_slot_to_be_reported_after_the_window(accepting):
    # The schedule's first run ever: killed with posts in doubt. The next runs come after the
    # catch-up window: the slot is not sent, but it is reported, never dropped without a word.
    fleet = accepting
    kill_due_mid_slot(fleet)
    fleet.x.clear_faults()
    fleet.graph.clear_faults()
    late = fleet.run(["due", "--now", "2026-12-01T08:00:00+00:00", "--catch-up", "30m",
                      "--json"])
    assert late.exit_code == 1, late.stdout + late.stderr
    [(name, slot, status)] = slots(late)
    assert (name, slot) == ("roads", "2026-12-01T07:00") and status in ("unknown", "failed")
