"""The ledger on a real PostgreSQL server: the rules of tests/test_ledger.py, two machines'
runs at once, kill -9, the database restarted or stopped mid-broadcast, a COMMIT whose answer is
lost, migrations run by several processes at once, the password kept out of every line, and
`metpost ledger migrate`.

The fake platforms accept duplicates here, so only metpost can prevent a double post."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from metpost import ledger as L
from metpost.errors import MetpostError
from metpost.ledger import LedgerError, NoLedger, PlannedPost, open_ledger
from metpost.ledger.postgres import SCHEMA_TABLE, PostgresLedger
from metpost.ledger.urls import has_password, is_database_url, redacted_url
from tests.postgres_server import PostgresServer, PostgresUnavailable
from tests.test_crash import MESSAGE, start, wait_for
from tests.test_delivery import assert_exactly_one_post_each_and_ledger_agrees, statuses

SEND = ["send", *MESSAGE]


def planned(*accounts, broadcast="b1"):
    return [PlannedPost(account=a, platform="x", handle=None, text=f"hello {a}",
                        idempotency_key=f"{broadcast}-{a}") for a in accounts]


def execute(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    """Run SQL on the ledger's database behind metpost's back."""
    with psycopg.connect(url, autocommit=True) as db:
        cursor = db.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


@pytest.fixture
def ledger(postgres_database) -> Iterator[PostgresLedger]:
    opened = PostgresLedger(postgres_database)
    yield opened
    opened.close()


@pytest.fixture
def pg_fleet(fleet, postgres_database):
    """The fake fleet with its ledger on PostgreSQL, duplicates accepted by the fakes."""
    fleet.ledger = postgres_database
    fleet.x.refuse_duplicates = fleet.graph.refuse_duplicates = False
    return fleet


# -- the ledger's rules, on PostgreSQL ------------------------------------------------------------

def test_a_new_database_is_migrated_and_its_version_recorded_in_a_table(ledger):
    assert ledger.schema_version == len(L.MIGRATIONS) >= 4
    assert execute(ledger.url, f"SELECT version FROM {SCHEMA_TABLE}") == [(len(L.MIGRATIONS),)]
    assert ledger.location == ledger.url
    # Opening it again finds nothing to do.
    again = PostgresLedger(ledger.url)
    assert execute(ledger.url, f"SELECT version FROM {SCHEMA_TABLE}") == [(len(L.MIGRATIONS),)]
    again.close()


def test_a_newer_schema_is_refused(postgres_database):
    execute(postgres_database, f"CREATE TABLE {SCHEMA_TABLE} (version INTEGER NOT NULL)")
    execute(postgres_database, f"INSERT INTO {SCHEMA_TABLE} VALUES (%s)",
            (len(L.MIGRATIONS) + 1,))
    with pytest.raises(MetpostError) as caught:
        PostgresLedger(postgres_database)
    assert caught.value.problems == (
        f"{postgres_database}: the ledger was written by a newer metpost (schema "
        f"{len(L.MIGRATIONS) + 1}); upgrade metpost",)


def test_a_version_1_database_is_migrated_keeping_its_history(postgres_database):
    with psycopg.connect(postgres_database, autocommit=True) as db:
        for statement in L.MIGRATIONS[0].statements("postgres"):
            db.execute(statement)
        db.execute(f"CREATE TABLE {SCHEMA_TABLE} (version INTEGER NOT NULL)")
        db.execute(f"INSERT INTO {SCHEMA_TABLE} VALUES (1)")
        db.execute("INSERT INTO broadcasts VALUES ('20250101-000000-aaaaaa', 'k', 'appeal', "
                   "'2025-01-01T00:00:00+00:00')")
    ledger = PostgresLedger(postgres_database)
    assert ledger.schema_version == len(L.MIGRATIONS)
    record = ledger.find_broadcast("last")
    assert (record.id, record.source, record.label) == ("20250101-000000-aaaaaa", "appeal", None)


def test_metpost_ledger_may_hold_a_url(pg_fleet, cli_run, monkeypatch):
    monkeypatch.setenv("METPOST_LEDGER", pg_fleet.ledger)
    opened = open_ledger()
    assert isinstance(opened, PostgresLedger) and opened.location == pg_fleet.ledger
    opened.close()
    sent = cli_run(["send", "--config", str(pg_fleet.config), *MESSAGE], env=pg_fleet.env)
    assert sent.exit_code == 0, sent.stderr
    history = cli_run(["history", "--json"], env={"METPOST_LEDGER": pg_fleet.ledger})
    [record] = json.loads(history.stdout)["broadcasts"]
    assert record["id"] == json.loads(sent.stdout)["broadcast"]
    assert pg_fleet.ledger_rows("SELECT COUNT(*) FROM posts") == [(4,)]


def test_a_url_scheme_in_capitals_is_understood(postgres_database):
    # URL schemes are case-insensitive; libpq reads only "postgresql://" and "postgres://".
    shouted = "POSTGRESQL" + postgres_database[len("postgresql"):]
    assert postgres_database.startswith("postgresql://")
    ledger = open_ledger(shouted)
    assert isinstance(ledger, PostgresLedger) and ledger.location == postgres_database
    ledger.close()


def test_reading_a_database_that_holds_no_ledger_creates_none(postgres_database):
    with pytest.raises(NoLedger) as caught:
        open_ledger(postgres_database, create=False)
    assert caught.value.problems == (
        f"no ledger in {postgres_database} (nothing has been sent with it yet)",)
    assert execute(postgres_database, "SELECT to_regclass('posts')") == [(None,)]


# The rules common to both backends (claims, leases, adoption, lookups) are tested on
# PostgreSQL too, by tests/test_ledger.py.


# -- several runs at once ------------------------------------------------------------------------

def at_once(count: int, work) -> list:
    """``work(n)`` in ``count`` threads released together; their results (or exceptions)."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(n: int) -> None:
        barrier.wait()
        try:
            results[n] = work(n)
        except Exception as error:  # reported, not lost in the thread
            results[n] = error

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_runs_claiming_at_once_on_separate_connections_never_share_a_post(postgres_database):
    accounts = [f"acct-{n}" for n in range(50)]
    runs = [PostgresLedger(postgres_database) for _ in range(6)]
    # All record the same broadcast at once: one broadcast, each post once.
    ids = at_once(len(runs), lambda n: runs[n].record_broadcast("k" * 64, "t",
                                                                planned(*accounts)))
    assert len(set(ids)) == 1 and isinstance(ids[0], str), ids
    claims = at_once(len(runs), lambda n: runs[n].claim(ids[0], accounts, 60))
    senders: dict[str, list[int]] = {}
    for n, taken in enumerate(claims):
        assert not isinstance(taken, Exception), taken
        for claim in taken:
            if claim.action == "send":
                senders.setdefault(claim.post.account, []).append(n)
            else:
                assert claim.action == "busy"
    assert {account: len(who) for account, who in senders.items()} == dict.fromkeys(accounts, 1)
    for run in runs:
        run.close()


