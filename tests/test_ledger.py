"""The ledger: migrations, claims that keep two runs apart, lookups by id.

The rules are written once in SQL for every backend, so the tests of them run on each: SQLite,
and PostgreSQL on a real server the suite starts (tests/postgres_server.py)."""

from __future__ import annotations

import gc
import sqlite3
import subprocess
import sys
import time

import pytest

from metpost import ledger as L
from metpost.errors import MetpostError
from metpost.ledger import PlannedPost, open_ledger
from metpost.ledger import SqliteLedger as Ledger
from metpost.ledger.sql import HOST
from metpost.status import PostStatus
from tests.postgres_server import ledger_execute


def planned(*accounts, broadcast="b1"):
    return [PlannedPost(account=a, platform="x", handle=None, text=f"hello {a}",
                        idempotency_key=f"{broadcast}-{a}") for a in accounts]


@pytest.fixture(params=["sqlite", "postgres"])
def ledger(request, tmp_path):
    """A new ledger on each backend."""
    target = (str(tmp_path / "ledger.sqlite3") if request.param == "sqlite"
              else request.getfixturevalue("postgres_database"))
    opened = open_ledger(target)
    yield opened
    opened.close()


def tamper(ledger, sql: str) -> None:
    """Change the ledger behind metpost's back, as another run or a crash would."""
    ledger_execute(ledger.location, sql)


