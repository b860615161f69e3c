"""The ledger in PostgreSQL: one database that several machines (two cron hosts) share.

The rules are sql.py's; this module supplies the connection. Claims lock their rows
(``SELECT … FOR UPDATE``), so a run claiming a post another run is claiming waits for it and
then sees the post taken. Migrations run under an advisory lock, so two runs opening a new
database at once upgrade it once; the version is kept in the ``metpost_schema`` table.

When the connection drops (a restart, a failover, a network cut) the failing transaction is
tried again on a new connection, waiting a few seconds for the server to come back; a
transaction whose COMMIT went unanswered is tried again only where that cannot count twice.
If the server stays away, the error (a ``LedgerError`` naming the database, never its password)
reaches the delivery, which starts nothing new and leaves what it was doing for the next run to
reconcile; the next transaction connects afresh.

The password never appears in the URL: libpq reads it from PGPASSWORD or a .pgpass file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import select
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import psycopg
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from metpost.errors import MetpostError
from metpost.ledger.migrations import MIGRATIONS
from metpost.ledger.records import LedgerError, NoLedger, TransientLedgerError
from metpost.ledger.sql import Cursor, SqlLedger
from metpost.ledger.urls import redacted_url, refuse_password
from metpost.secrets import REDACT

SCHEMA_TABLE = "metpost_schema"
# The advisory lock every run takes to migrate: "metpost" read as a number.
MIGRATION_LOCK = int.from_bytes(b"metpost", "big")
CONNECT_TIMEOUT = 10  # seconds, unless the URL says otherwise
RECONNECT_PATIENCE = 5.0  # seconds to wait for a server that went away mid-run (a restart)
# A run paused inside a transaction (a stopped process) must not hold row locks for ever.
SESSION_SETUP = "SET idle_in_transaction_session_timeout = '60s'"
BEGIN_WRITE = "BEGIN"
BEGIN_READ = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"


@lru_cache(maxsize=512)
def _native(sql: str) -> str:
    """Shared SQL (``?`` placeholders, never a ``?`` in a literal) as psycopg takes it."""
    return sql.replace("%", "%%").replace("?", "%s")


def _lock_key(name: str) -> int:
    """A name as the 64-bit number PostgreSQL's advisory locks take."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _reason(error: BaseException) -> str:
    """A database error in one line (libpq's messages run to several, with hints)."""
    first = str(error).strip().splitlines()
    return " ".join(first[0].split()) if first else type(error).__name__


def _lost_connection(connection: psycopg.Connection[Any], error: psycopg.Error) -> bool:
    """Did ``error`` come from the connection going away (rather than from the SQL)?"""
    state = error.sqlstate or ""
    # 08: connection exceptions; 57P: the server shutting down, starting up or crashed.
    return connection.closed or state.startswith(("08", "57P"))


