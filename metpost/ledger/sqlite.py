"""The ledger in a SQLite file: the default, for one machine."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from metpost.errors import MetpostError
from metpost.ledger import LEDGER_ENV
from metpost.ledger.migrations import MIGRATIONS
from metpost.ledger.records import LedgerError
from metpost.ledger.sql import SqlLedger


class _SqliteCursor:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._db.execute(sql, tuple(params)).fetchall()

    def count(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._db.execute(sql, tuple(params)).rowcount

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._db.executemany(sql, rows)

    def columns(self, table: str) -> list[str]:
        return [str(row[1]) for row in self._db.execute(f"PRAGMA table_info({table})")]


class SqliteLedger(SqlLedger):
    """A SQLite ledger: WAL mode, write transactions taken with BEGIN IMMEDIATE."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=30, isolation_level=None,
                                       check_same_thread=False)
            self._db.execute("PRAGMA busy_timeout=30000")
            self._use_wal()
            self._migrate()
        except sqlite3.DatabaseError as error:
            raise MetpostError(f"{path}: cannot open the ledger: {error}; pass --ledger PATH "
                               f"or set {LEDGER_ENV} to a writable file") from None
        except OSError as error:
            raise MetpostError(f"{path}: cannot create the ledger: {error.strerror}; pass "
                               f"--ledger PATH or set {LEDGER_ENV}") from None
        self._lock = threading.RLock()

    @property
    def location(self) -> str:
        """The file's path."""
        return str(self.path)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def _use_wal(self) -> None:
        # Switching to WAL does not wait on the busy handler when another run is opening the
        # same new file, so wait here. Once a ledger is in WAL mode it stays so.
        give_up = time.monotonic() + 30
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > give_up:
                    raise
                time.sleep(0.05)

    def _migrate(self) -> None:
        # Read the version inside the write transaction: two runs may open a new ledger at once.
        while True:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                version = self._db.execute("PRAGMA user_version").fetchone()[0]
                if version > len(MIGRATIONS):
                    raise MetpostError(f"{self.path}: the ledger was written by a newer "
                                       f"metpost (schema {version}); upgrade metpost")
                if version == len(MIGRATIONS):
                    self._db.execute("COMMIT")
                    return
                # executescript would commit our transaction; run statements one by one.
                for statement in MIGRATIONS[version].statements("sqlite"):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {version + 1}")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    @property
    def schema_version(self) -> int:
        """The migration the ledger is at."""
        with self._lock:
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def _transaction(self) -> Iterator[_SqliteCursor]:
        with self._lock, self._failures():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteCursor(self._db)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def _reading(self) -> Iterator[_SqliteCursor]:
        with self._lock, self._failures():
            self._db.execute("BEGIN")
            try:
                yield _SqliteCursor(self._db)
            finally:
                self._db.execute("COMMIT")

    @contextmanager
    def _single_read(self) -> Iterator[_SqliteCursor]:
        # In autocommit mode one SELECT sees one consistent state of the file by itself.
        with self._lock, self._failures():
            yield _SqliteCursor(self._db)

    @contextmanager
    def _failures(self) -> Iterator[None]:
        """A database error becomes a LedgerError naming the file."""
        try:
            yield
        except sqlite3.Error as error:
            raise LedgerError(f"{self.path}: the ledger cannot be used: {error}") from None