def test_new_ledger_is_fully_migrated_and_in_wal_mode(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    assert ledger.schema_version == len(L.MIGRATIONS) >= 1
    db = sqlite3.connect(tmp_path / "ledger.sqlite3")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "future.sqlite3"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {len(L.MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(MetpostError) as caught:
        Ledger(path)
    assert "written by a newer metpost" in caught.value.problems[0]


def test_recording_the_same_key_twice_gives_one_broadcast(ledger):
    first = ledger.record_broadcast("k" * 64, "--message", planned("a", "b"))
    second = ledger.record_broadcast("k" * 64, "--message", planned("a", "b"))
    assert first == second
    assert [p.account for p in ledger.posts(first)] == ["a", "b"]
    assert {p.state for p in ledger.posts(first)} == {"pending"}


def test_claims_keep_runs_apart(ledger):
    bid = ledger.record_broadcast("k" * 64, "t", planned("a", "b"))
    first = ledger.claim(bid, ["a", "b"], lease_seconds=60)
    assert [c.action for c in first] == ["send", "send"]
    # This process holds the lease and is alive: a second claim is told to keep off.
    assert [c.action for c in ledger.claim(bid, ["a", "b"], 60)] == ["busy", "busy"]
    a, b = (c.post.id for c in first)
    ledger.settle(a, PostStatus.SENT, remote_id="1", url="u")
    ledger.settle(b, PostStatus.UNKNOWN, error="no answer")
    assert [c.action for c in ledger.claim(bid, ["a", "b"], 60)] == ["already", "reconcile"]


def test_a_dead_runs_claim_is_reconciled_not_resent(ledger):
    bid = ledger.record_broadcast("k" * 64, "t", planned("a"))
    ledger.claim(bid, ["a"], 60)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    tamper(ledger, f"UPDATE posts SET claimed_by = '{HOST}:{dead}:token'")
    assert [c.action for c in ledger.claim(bid, ["a"], 60)] == ["reconcile"]


def test_another_machines_claim_is_trusted_until_its_lease_runs_out(ledger):
    bid = ledger.record_broadcast("k" * 64, "t", planned("a"))
    ledger.claim(bid, ["a"], 60)
    tamper(ledger, "UPDATE posts SET claimed_by = 'cron-2.example:4242:token'")
    assert [c.action for c in ledger.claim(bid, ["a"], 60)] == ["busy"]
    tamper(ledger, f"UPDATE posts SET lease_until = {time.time() - 1}")
    assert [c.action for c in ledger.claim(bid, ["a"], 60)] == ["reconcile"]


def test_an_expired_lease_is_reconciled(ledger):
    bid = ledger.record_broadcast("k" * 64, "t", planned("a"))
    ledger.claim(bid, ["a"], lease_seconds=-1)
    assert [c.action for c in ledger.claim(bid, ["a"], 60)] == ["reconcile"]


def test_find_broadcast_by_prefix_label_and_last(ledger):
    first = ledger.record_broadcast("a" * 64, "one", planned("x"), label="roads-0300")
    second = ledger.record_broadcast("b" * 64, "two", planned("x", broadcast="b2"))
    assert ledger.find_broadcast(first).source == "one"
    assert ledger.find_broadcast(second[:-2]).source == "two"
    assert ledger.find_broadcast("roads-0300").id == first
    assert ledger.find_broadcast("last").id == second
    with pytest.raises(MetpostError) as caught:
        ledger.find_broadcast("nope")
    assert caught.value.problems == (
        f"no broadcast 'nope' in {ledger.location}; see metpost history",)
    assert [r.id for r in ledger.broadcasts()] == [second, first]
    assert ledger.broadcasts()[0].counts == {"pending": 1}


def test_a_version_1_ledger_is_migrated_keeping_its_history(tmp_path):
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(";".join(L.MIGRATIONS[0].statements("sqlite")) + ";PRAGMA user_version = 1;")
    db.execute("INSERT INTO broadcasts VALUES ('20250101-000000-aaaaaa', 'k', 'appeal', "
               "'2025-01-01T00:00:00+00:00')")
    db.commit()
    db.close()
    ledger = Ledger(path)
    assert ledger.schema_version == len(L.MIGRATIONS) >= 4
    record = ledger.find_broadcast("last")
    assert (record.id, record.source, record.label) == ("20250101-000000-aaaaaa", "appeal", None)


def test_a_run_that_lost_its_claim_may_not_publish(ledger):
    bid = ledger.record_broadcast("k" * 64, "t", planned("a"))
    [claim] = ledger.claim(bid, ["a"], lease_seconds=60)
    assert ledger.renew([claim.post.id], 60) == {claim.post.id}
    # The lease lapses (a paused run) and another run takes the post over.
    tamper(ledger, "UPDATE posts SET lease_until = 0")
    other = open_ledger(ledger.location)
    assert [c.action for c in other.claim(bid, ["a"], 60)] == ["reconcile"]
    assert ledger.begin_attempt(claim.post.id, 60) is None  # nothing counted, nothing sent
    assert ledger.post(claim.post.id).attempts == 0
    assert ledger.renew([claim.post.id], 60) == set()
    first = other.begin_attempt(claim.post.id, 60)
    assert first is not None and other.begin_attempt(claim.post.id, 60) == first
    assert other.post(claim.post.id).attempts == 2
    assert other.renew([claim.post.id], 60) == {claim.post.id}
    other.close()


def test_a_remote_id_is_adopted_by_one_post_only(ledger):
    first = ledger.record_broadcast("a" * 64, "t", planned("a"))
    second = ledger.record_broadcast("b" * 64, "t", planned("a", broadcast="b2"))
    [one] = ledger.posts(first)
    [two] = ledger.posts(second)
    assert ledger.adopt(one.id, "1790", "u")
    assert not ledger.adopt(two.id, "1790", "u")
    assert ledger.post(two.id).remote_id is None
    assert ledger.owned_remote_ids("x", ["1790", "1791"]) == {"1790"}


# -- which targets are ledgers -----------------------------------------------------------------

MISSING_SLASHES = ("looks like a PostgreSQL URL missing ://; write postgresql://user@host/db, "
                   "or ./NAME for a file of that name")


@pytest.mark.parametrize(("target", "shown", "problem"), [
    ("postgresql:/metpost@127.0.0.1/metpost", None, MISSING_SLASHES),
    ("postgres//db.internal/metpost", None, MISSING_SLASHES),
    ("PostgreSQL/db.internal/metpost", None, MISSING_SLASHES),
    ("postgres:metpost:hunter2@db/metpost", "postgres:metpost@db/metpost", MISSING_SLASHES),
    ("sqlite:ledger.db", None, "begins like a URL (sqlite:), not the path of a file; give a "
                               "postgresql://user@host/db URL, or ./NAME for a file of that name"),
])
def test_a_mistyped_url_is_refused_wherever_a_ledger_is_named(cli_run, tmp_path, monkeypatch,
                                                              target, shown, problem):
    # Taken for a path, it would be a ledger of this host's own: two cron hosts would each post
    # every slot. No file or folder is made.
    monkeypatch.chdir(tmp_path)
    line = f"{shown or target} {problem}"
    for args, env, expected in (
            (["history", "--ledger", target], {}, f"Invalid value for '--ledger': {line}"),
            (["due", "--ledger", target], {}, f"Invalid value for '--ledger': {line}"),
            (["history"], {"METPOST_LEDGER": target},
             f"Invalid value for '--ledger': $METPOST_LEDGER: {line}"),
            (["schedule", "cron-line", "--ledger", target], {},
             f"Invalid value for '--ledger': {line}")):
        outcome = cli_run(args, env=env)
        assert outcome.exit_code == 2, outcome.stdout + outcome.stderr
        assert outcome.error_lines[-1] == f"Error: {expected}"
        assert "hunter2" not in outcome.stdout + outcome.stderr
    with pytest.raises(MetpostError) as caught:
        open_ledger(target)
    assert caught.value.problems == (f"--ledger: {line}",)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("source", "ending"), [
    ("postgresql:/metpost:hunter2@db/metpost",
     "--from takes the path of a SQLite ledger file, not a URL (postgresql:/metpost@db/metpost)"),
    ("postgres//db.internal/metpost", f"postgres//db.internal/metpost {MISSING_SLASHES}"),
])
def test_ledger_migrate_refuses_a_mistyped_url_as_its_source(cli_run, tmp_path, monkeypatch,
                                                             source, ending):
    monkeypatch.chdir(tmp_path)
    outcome = cli_run(["ledger", "migrate", "--from", source,
                       "--to", "postgresql://metpost@127.0.0.1:9/metpost"])
    assert outcome.exit_code == 2
    [line] = outcome.error_lines
    assert line.startswith("metpost: error: ") and line.endswith(ending)
    assert "hunter2" not in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["./postgres/ledger.sqlite3", "./sqlite:ledger.db"])
def test_a_file_named_like_a_url_is_a_ledger_when_written_with_dot_slash(tmp_path, monkeypatch,
                                                                          name):
    monkeypatch.chdir(tmp_path)
    open_ledger(name).close()
    assert (tmp_path / name).stat().st_size > 0


# -- files that are not ledgers ----------------------------------------------------------------

EMPTY_FILE = ("{path} is empty, so it is not a ledger metpost made: if you meant to start a new "
              "ledger, delete it first; if it was your ledger, restore it from a backup: a new "
              "one would send recent slots again")


def test_a_ledger_truncated_to_nothing_is_refused_not_taken_for_a_new_one(fleet, tmp_path):
    # Taken for a new ledger, it would have forgotten what went out: the same send (or the
    # same slot of `due`) would post again.
    path = tmp_path / "truncated.sqlite3"
    send = ["send", "--all", "--message", "Roads reopen", "--key", "roads-1", "--yes",
            "--ledger", str(path)]
    assert fleet.run(send).exit_code == 0
    posted = fleet.x.request_count + fleet.graph.request_count
    gc.collect()  # the run's connection, so that the ledger is one file, as after any run
    assert [p.name for p in tmp_path.glob("truncated.sqlite3*")] == ["truncated.sqlite3"]
    path.write_bytes(b"")
    outcome = fleet.run(send)
    assert outcome.exit_code == 2
    assert outcome.error_lines == [f"metpost: error: {EMPTY_FILE.format(path=path)}"]
    assert fleet.x.request_count + fleet.graph.request_count == posted
    assert path.stat().st_size == 0


def test_an_empty_file_is_refused_by_commands_that_only_read(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    path.write_bytes(b"")
    with pytest.raises(MetpostError) as caught:
        open_ledger(path, create=False)
    assert caught.value.problems == (EMPTY_FILE.format(path=path),)
    assert [p.name for p in tmp_path.iterdir()] == ["ledger.sqlite3"]


def test_another_applications_database_is_refused_and_left_as_it_was(tmp_path):
    path = tmp_path / "inventory.db"
    db = sqlite3.connect(path)
    db.executescript("CREATE TABLE users (id); CREATE TABLE orders (id); CREATE TABLE stock (id);"
                     "CREATE TABLE vans (id); INSERT INTO users VALUES (1);")
    db.close()
    with pytest.raises(MetpostError) as caught:
        open_ledger(path)
    assert caught.value.problems == (
        f"{path} is not a metpost ledger: it holds another application's tables (orders, "
        "stock, users, ...); give --ledger (or METPOST_LEDGER) metpost's own ledger file, or a "
        "path where no file is yet, for a new ledger",)
    db = sqlite3.connect(path)
    assert db.execute("SELECT name FROM sqlite_master ORDER BY name").fetchall() == [
        ("orders",), ("stock",), ("users",), ("vans",)]
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # WAL was not set
    db.close()


def test_a_database_with_nothing_of_metposts_in_it_is_refused(tmp_path):
    # As a ledger built in place (where there are no hard links) is left by a run killed before
    # its first commit, or a ledger whose contents lived in a lost -wal file.
    path = tmp_path / "ledger.sqlite3"
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")  # writes the file's header, and nothing else
    db.close()
    assert path.stat().st_size > 0
    with pytest.raises(MetpostError) as caught:
        open_ledger(path)
    assert caught.value.problems == (
        f"{path} holds no ledger (it was emptied, or never finished): if you meant to start a "
        "new ledger, delete it first; if it was your ledger, restore it from a backup: a new "
        "one would send recent slots again",)


def test_runs_creating_the_same_new_ledger_at_once_share_it_and_leave_nothing_else(tmp_path):
    # A new ledger is built beside its path and linked into place whole, so no run ever finds
    # a half-made one there (and refuses it), and a run killed while building leaves no file
    # at the path.
    script = ("import sys, time; from pathlib import Path; from metpost.ledger import "
              "open_ledger, PlannedPost\n"
              "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"
              "ledger = open_ledger(sys.argv[1])\n"
              "ledger.record_broadcast('k' * 64, 't', [PlannedPost(account='a', platform='x', "
              "handle=None, text='hi', idempotency_key='b-a')])\n")
    for attempt in range(3):
        path = tmp_path / f"ledger-{attempt}.sqlite3"
        go = str(time.time() + 1.0)
        runs = [subprocess.Popen([sys.executable, "-c", script, str(path), go],
                                 stderr=subprocess.PIPE, text=True) for _ in range(4)]
        for run in runs:
            assert run.wait(timeout=60) == 0, run.stderr.read() if run.stderr else ""
        ledger = Ledger(path)
        assert len(ledger.broadcasts()) == 1
        ledger.close()
    assert {p.name.partition(".")[0] for p in tmp_path.iterdir()} == {
        f"ledger-{n}" for n in range(3)}


# -- damaged ledgers, and paths that cannot be one ---------------------------------------------

DAMAGED = ("{path} is damaged or is not a ledger ({error}): move it aside and restore the "
           "ledger from a backup; a new ledger would forget what was sent and send it again")


def test_a_file_that_is_not_a_database_is_said_to_be_damaged(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    path.write_text("not a database at all, but long enough to be read as a header " * 4)
    with pytest.raises(MetpostError) as caught:
        open_ledger(path)
    assert caught.value.problems == (DAMAGED.format(path=path, error="file is not a database"),)


def test_damaged_pages_inside_a_ledger_are_said_to_be_damaged(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    ledger = Ledger(path)
    bid = ledger.record_broadcast("k" * 64, "t", [
        PlannedPost(account=f"a{n}", platform="x", handle=None, text="x" * 500,
                    idempotency_key=f"b-{n}") for n in range(200)])
    ledger.close()
    with path.open("r+b") as file:  # pages past the schema, where the posts are
        file.seek(4096 * 5)
        file.write(b"\xff" * 4096 * 10)
    ledger = Ledger(path)
    with pytest.raises(L.LedgerError) as caught:
        ledger.posts(bid)
    assert caught.value.problems == (
        DAMAGED.format(path=path, error="database disk image is malformed"),)
    ledger.close()


def test_a_ledger_path_under_a_file_names_the_file(tmp_path):
    (tmp_path / "notes").write_text("a file, not a folder")
    for path in (tmp_path / "notes" / "ledger.sqlite3", tmp_path / "notes" / "a" / "l.sqlite3"):
        with pytest.raises(MetpostError) as caught:
            open_ledger(path)
        assert caught.value.problems == (
            f"{path}: cannot create the ledger: {tmp_path / 'notes'} is a file, not a folder; "
            "pass --ledger PATH or set METPOST_LEDGER",)


def test_a_ledger_path_that_is_a_folder_says_to_name_the_file_in_it(tmp_path):
    with pytest.raises(MetpostError) as caught:
        open_ledger(tmp_path)
    assert caught.value.problems == (
        f"{tmp_path} is a folder: give the path of the ledger file in it, e.g. --ledger "
        f"{tmp_path / 'ledger.sqlite3'}",)


def test_a_ledger_path_that_is_no_regular_file_is_refused_without_being_told_to_delete_it():
    with pytest.raises(MetpostError) as caught:
        open_ledger("/dev/null")
    assert caught.value.problems == (
        "/dev/null is not a regular file (a device, a pipe or a socket); give the path of the "
        "ledger file",)


@pytest.mark.parametrize("target", ["postgresql:/metpost:hunter2@db/metpost",
                                    "mysql://metpost:hunter2@db/metpost"])
def test_ledger_migrate_never_shows_the_password_of_a_target_it_refuses(cli_run, tmp_path,
                                                                         target):
    source = tmp_path / "ledger.sqlite3"
    open_ledger(str(source)).close()
    outcome = cli_run(["ledger", "migrate", "--from", str(source), "--to", target])
    assert outcome.exit_code == 2
    [line] = outcome.error_lines
    assert "--to takes a PostgreSQL URL" in line and "hunter2" not in line
