"""The audit trail: every plan, approval, apply, send, retry and retract is an event with who,
what, when and how it ended; `metpost audit` lists them (break glass first) as a table, JSON
and CSV; the database refuses to change or delete one; `ledger migrate` copies them."""

from __future__ import annotations

import csv
import io
import json
import socket
from datetime import date, datetime, timedelta

import pytest

from metpost.audit import os_user
from tests.postgres_server import TEST_LEDGER
from tests.test_apply import RUMOUR, apply, approvals, approve, plan

HOST = socket.gethostname()
FIELDS = ["at", "kind", "outcome", "actor", "os_user", "host", "urgent", "reason", "broadcast",
          "plan", "plan_digest", "source", "accounts", "approved_by", "detail"]
ALL = ["camden-facebook", "camden-x", "hackney-facebook", "hackney-x"]


def every_kind_of_event(fleet) -> dict[str, str]:
    """Plan, approve, apply, send, retry, retract, an urgent send and a refusal; returns the
    plan's id and digest, and the broadcasts made."""
    approvals(fleet, """\
        approvals:
          required: {platform: x}
          two_person: true
          urgent: {allowed: true}
        """)
    path, _ = plan(fleet, who="alice")
    content = json.loads(path.read_text())
    assert approve(fleet, path, "bob").exit_code == 0
    applied = apply(fleet, path, "carol")
    assert applied.exit_code == 0, applied.stderr
    fleet.x.revoke(fleet.x_token("camden"))
    sent = fleet.run(["send", "--platform", "facebook", "--all", "-m", "{{ borough }}: hi",
                      "--as", "dave", "--yes", "--json"])
    assert sent.exit_code == 0, sent.stderr
    broken = fleet.run(["send", "--all", "-m", "{{ borough }}: roads shut", "--urgent",
                        "--reason", "flood", "--as", "erin", "--yes", "--json"])
    assert broken.exit_code == 1  # camden-x's token is refused
    fleet.x.revoked.clear()
    urgent_id = json.loads(broken.stdout)["broadcast"]
    retried = fleet.run(["retry", urgent_id, "--as", "frank", "--yes"])
    assert retried.exit_code == 0, retried.stderr
    facebook_id = json.loads(sent.stdout)["broadcast"]
    retracted = fleet.run(["retract", facebook_id, "--as", "gina", "--yes"])
    assert retracted.exit_code == 0, retracted.stderr
    refused = fleet.run(["send", "--all", "-m", "{{ borough }}: unplanned", "--as", "hal",
                         "--yes"])
    assert refused.exit_code == 2
    return {"plan": content["content"]["id"], "digest": content["digest"],
            "applied": json.loads(applied.stdout)["broadcast"], "sent": facebook_id,
            "urgent": urgent_id}