def test_runs_adopting_one_remote_id_at_once_leave_it_to_one_post(postgres_database):
    runs = [PostgresLedger(postgres_database) for _ in range(4)]
    for round_number in range(15):
        posts = [runs[0].posts(runs[0].record_broadcast(
            f"{round_number}-{n}".ljust(64, "k"), "t",
            planned("a", broadcast=f"{round_number}-{n}")))[0] for n in range(len(runs))]
        remote = f"remote-{round_number}"
        adopted = at_once(len(runs), lambda n, remote=remote, posts=posts: runs[n].adopt(
            posts[n].id, remote, "u"))
        assert sorted(adopted, key=str) == [False] * (len(runs) - 1) + [True], adopted
    for run in runs:
        run.close()


def test_migrations_run_by_several_processes_at_once_happen_once(postgres_server,
                                                                 postgres_database):
    opener = ("import sys, time\n"
              "from metpost.ledger import open_ledger\n"
              "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"
              "print(open_ledger(sys.argv[1]).schema_version)\n")
    for _ in range(3):
        url = postgres_server.url(postgres_server.create_database())
        go = time.time() + 2.0  # every process has imported metpost by then
        processes = [subprocess.Popen([sys.executable, "-c", opener, url, str(go)],
                                      env={**os.environ, "PGPASSWORD": postgres_server.password},
                                      text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                     for _ in range(6)]
        outputs = [process.communicate(timeout=60) for process in processes]
        assert [(p.returncode, out.strip()) for p, (out, _) in zip(processes, outputs,
                                                                  strict=True)] == [
            (0, str(len(L.MIGRATIONS)))] * 6, [err for _, err in outputs]
        assert execute(url, f"SELECT version FROM {SCHEMA_TABLE}") == [(len(L.MIGRATIONS),)]


# Two sends started together and a send killed mid-flight are tests/test_crash.py's, which
# `make test-postgres` (run by CI) runs with the ledger on this server.


# -- the database going away ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def own_server() -> Iterator[PostgresServer]:
    """A server of these tests' own, to stop and restart; durable (fsync on), so that a crash
    loses nothing committed, as in production."""
    try:
        server = PostgresServer.start_new(durable=True)
    except PostgresUnavailable as error:
        if os.environ.get("CI"):
            pytest.fail(str(error))
        pytest.skip(f"PostgreSQL is not available: {error}")
    yield server
    server.destroy()


@pytest.fixture
def own_fleet(fleet, own_server, monkeypatch):
    for name in list(os.environ):
        if name.startswith("PG"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PGPASSWORD", own_server.password)
    database = own_server.create_database()
    fleet.ledger = own_server.url(database)
    fleet.x.refuse_duplicates = fleet.graph.refuse_duplicates = False
    yield fleet
    with contextlib.suppress(PostgresUnavailable):
        own_server.start()  # in case a test left it stopped
    own_server.drop_database(database)


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_the_database_restarted_mid_broadcast_loses_and_doubles_nothing(own_fleet, own_server,
                                                                        mode):
    own_fleet.x.latency = own_fleet.graph.latency = 0.2
    own_fleet.x.stall_next(1, seconds=2)  # X takes the first post, then sits on its answer
    process = start(own_fleet, "--concurrency", "1")
    wait_for(lambda: len(own_fleet.x.live_posts()) == 1)
    own_server.restart(mode)  # immediate: as if it crashed, then recovered
    _, stderr = process.communicate(timeout=60)
    assert "Traceback" not in stderr, stderr
    own_fleet.x.latency = own_fleet.graph.latency = 0.0
    rerun = own_fleet.run(SEND)
    assert rerun.exit_code == 0, rerun.stdout + rerun.stderr
    assert set(statuses(rerun).values()) <= {"already sent", "sent"}
    assert_exactly_one_post_each_and_ledger_agrees(own_fleet)


def test_the_database_stopped_mid_broadcast_leaves_posts_unknown_for_the_rerun(own_fleet,
                                                                             own_server):
    own_fleet.x.stall_next(1, seconds=2)  # X takes the first post, then sits on its answer
    process = start(own_fleet, "--concurrency", "1", "--platform", "x")
    wait_for(lambda: len(own_fleet.x.live_posts()) == 1)
    own_server.stop()  # the post is out; the ledger is gone before its answer comes
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 1, stdout + stderr
    assert "Traceback" not in stderr
    posts = {p["account"]: p for p in json.loads(stdout)["posts"]}
    # Neither reported failed nor sent again: unknown, and nothing new started.
    assert {name: p["status"] for name, p in posts.items()} == {"hackney-x": "unknown",
                                                                "camden-x": "unknown"}
    for post in posts.values():
        assert post["error"] == (
            f"{own_fleet.ledger}: the ledger cannot be used: connection failed: connection to "
            f'server at "127.0.0.1", port {own_server.port} failed: Connection refused; this '
            "post may have gone out, and a rerun checks it once the ledger works")
    assert len(own_fleet.x.live_posts()) == 1
    assert own_server.password not in stdout + stderr
    own_server.start()
    rerun = own_fleet.run([*SEND, "--platform", "x"])
    assert rerun.exit_code == 0, rerun.stdout + rerun.stderr
    # The post that went out was found, not sent again; the other was sent now.
    assert statuses(rerun) == {"hackney-x": "already sent", "camden-x": "sent"}
    assert [len(own_fleet.x.live_posts(name)) for name in ("MPSHackney", "MPSCamden")] == [1, 1]
    rows = own_fleet.ledger_rows("SELECT account, state, remote_id FROM posts")
    assert {account: (state, remote) for account, state, remote in rows} == {
        "hackney-x": ("sent", own_fleet.x.live_posts("MPSHackney")[0].id),
        "camden-x": ("sent", own_fleet.x.live_posts("MPSCamden")[0].id)}


def test_a_send_while_the_database_is_down_is_one_line_naming_it(own_fleet, own_server):
    own_server.stop()
    outcome = own_fleet.run(SEND)
    assert outcome.exit_code == 2
    [line] = outcome.error_lines
    assert line.startswith(f"metpost: error: {own_fleet.ledger}: cannot open the ledger: "
                           "connection failed: ")
    assert line.endswith("; check the URL and that the server accepts connections (the "
                         "password comes from PGPASSWORD or .pgpass)")
    assert own_fleet.x.request_count == own_fleet.graph.request_count == 0


def test_after_the_server_came_back_the_next_transaction_reconnects(own_fleet, own_server):
    ledger = PostgresLedger(own_fleet.ledger, reconnect_patience=0.5)
    bid = ledger.record_broadcast("k" * 64, "t", planned("a"))
    own_server.stop()
    with pytest.raises(LedgerError) as caught:
        ledger.posts(bid)
    [problem] = caught.value.problems
    assert problem.startswith(f"{own_fleet.ledger}: the ledger cannot be used: ")
    own_server.start()
    assert [p.account for p in ledger.posts(bid)] == ["a"]
    ledger.close()


def test_a_connection_the_server_ended_is_replaced_before_the_next_transaction(ledger,
                                                                               postgres_server):
    bid = ledger.record_broadcast("k" * 64, "t", planned("a"))
    ledger.tries = 1  # no second try: the dead connection must be noticed before the first
    database = ledger.url.rsplit("/", 1)[1]
    with postgres_server.admin() as admin:
        [(killed,)] = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                    "WHERE application_name = 'metpost' AND datname = %s",
                                    (database,)).fetchall()
    assert killed
    # The server's farewell reaches the client a moment after the backend is told to end; the
    # promise is about a session the server has ended, so wait until its word has arrived.
    import select
    import time as clock

    give_up = clock.monotonic() + 5
    while not select.select([ledger._connection.fileno()], [], [], 0.05)[0]:
        assert clock.monotonic() < give_up, "the server never ended the session"
    assert [c.action for c in ledger.claim(bid, ["a"], 60)] == ["send"]


# -- a COMMIT whose answer is lost --------------------------------------------------------------

class CuttingProxy:
    """A TCP relay to the server that cuts a connection at a chosen message: the first client
    message containing ``at`` (once one containing ``after`` has passed) is passed on and the
    server's answer swallowed, so the server did it and the client never hears so; with
    ``deliver=False`` it is not passed on at all."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._at: bytes | None = None
        self._after: bytes | None = None
        self._deliver = True
        self.cuts = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self, at: bytes, *, after: bytes | None = None, deliver: bool = True) -> None:
        with self._lock:
            self._at, self._after, self._deliver = at, after, deliver

    def url(self, database_url: str) -> str:
        return database_url.replace(f":{self.upstream_port}/", f":{self.port}/")

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self._listener.accept()
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
                swallow = threading.Event()
                threading.Thread(target=self._to_server, args=(client, upstream, swallow),
                                 daemon=True).start()
                threading.Thread(target=self._to_client, args=(client, upstream, swallow),
                                 daemon=True).start()

    def _verdict(self, data: bytes) -> str | None:
        with self._lock:
            if self._at is None:
                return None
            if self._after is not None:
                if self._after in data:
                    self._after = None
                return None
            if self._at not in data:
                return None
            self._at = None
            self.cuts += 1
            return "swallow" if self._deliver else "drop"

    @staticmethod
    def _close(*ends: socket.socket) -> None:
        for end in ends:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def _to_server(self, client: socket.socket, upstream: socket.socket,
                   swallow: threading.Event) -> None:
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                verdict = self._verdict(data)
                if verdict == "drop":
                    break
                if verdict == "swallow":
                    swallow.set()
                upstream.sendall(data)
        if not swallow.is_set():
            self._close(client, upstream)

    def _to_client(self, client: socket.socket, upstream: socket.socket,
                   swallow: threading.Event) -> None:
        with contextlib.suppress(OSError):
            while data := upstream.recv(65536):
                if swallow.is_set():
                    break  # the server has answered: it did what it was asked
                client.sendall(data)
        self._close(client, upstream)


@pytest.fixture
def proxy(postgres_server) -> Iterator[CuttingProxy]:
    relay = CuttingProxy(postgres_server.port)
    yield relay
    relay.close()


def test_a_claim_whose_commit_answer_was_lost_is_still_this_runs(ledger, proxy):
    through = PostgresLedger(proxy.url(ledger.url))
    bid = through.record_broadcast("k" * 64, "t", planned("a", "b"))
    proxy.cut(b"COMMIT")
    claims = through.claim(bid, ["a", "b"], 60)
    assert proxy.cuts == 1
    # The claim went through; tried again, it finds its own claim, not another run's.
    assert [c.action for c in claims] == ["reconcile", "reconcile"]
    assert {row[0] for row in execute(ledger.url, "SELECT claimed_by FROM posts")} == {
        through.owner}
    ids = [c.post.id for c in claims]
    assert through.renew(ids, 60) == set(ids)
    through.close()


def test_a_transaction_cut_before_its_commit_is_simply_tried_again(ledger, proxy):
    through = PostgresLedger(proxy.url(ledger.url))
    bid = through.record_broadcast("k" * 64, "t", planned("a", "b"))
    proxy.cut(b"FOR UPDATE", deliver=False)
    assert [c.action for c in through.claim(bid, ["a", "b"], 60)] == ["send", "send"]
    assert proxy.cuts == 1
    through.close()


def test_an_attempt_whose_commit_answer_was_lost_is_counted_once(ledger, proxy):
    through = PostgresLedger(proxy.url(ledger.url))
    bid = through.record_broadcast("k" * 64, "t", planned("a"))
    [claim] = through.claim(bid, ["a"], 60)
    proxy.cut(b"COMMIT", after=b"attempts = attempts + 1")
    with pytest.raises(LedgerError):
        through.begin_attempt(claim.post.id, 60)
    assert through.post(claim.post.id).attempts == 1
    through.close()


def test_a_send_whose_claim_commit_answer_was_lost_still_sends_every_post_once(pg_fleet,
                                                                               proxy):
    pg_fleet.ledger = proxy.url(pg_fleet.ledger)
    proxy.cut(b"COMMIT", after=b"FOR UPDATE")
    outcome = pg_fleet.run(SEND)
    assert proxy.cuts == 1
    assert outcome.exit_code == 0, outcome.stdout + outcome.stderr
    assert set(statuses(outcome).values()) == {"sent"}
    assert_exactly_one_post_each_and_ledger_agrees(pg_fleet)


# -- the password ---------------------------------------------------------------------------------

def test_urls_are_told_from_paths_and_shown_without_a_password():
    assert is_database_url("postgresql://metpost@db/ledger")
    assert is_database_url("POSTGRES://db/ledger")
    assert not is_database_url("/var/lib/metpost/ledger.sqlite3")
    assert not is_database_url("postgresql.sqlite3")
    assert redacted_url("postgresql://metpost:s3cret@db:5432/ledger") == (
        "postgresql://metpost@db:5432/ledger")
    assert redacted_url("postgresql://db1:5432,db2:5433/ledger?password=s3cret&sslmode=require"
                        ) == "postgresql://db1:5432,db2:5433/ledger?sslmode=require"
    assert redacted_url("postgresql:///ledger?host=/run/postgresql") == (
        "postgresql:///ledger?host=/run/postgresql")
    assert has_password("postgresql://metpost:@db/ledger")
    # A colon percent-encoded is still a password to people; the SSL key's passphrase a secret.
    for url in ("postgresql://metpost%3As3cret@db/ledger", "postgresql://metpost%3as3cret@db/ledger",
                "postgresql://metpost@db/ledger?sslpassword=s3cret",
                "postgresql://metpost@db/ledger?SSLPassword=s3cret"):
        assert has_password(url)
        assert redacted_url(url) == "postgresql://metpost@db/ledger"
    assert not has_password("postgresql://metpost@db/ledger?passfile=/etc/metpost/pgpass")
    # libpq reads a password up to the "@": a "?" or "#" in it is no query or fragment.
    for url in ("postgresql://metpost:pa?ss@db/ledger", "postgresql://metpost:pa#ss@db/ledger",
                "postgresql://metpost:pa?ss=1#x@db/ledger"):
        assert has_password(url)
        assert redacted_url(url) == "postgresql://metpost@db/ledger"
    assert redacted_url("postgresql://db/ledger?password=x#y&sslmode=require") == (
        "postgresql://db/ledger?sslmode=require")
    # An unclosed IPv6 bracket is shown as typed (libpq will say what is wrong), not a crash.
    assert redacted_url("postgresql://metpost:s3cret@[::1/ledger") == (
        "postgresql://metpost@[::1/ledger")


@pytest.mark.parametrize("written", ["user", "user, with ? and #", "query"])
@pytest.mark.parametrize("command", [SEND, ["history"], ["show", "last"]])
def test_a_url_with_a_password_is_refused_in_one_line(pg_fleet, postgres_server, written,
                                                      command):
    # libpq reads a password up to its "@", "?" and "#" included.
    secret = postgres_server.password + ("?x#y" if "?" in written else "")
    url = (pg_fleet.ledger.replace("metpost@", f"metpost:{secret}@") if "user" in written
           else f"{pg_fleet.ledger}?password={secret}")
    outcome = pg_fleet.run([*command, "--ledger", url])
    assert outcome.exit_code == 2
    assert outcome.error_lines == [
        f"metpost: error: --ledger {pg_fleet.ledger}: the URL must not contain the database "
        "password; set PGPASSWORD, or put it in a .pgpass file (~/.pgpass, or the file "
        "PGPASSFILE names)"]
    assert secret not in outcome.stdout + outcome.stderr
    assert pg_fleet.x.request_count == pg_fleet.graph.request_count == 0


def test_the_password_can_come_from_a_pgpass_file(pg_fleet, postgres_server, tmp_path,
                                                  monkeypatch):
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{postgres_server.port}:*:metpost:"
                        f"{postgres_server.password}\n", encoding="utf-8")
    passfile.chmod(0o600)  # libpq ignores a file others can read
    monkeypatch.delenv("PGPASSWORD")
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    outcome = pg_fleet.run(SEND)
    assert outcome.exit_code == 0, outcome.stdout + outcome.stderr
    assert_exactly_one_post_each_and_ledger_agrees(pg_fleet)


def test_a_wrong_password_is_one_line_that_shows_neither_password(pg_fleet, postgres_server,
                                                                  monkeypatch):
    monkeypatch.setenv("PGPASSWORD", "not-the-right-one")
    outcome = pg_fleet.run(SEND)
    assert outcome.exit_code == 2
    [line] = outcome.error_lines
    assert line.startswith(f"metpost: error: {pg_fleet.ledger}: cannot open the ledger: ")
    assert 'password authentication failed for user "metpost"' in line
    assert "not-the-right-one" not in outcome.stdout + outcome.stderr
    assert postgres_server.password not in outcome.stdout + outcome.stderr


def test_the_password_never_appears_in_output_logs_or_the_ledger(pg_fleet, postgres_server,
                                                                 tmp_path):
    log = tmp_path / "attempts.jsonl"
    pg_fleet.x.revoke(pg_fleet.x_token("hackney"))
    pg_fleet.graph.fail_next(1, status=500)
    outcomes = [pg_fleet.run([*SEND, "--log-file", str(log)]),
                pg_fleet.run(["history", "--json"]), pg_fleet.run(["show", "last"]),
                pg_fleet.run(["show", "nope"])]
    everything = "".join(o.stdout + o.stderr for o in outcomes) + log.read_text()
    everything += pg_fleet.ledger_text()
    assert pg_fleet.ledger in everything  # the URL is shown ...
    assert postgres_server.password not in everything  # ... its password never


# -- metpost ledger migrate -----------------------------------------------------------------------

def sqlite_history(fleet, tmp_path: Path) -> str:
    """A SQLite ledger with two broadcasts on it, one of them with a failed post."""
    path = str(tmp_path / "old-ledger.sqlite3")
    assert fleet.run([*SEND, "--ledger", path]).exit_code == 0
    fleet.x.revoke(fleet.x_token("camden"))
    second = fleet.run(["send", "--all", "-m", "{{ borough }}: patrols tonight", "--key",
                        "night-1", "--yes", "--ledger", path])
    assert second.exit_code == 1
    fleet.x.revoked.clear()
    return path


def shown(fleet, ledger: str, reference: str) -> dict:
    document = json.loads(fleet.run(["show", reference, "--json", "--ledger", ledger]).stdout)
    return document


def test_migrate_copies_every_broadcast_and_post_and_the_copy_carries_on(pg_fleet, tmp_path):
    old = sqlite_history(pg_fleet, tmp_path)
    outcome = pg_fleet.run(["ledger", "migrate", "--from", old, "--to", pg_fleet.ledger])
    assert outcome.exit_code == 0, outcome.stderr
    [(events,)] = sqlite3.connect(old).execute("SELECT COUNT(*) FROM audit_events").fetchall()
    assert events == 4  # each broadcast's start and end
    assert outcome.stdout == (f"Copied 2 broadcasts, 8 posts and 4 audit events from {old} to "
                              f"{pg_fleet.ledger}.\n")
    assert pg_fleet.ledger_rows("SELECT COUNT(*) FROM audit_events") == [(4,)]
    before = json.loads(pg_fleet.run(["history", "--json", "--ledger", old]).stdout)
    after = json.loads(pg_fleet.run(["history", "--json"]).stdout)
    assert after == before
    for record in before["broadcasts"]:
        assert shown(pg_fleet, pg_fleet.ledger, record["id"]) == shown(pg_fleet, old,
                                                                       record["id"])
    columns = "broadcast_id, account, state, attempts, remote_id, url, error, idempotency_key"
    assert sorted(pg_fleet.ledger_rows(f"SELECT {columns} FROM posts")) == sorted(
        sqlite3.connect(old).execute(f"SELECT {columns} FROM posts").fetchall())
    # The shared ledger goes on where the file left off: the first broadcast is done, and the
    # failed post of the second is finished by its key.
    requests = pg_fleet.x.request_count + pg_fleet.graph.request_count
    assert set(statuses(pg_fleet.run(SEND)).values()) == {"already sent"}
    assert pg_fleet.x.request_count + pg_fleet.graph.request_count == requests
    retried = pg_fleet.run(["retry", "night-1", "--yes", "--json"])
    assert retried.exit_code == 0, retried.stdout
    assert statuses(retried)["camden-x"] == "sent"
    assert len(pg_fleet.x.live_posts("MPSCamden")) == 2


def test_migrate_carries_how_far_due_has_looked_at_each_schedule(pg_fleet, tmp_path):
    old = str(tmp_path / "old.sqlite3")
    from metpost.ledger import open_ledger

    file_ledger = open_ledger(old)
    file_ledger.mark_schedule_checked("on-the-street", 1_800_000_000.0)
    file_ledger.close()
    shared = open_ledger(pg_fleet.ledger)
    shared.mark_schedule_checked("weekend", 1_700_000_000.0)
    outcome = pg_fleet.run(["ledger", "migrate", "--from", old, "--to", pg_fleet.ledger])
    assert outcome.exit_code == 0, outcome.stderr
    assert shared.schedule_checked_until("on-the-street") == 1_800_000_000.0
    assert shared.schedule_checked_until("weekend") == 1_700_000_000.0
    shared.close()


def test_migrate_twice_copies_nothing_the_second_time(pg_fleet, tmp_path):
    old = sqlite_history(pg_fleet, tmp_path)
    command = ["ledger", "migrate", "--from", old, "--to", pg_fleet.ledger]
    assert pg_fleet.run(command).exit_code == 0
    again = pg_fleet.run([*command, "--json"])
    assert again.exit_code == 0
    assert json.loads(again.stdout) == {"from": old, "to": pg_fleet.ledger, "copied": False,
                                        "broadcasts": 2, "posts": 8, "audit_events": 4,
                                        "skipped": []}
    assert pg_fleet.ledger_rows("SELECT COUNT(*) FROM posts") == [(8,)]


def test_migrate_refuses_a_target_that_holds_part_of_the_ledger(pg_fleet, tmp_path):
    old = sqlite_history(pg_fleet, tmp_path)
    command = ["ledger", "migrate", "--from", old, "--to", pg_fleet.ledger]
    assert pg_fleet.run(command).exit_code == 0
    # The file was used again afterwards: a new broadcast the target does not have.
    assert pg_fleet.run(["send", "--all", "-m", "{{ borough }}: later", "--yes", "--ledger",
                         old]).exit_code == 0
    refused = pg_fleet.run(command)
    assert refused.exit_code == 2
    [line] = refused.error_lines
    assert line.startswith(f"metpost: error: {pg_fleet.ledger} already holds 2 of the 3 "
                           f"broadcasts and 8 of the 12 posts in {old} (such as ")
    assert line.endswith("); nothing was copied. A ledger can be copied only into one that "
                         "holds none of it, or all of it (copied before), unless "
                         "--skip-existing leaves out what it holds")
    assert pg_fleet.ledger_rows("SELECT COUNT(*) FROM posts") == [(8,)]


def test_two_hosts_that_both_sent_a_broadcast_go_into_one_ledger_with_skip_existing(
        pg_fleet, tmp_path):
    # Before they shared a ledger, both cron hosts sent the keyed broadcast roads-1 (each
    # platform took both); host B also sent one of its own.
    pg_fleet.x.refuse_duplicates = pg_fleet.graph.refuse_duplicates = False
    host_a, host_b = str(tmp_path / "a.sqlite3"), str(tmp_path / "b.sqlite3")
    for ledger in (host_a, host_b):
        assert pg_fleet.run([*SEND, "--key", "roads-1", "--ledger", ledger]).exit_code == 0
    assert pg_fleet.run(["send", "--all", "-m", "{{ borough }}: B only", "--yes", "--ledger",
                         host_b]).exit_code == 0
    migrate = ["ledger", "migrate", "--to", pg_fleet.ledger]
    assert pg_fleet.run([*migrate, "--from", host_a]).exit_code == 0
    kept = pg_fleet.ledger_rows("SELECT broadcast_id, account, remote_id FROM posts")
    assert pg_fleet.run([*migrate, "--from", host_b]).exit_code == 2  # without the option
    outcome = pg_fleet.run([*migrate, "--from", host_b, "--skip-existing", "--json"])
    assert outcome.exit_code == 0, outcome.stderr
    document = json.loads(outcome.stdout)
    shared_id = shown(pg_fleet, host_b, "roads-1")["id"]
    assert (document["copied"], document["broadcasts"], document["posts"],
            document["skipped"]) == (True, 1, 4, [shared_id])
    # The shared ledger keeps host A's record of roads-1, and has host B's own broadcast.
    rows = pg_fleet.ledger_rows("SELECT broadcast_id, account, remote_id FROM posts")
    assert set(kept) <= set(rows) and len(rows) == 8
    history = json.loads(pg_fleet.run(["history", "--json"]).stdout)["broadcasts"]
    assert len(history) == 2
    # Run again, everything of host B's is there: both are named as left out.
    plain = pg_fleet.run([*migrate, "--from", host_b, "--skip-existing"])
    assert plain.exit_code == 0
    both = ", ".join(sorted(b["id"] for b in history))
    assert plain.stdout == (
        f"2 broadcasts {pg_fleet.ledger} holds already ({both}) keep its record, with any "
        f"posts of theirs it lacked added; the posts this host sent of them again stay in "
        f"{host_b} (metpost show ID --ledger {host_b}).\n")


def test_a_broadcast_one_host_sent_in_part_gains_the_other_hosts_posts(pg_fleet, tmp_path):
    # Host B sent the keyed broadcast to the X accounts only (the rest failed, or were not
    # chosen); host A sent it to every account. Merged, a rerun must find all of it sent.
    pg_fleet.x.refuse_duplicates = pg_fleet.graph.refuse_duplicates = False
    host_a, host_b = str(tmp_path / "a.sqlite3"), str(tmp_path / "b.sqlite3")
    assert pg_fleet.run([*SEND, "--key", "partial", "--platform", "x", "--ledger", host_b]
                        ).exit_code == 0
    assert pg_fleet.run([*SEND, "--key", "partial", "--ledger", host_a]).exit_code == 0
    migrate = ["ledger", "migrate", "--to", pg_fleet.ledger]
    assert pg_fleet.run([*migrate, "--from", host_b]).exit_code == 0
    outcome = pg_fleet.run([*migrate, "--from", host_a, "--skip-existing", "--json"])
    assert outcome.exit_code == 0, outcome.stderr
    assert json.loads(outcome.stdout)["posts"] == 2  # A's two Facebook posts; its X ones held
    requests = pg_fleet.x.request_count + pg_fleet.graph.request_count
    rerun = pg_fleet.run([*SEND, "--key", "partial"])
    assert set(statuses(rerun).values()) == {"already sent"}, rerun.stdout
    assert pg_fleet.x.request_count + pg_fleet.graph.request_count == requests


def test_migrate_into_a_ledger_in_use_renumbers_the_posts(pg_fleet, tmp_path):
    # Another host has been using the shared ledger already.
    assert pg_fleet.run(["send", "--all", "-m", "{{ borough }}: from cron-2", "--yes"]
                        ).exit_code == 0
    theirs = pg_fleet.ledger_rows("SELECT id, account, remote_id FROM posts ORDER BY id")
    old = sqlite_history(pg_fleet, tmp_path)
    assert pg_fleet.run(["ledger", "migrate", "--from", old, "--to", pg_fleet.ledger]
                        ).exit_code == 0
    rows = pg_fleet.ledger_rows("SELECT id, account, remote_id FROM posts ORDER BY id")
    assert rows[:4] == theirs
    assert len({row[0] for row in rows}) == len(rows) == 12
    history = json.loads(pg_fleet.run(["history", "--json"]).stdout)["broadcasts"]
    assert len(history) == 3


@pytest.mark.parametrize("arguments, problem", [
    (["--from", "postgresql://metpost:pw123456@db/x", "--to", "postgresql://metpost@db/y"],
     "--from takes the path of a SQLite ledger file, not a URL (postgresql://metpost@db/x)"),
    (["--from", "old.sqlite3", "--to", "new.sqlite3"],
     "--to takes a PostgreSQL URL (postgresql://user@host/database), not 'new.sqlite3'"),
    (["--from", "old.sqlite3", "--to", "postgresql://metpost:pw123456@db/y"],
     "--to postgresql://metpost@db/y: the URL must not contain the database password; set "
     "PGPASSWORD, or put it in a .pgpass file (~/.pgpass, or the file PGPASSFILE names)"),
])
def test_migrate_says_what_each_option_takes(cli_run, arguments, problem):
    outcome = cli_run(["ledger", "migrate", *arguments])
    assert outcome.exit_code == 2
    assert outcome.error_lines == [f"metpost: error: {problem}"]


def test_migrate_from_a_file_that_does_not_exist_creates_nothing(cli_run, postgres_database,
                                                                 tmp_path):
    missing = tmp_path / "nowhere.sqlite3"
    outcome = cli_run(["ledger", "migrate", "--from", str(missing), "--to", postgres_database])
    assert outcome.exit_code == 2
    assert outcome.error_lines == [
        f"metpost: error: no ledger at {missing} (nothing has been sent from here yet)"]
    assert not missing.exists()