def _usable(connection: psycopg.Connection[Any]) -> bool:
    """Can a transaction start on ``connection`` without a round trip to find out?

    An idle connection has nothing to read. If it has, the server has spoken unasked, which in
    practice means it ended the session (a restart sends a farewell, then closes): reconnect
    before the first statement rather than fail on it."""
    if connection.closed or connection.info.transaction_status != pq.TransactionStatus.IDLE:
        return False
    try:
        readable, _, _ = select.select([connection.fileno()], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


class _PostgresCursor:
    """sql.py's statements on a psycopg connection."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self._connection = connection

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self._connection.execute(_native(sql), tuple(params))
        return cursor.fetchall() if cursor.description is not None else []

    def count(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._connection.execute(_native(sql), tuple(params)).rowcount

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:  # psycopg pipelines these: one round trip for the lot
            with self._connection.cursor() as cursor:
                cursor.executemany(_native(sql), rows)

    def columns(self, table: str) -> list[str]:
        return [str(row[0]) for row in self.run(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = "
            "current_schema() AND table_name = ? ORDER BY ordinal_position", (table,))]

    def script(self, sql: str) -> None:
        """A statement of this backend's own (a migration), run exactly as written."""
        self._connection.execute(sql)


class PostgresLedger(SqlLedger):
    """A ledger in a PostgreSQL database, named by a ``postgresql://`` URL without a password.

    One connection per run, shared by its threads one transaction at a time.
    """

    lock_clause = " FOR UPDATE"

    def __init__(self, url: str, *, create: bool = True,
                 reconnect_patience: float = RECONNECT_PATIENCE) -> None:
        refuse_password(url)
        super().__init__()
        # A URL's scheme is case-insensitive, but libpq knows it only in lower case.
        scheme, separator, rest = url.partition("://")
        url = scheme.lower() + separator + rest
        self.url = url
        self.reconnect_patience = reconnect_patience
        self._location = redacted_url(url)
        self._lock = threading.RLock()
        self._connection: psycopg.Connection[Any] | None = None
        self._down = False  # the last reconnection failed: fail fast until one succeeds
        password = os.environ.get("PGPASSWORD")
        if password:  # libpq never echoes it, but no line metpost prints may show it either
            REDACT.add([password])
        try:
            self._connection = self._connect()
        except psycopg.Error as error:
            raise LedgerError(
                f"{self.location}: cannot open the ledger: {_reason(error)}; check the URL and "
                "that the server accepts connections (the password comes from PGPASSWORD or "
                ".pgpass)") from None
        self._migrate(create)

    @property
    def location(self) -> str:
        """The database URL (it never holds a password)."""
        return self._location

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    @property
    def schema_version(self) -> int:
        """The migration the ledger is at, as ``metpost_schema`` records it."""
        return int(self._read(lambda db: db.run(f"SELECT version FROM {SCHEMA_TABLE}"))[0][0])

    def _serialise(self, db: Cursor, name: str) -> None:
        """An advisory lock on ``name``, held until the transaction ends."""
        db.run("SELECT pg_advisory_xact_lock(?)", (_lock_key(name),))

    # -- migrations ---------------------------------------------------------------------------

    def _migrate(self, create: bool) -> None:
        # Under the advisory lock, a second run opening a new database waits for the first
        # run's upgrade and then finds nothing left to do. DDL is transactional here, so an
        # upgrade happens whole or not at all.
        with self._transaction() as db:
            db.run("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
            if not db.run("SELECT to_regclass(?) IS NOT NULL", (SCHEMA_TABLE,))[0][0]:
                if not create:
                    raise NoLedger(f"no ledger in {self.location} (nothing has been sent with "
                                   "it yet)")
                db.script(f"CREATE TABLE {SCHEMA_TABLE} (version INTEGER NOT NULL)")
                db.script(f"INSERT INTO {SCHEMA_TABLE} (version) VALUES (0)")
            version = int(db.run(f"SELECT version FROM {SCHEMA_TABLE}")[0][0])
            if version > len(MIGRATIONS):
                raise MetpostError(f"{self.location}: the ledger was written by a newer metpost "
                                   f"(schema {version}); upgrade metpost")
            for migration in MIGRATIONS[version:]:
                for statement in migration.statements("postgres"):
                    db.script(statement)
            if version < len(MIGRATIONS):
                db.run(f"UPDATE {SCHEMA_TABLE} SET version = ?", (len(MIGRATIONS),))

    # -- connections and transactions ---------------------------------------------------------

    def _connect(self) -> psycopg.Connection[Any]:
        params = conninfo_to_dict(self.url)
        params.setdefault("connect_timeout", CONNECT_TIMEOUT)
        params.setdefault("application_name", "metpost")
        # A database host that vanishes without closing the connection must not hang a
        # broadcast until TCP gives up: probe idle connections, and give up on unacknowledged
        # data after 30 s (libpq's keepalives and tcp_user_timeout).
        params.setdefault("keepalives", "1")
        params.setdefault("keepalives_idle", "10")
        params.setdefault("keepalives_interval", "5")
        params.setdefault("keepalives_count", "3")
        params.setdefault("tcp_user_timeout", "30000")
        connection = psycopg.connect(make_conninfo("", **params), autocommit=True)
        connection.execute(SESSION_SETUP)
        return connection

    def _connected(self) -> psycopg.Connection[Any]:
        """The connection, made anew if the last one broke (waiting a little for a server that
        is restarting, unless it was already found away)."""
        if self._connection is not None and _usable(self._connection):
            return self._connection
        self._discard()
        give_up = time.monotonic() + (0.0 if self._down else self.reconnect_patience)
        pause = 0.1
        while True:
            try:
                self._connection = self._connect()
            except psycopg.Error as error:
                if time.monotonic() + pause > give_up:
                    self._down = True
                    raise LedgerError(f"{self.location}: the ledger cannot be used: "
                                      f"{_reason(error)}") from None
                time.sleep(pause)
                pause = min(pause * 2, 1.0)
                continue
            self._down = False
            return self._connection

    def _discard(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(psycopg.Error):  # thrown away because it broke
                self._connection.close()
            self._connection = None

    @contextmanager
    def _transaction(self) -> Iterator[_PostgresCursor]:
        with self._lock:
            yield from self._within(BEGIN_WRITE)

    @contextmanager
    def _reading(self) -> Iterator[_PostgresCursor]:
        with self._lock:
            yield from self._within(BEGIN_READ)

    def _within(self, begin: str) -> Iterator[_PostgresCursor]:
        connection = self._connected()
        committing = False
        try:
            connection.execute(begin)
            yield _PostgresCursor(connection)
            committing = True
            connection.execute("COMMIT")
        except psycopg.Error as error:
            raise self._failure(connection, error, committing) from None
        except BaseException:
            self._roll_back(connection)
            raise

    def _failure(self, connection: psycopg.Connection[Any], error: psycopg.Error,
                 committing: bool) -> LedgerError:
        """The LedgerError for a database error inside a transaction, which is over now."""
        problem = f"{self.location}: the ledger cannot be used: {_reason(error)}"
        if _lost_connection(connection, error):
            self._discard()
            return TransientLedgerError(problem, maybe_committed=committing)
        self._roll_back(connection)
        if isinstance(error, psycopg.errors.SerializationFailure | psycopg.errors.DeadlockDetected):
            return TransientLedgerError(problem, maybe_committed=False)  # rolled back: try again
        return LedgerError(problem)

    def _roll_back(self, connection: psycopg.Connection[Any]) -> None:
        try:
            connection.execute("ROLLBACK")
        except psycopg.Error:
            self._discard()