def test_every_kind_of_event_in_json_with_who_what_when(fleet):
    made = every_kind_of_event(fleet)
    outcome = fleet.run(["audit", "--json"])
    assert outcome.exit_code == 0, outcome.stderr
    events = json.loads(outcome.stdout)["events"]
    for event in events:
        assert list(event) == FIELDS
        assert event["os_user"] == os_user() and event["host"] == HOST
        moment = datetime.fromisoformat(event["at"])
        assert moment.utcoffset() == timedelta(0)
        assert abs(datetime.now(moment.tzinfo) - moment) < timedelta(minutes=5)
    summary = [(e["kind"], e["actor"], e["outcome"], e["urgent"], e["broadcast"]) for e in events]
    plan_id, applied, sent, urgent = made["plan"], made["applied"], made["sent"], made["urgent"]
    assert summary == [
        # break glass first
        ("send", "erin", "started", True, urgent),
        ("send", "erin", "incomplete", True, urgent),
        ("plan", "alice", "planned", False, None),
        ("approve", "bob", "approved", False, None),
        ("apply", "carol", "started", False, applied),
        ("apply", "carol", "done", False, applied),
        ("send", "dave", "started", False, sent),
        ("send", "dave", "done", False, sent),
        ("retry", "frank", "started", False, urgent),
        ("retry", "frank", "done", False, urgent),
        ("retract", "gina", "started", False, sent),
        ("retract", "gina", "done", False, sent),
        ("send", "hal", "refused", False, None),
    ]
    by_step = {(e["kind"], e["actor"], e["outcome"]): e for e in events}
    planned = by_step[("plan", "alice", "planned")]
    assert (planned["plan"], planned["plan_digest"]) == (plan_id, made["digest"])
    assert planned["source"] == "rumour-control" and sorted(planned["accounts"]) == ALL
    assert planned["detail"].startswith("expires ")
    approval = by_step[("approve", "bob", "approved")]
    assert (approval["plan"], approval["plan_digest"]) == (plan_id, made["digest"])
    done = by_step[("apply", "carol", "done")]
    assert done["approved_by"] == ["bob"] and done["plan_digest"] == made["digest"]
    assert done["detail"] == "4 sent" and sorted(done["accounts"]) == ALL
    assert by_step[("send", "erin", "incomplete")]["reason"] == "flood"
    assert by_step[("send", "erin", "incomplete")]["detail"] == "3 sent, 1 failed"
    assert by_step[("retry", "frank", "done")]["detail"] == "3 already sent, 1 sent"
    assert by_step[("retract", "gina", "done")]["detail"] == "2 retracted"
    assert sorted(by_step[("retract", "gina", "done")]["accounts"]) == [
        "camden-facebook", "hackney-facebook"]
    assert by_step[("send", "dave", "done")]["source"] == "--message"
    refusal = by_step[("send", "hal", "refused")]
    assert refusal["detail"].startswith("this broadcast needs approval")
    assert sorted(refusal["accounts"]) == ALL


def test_every_kind_of_event_in_csv_matches_the_json(fleet):
    every_kind_of_event(fleet)
    events = json.loads(fleet.run(["audit", "--json"]).stdout)["events"]
    outcome = fleet.run(["audit", "--csv"])
    assert outcome.exit_code == 0, outcome.stderr
    rows = list(csv.reader(io.StringIO(outcome.stdout)))
    assert rows[0] == FIELDS
    expected = [[("; ".join(value) if isinstance(value, list) else
                  ("yes" if value else "no") if isinstance(value, bool) else
                  "" if value is None else str(value)) for value in event.values()]
                for event in events]
    assert rows[1:] == expected
    kinds = {row[1] for row in rows[1:]}
    assert kinds == {"plan", "approve", "apply", "send", "retry", "retract"}


def test_the_table_lists_break_glass_first(fleet):
    every_kind_of_event(fleet)
    outcome = fleet.run(["audit"])
    assert outcome.exit_code == 0
    lines = outcome.stdout.splitlines()
    assert lines[0] == "BREAK GLASS: 2 events of sends with --urgent, bypassing approval"
    assert lines[1].split("\t") == ["When", "Who", "Host", "Did", "Outcome", "Broadcast",
                                    "Accounts", "Detail"]
    assert f"\terin ({os_user()})\t{HOST}\tsend\tstarted\t" in lines[2]
    assert lines[2].endswith("\treason: flood")
    assert "All events" in lines
    assert sum("\tsend\t" in line for line in lines) == 5


def test_since_keeps_later_events_only(fleet):
    assert fleet.run(["send", "--all", "-m", "{{ borough }}: hi", "--yes"]).exit_code == 0
    today = date.today().isoformat()
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    assert len(json.loads(fleet.run(["audit", "--json", "--since", today]).stdout)["events"]) == 2
    assert json.loads(fleet.run(["audit", "--json", "--since", tomorrow]).stdout)["events"] == []
    bad = fleet.run(["audit", "--since", "yesterday"])
    assert bad.exit_code == 2
    assert bad.error_lines == ["metpost: error: --since 'yesterday': give a date like "
                               "2026-11-24 or a time like 2026-11-24T14:30"]


def test_cron_sends_are_recorded_as_the_os_user(fleet):
    sent = fleet.run(["send", "--all", "-m", "{{ borough }}: hi", "--yes"])
    assert sent.exit_code == 0
    rows = fleet.ledger_rows("SELECT actor, os_user, host, kind, outcome FROM audit_events")
    assert rows == [(os_user(), os_user(), HOST, "send", "started"),
                    (os_user(), os_user(), HOST, "send", "done")]


def test_a_plan_that_could_not_be_written_is_not_in_the_trail(fleet):
    path = fleet.root / "no-such-folder" / "plan.json"
    outcome = fleet.run(["send", *RUMOUR, "--plan", str(path), "--as", "alice"])
    assert outcome.exit_code == 2, outcome.stdout + outcome.stderr
    assert outcome.error_lines == [f"metpost: error: {path}: cannot write the plan: No such "
                                   "file or directory; choose a writable path"]
    assert fleet.ledger_rows("SELECT COUNT(*) FROM audit_events") == [(0,)]
    made, _ = plan(fleet)  # written where it can be, then recorded
    assert fleet.ledger_rows("SELECT kind, outcome FROM audit_events") == [("plan", "planned")]
    assert made.exists()


def test_audit_without_a_ledger_creates_none(cli_run, tmp_path):
    ledger = tmp_path / "none.sqlite3"
    outcome = cli_run(["audit", "--ledger", str(ledger)])
    assert outcome.exit_code == 0
    assert outcome.stderr == f"no ledger at {ledger} (nothing has been sent from here yet)\n"
    assert not ledger.exists()
    empty = cli_run(["audit", "--json", "--ledger", str(ledger)])
    assert json.loads(empty.stdout) == {"events": []}
    assert cli_run(["audit", "--csv", "--ledger", str(ledger)]).stdout == ",".join(FIELDS) + "\n"
    both = cli_run(["audit", "--json", "--csv", "--ledger", str(ledger)])
    assert both.exit_code == 2
    assert not ledger.exists()


@pytest.mark.parametrize("statement", [
    "UPDATE audit_events SET actor = 'someone else'",
    "DELETE FROM audit_events",
    "DELETE FROM audit_events WHERE kind = 'send'",
])
def test_the_database_refuses_to_change_or_delete_an_event(fleet, statement):
    assert fleet.run(["send", "--all", "-m", "{{ borough }}: hi", "--yes"]).exit_code == 0
    before = fleet.ledger_rows("SELECT * FROM audit_events ORDER BY id")
    with pytest.raises(Exception, match="audit events are append-only"):
        fleet.ledger_execute(statement)
    assert fleet.ledger_rows("SELECT * FROM audit_events ORDER BY id") == before


@pytest.mark.skipif(TEST_LEDGER != "postgres", reason="TRUNCATE is PostgreSQL's")
def test_postgres_refuses_to_truncate_the_trail(fleet):
    assert fleet.run(["send", "--all", "-m", "{{ borough }}: hi", "--yes"]).exit_code == 0
    with pytest.raises(Exception, match="audit events are append-only: TRUNCATE is refused"):
        fleet.ledger_execute("TRUNCATE audit_events")
    assert fleet.ledger_rows("SELECT COUNT(*) FROM audit_events") == [(2,)]


def test_ledger_migrate_copies_the_events(fleet, tmp_path, postgres_database):
    old = str(tmp_path / "old.sqlite3")
    approvals(fleet)
    path = fleet.root / "p.json"
    assert fleet.run(["send", *RUMOUR, "--plan", str(path), "--as", "alice", "--ledger",
                      old]).exit_code == 0
    assert fleet.run(["approve", str(path), "--as", "bob", "--yes", "--ledger", old]
                     ).exit_code == 0
    assert fleet.run(["apply", str(path), "--as", "carol", "--yes", "--ledger", old]
                     ).exit_code == 0
    before = json.loads(fleet.run(["audit", "--json", "--ledger", old]).stdout)
    command = ["ledger", "migrate", "--from", old, "--to", postgres_database]
    copied = fleet.run(command)
    assert copied.exit_code == 0, copied.stderr
    after = json.loads(fleet.run(["audit", "--json", "--ledger", postgres_database]).stdout)
    assert after == before and len(after["events"]) == 4
    from tests.postgres_server import ledger_rows

    assert sorted(row[0] for row in ledger_rows(postgres_database,
                                                "SELECT uid FROM audit_events")) == sorted(
        row[0] for row in ledger_rows(old, "SELECT uid FROM audit_events"))
    again = fleet.run([*command, "--json"])
    assert again.exit_code == 0 and json.loads(again.stdout)["copied"] is False
    assert ledger_rows(postgres_database, "SELECT COUNT(*) FROM audit_events") == [(4,)]
    # The plan goes on in the shared ledger: it was recorded there with its approval.
    applied = fleet.run(["apply", str(path), "--yes", "--json", "--ledger", postgres_database])
    assert applied.exit_code == 0, applied.stderr
    assert {post["status"] for post in json.loads(applied.stdout)["posts"]} == {"already sent"}
    # A plan made on the file after the copy: only part of the trail is in the target now.
    assert fleet.run(["send", *RUMOUR, "--var", "rumour=x", "--plan", str(path), "--ledger",
                      old]).exit_code == 0
    partial = fleet.run(command)
    assert partial.exit_code == 2
    assert partial.error_lines == [
        f"metpost: error: {postgres_database} already holds 4 of the 5 audit events in {old}; "
        "nothing was copied. A ledger can be copied only into one that holds none of it, or "
        "all of it (copied before), unless --skip-existing leaves out what it holds"]


def test_cron_due_sends_are_in_the_trail_too(fleet):
    from tests.test_due import TAKEOVER, due, write_schedules

    write_schedules(fleet, TAKEOVER)
    assert due(fleet, "2026-12-01T08:05:00Z").exit_code == 0
    assert len(fleet.x.live_posts("MPSHackney")) == 1
    rows = fleet.ledger_rows("SELECT kind, actor, outcome, accounts, detail FROM audit_events")
    assert rows == [("send", os_user(), "started", '["hackney-x"]', None),
                    ("send", os_user(), "done", '["hackney-x"]', "1 sent")]


def test_a_reason_is_one_line_and_a_listing_keeps_one_row_per_event(fleet):
    approvals(fleet, """\
        approvals:
          required: {platform: x}
          urgent: {allowed: true}
        """)
    forged = "flood\n2026-12-02T06:00:00+00:00\tinsp. reid\tpress-1\tapprove\tapproved"
    refused = fleet.run(["send", "--all", "-m", "{{ borough }}: flood", "--urgent", "--reason",
                         forged, "--yes"])
    assert refused.exit_code == 2
    assert "--reason: one line of plain text, please" in refused.stderr
    assert fleet.x.request_count == fleet.graph.request_count == 0
    # An event that holds one anyway (recorded by other means) is listed on one line.
    from metpost.audit import Actor, AuditContext, EventKind, Outcome
    from metpost.ledger import open_ledger

    ledger = open_ledger(fleet.ledger)
    ledger.record_event(AuditContext(kind=EventKind.SEND, actor=Actor.current("ida"),
                                     urgent=True, reason=forged).event(Outcome.STARTED))
    ledger.close()
    listed = fleet.run(["audit"]).stdout.splitlines()
    # Break glass, its header and the one row; a blank line, "All events" and its header.
    assert len(listed) == 6, listed
    assert listed[2].endswith("\treason: flood\\n2026-12-02T06:00:00+00:00\\tinsp. reid\\t"
                              "press-1\\tapprove\\tapproved")
