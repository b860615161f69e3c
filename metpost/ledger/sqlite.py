"""The ledger in a SQLite file: the default, for one machine."""

from __future__ import annotations

import errno
import os
import secrets
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

# What os.link fails with where the file system has no hard links.
NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV}


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
            # A file found at ``path`` must be a ledger: metpost never leaves a half-made one
            # there (see _create_whole). Only one this run must build in place is spared.
            built_here = not path.exists() and not _create_whole(path)
            if not built_here:
                _refuse_empty_file(path)
            self._db = sqlite3.connect(path, timeout=30, isolation_level=None,
                                       check_same_thread=False)
            try:
                self._db.execute("PRAGMA busy_timeout=30000")
                if not built_here:  # before WAL mode is set, which writes to the file
                    _refuse_other_databases(self._db, path)
                self._use_wal()
                self._migrate()
            except BaseException:
                self._db.close()
                raise
        except sqlite3.DatabaseError as error:
            if _is_damage(error):
                raise MetpostError(_damaged(path, error)) from None
            raise MetpostError(f"{path}: cannot open the ledger: {error}; pass --ledger PATH "
                               f"or set {LEDGER_ENV} to a writable file") from None
        except OSError as error:
            raise MetpostError(f"{path}: cannot create the ledger: {_why_not(path, error)}; "
                               f"pass --ledger PATH or set {LEDGER_ENV}") from None
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
        _migrate(self._db, self.path)

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
            if _is_damage(error):
                raise LedgerError(_damaged(self.path, error)) from None
            raise LedgerError(f"{self.path}: the ledger cannot be used: {error}") from None


def _migrate(db: sqlite3.Connection, path: Path) -> None:
    """Bring the ledger open on ``db`` up to this metpost's schema."""
    # Read the version inside the write transaction: two runs may open a new ledger at once.
    while True:
        db.execute("BEGIN IMMEDIATE")
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise MetpostError(f"{path}: the ledger was written by a newer "
                                   f"metpost (schema {version}); upgrade metpost")
            if version == len(MIGRATIONS):
                db.execute("COMMIT")
                return
            # executescript would commit our transaction; run statements one by one. The
            # version is set in the same transaction as the tables: a file at version 0 holds
            # nothing of metpost's.
            for statement in MIGRATIONS[version].statements("sqlite"):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {version + 1}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


def _create_whole(path: Path) -> bool:
    """Put a new ledger, fully migrated, at ``path`` in one step; False when this file system
    cannot, and the caller must build it in place.

    It is built under a name of its own beside ``path``, then hard-linked into place: a run
    killed while building leaves only that draft (a hidden ``.NAME.*.new``), never a file at
    ``path`` that the next run would have to refuse; two runs creating the same ledger at once
    both use the one linked first. Where hard links are not to be had (FAT, some network
    shares) the ledger is built in place, as metpost always did: a run killed between making
    the file and its first commit leaves an empty file, which the next run refuses, saying to
    delete it (it was never used) or restore the ledger from a backup; and a run that finds
    another one's unfinished file there stops the same way, having sent nothing."""
    draft = path.with_name(f".{path.name}.{secrets.token_hex(4)}.new")
    try:
        db = sqlite3.connect(draft, isolation_level=None)
        try:
            _migrate(db, path)
        finally:
            db.close()
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another run made it first: this run uses that one
        except OSError as error:
            if error.errno not in NO_HARD_LINKS:
                raise
            return False
        return True
    finally:
        draft.unlink(missing_ok=True)


def _refuse_empty_file(path: Path) -> None:
    """Refuse a ledger file of 0 bytes: it was a ledger once (truncated, or copied without its
    contents) far more often than it is meant as a new one, and a new ledger would have
    forgotten every slot it sent, so ``due`` would send the recent ones again."""
    if path.is_dir():
        raise MetpostError(f"{path} is a folder: give the path of the ledger file in it, "
                           f"e.g. --ledger {path / 'ledger.sqlite3'}")
    if not path.is_file():  # /dev/null is empty too, and no one should be told to delete it
        raise MetpostError(f"{path} is not a regular file (a device, a pipe or a socket); "
                           "give the path of the ledger file")
    if path.stat().st_size == 0:
        raise MetpostError(
            f"{path} is empty, so it is not a ledger metpost made: if you meant to start a new "
            "ledger, delete it first; if it was your ledger, restore it from a backup: a new "
            "one would send recent slots again")


def _refuse_other_databases(db: sqlite3.Connection, path: Path) -> None:
    """Refuse a SQLite file that holds none of metpost's schema (version 0, as no migration
    leaves it): another application's database would have metpost's tables added to it, and
    a ledger that lost its contents would be taken for a new one."""
    if db.execute("PRAGMA user_version").fetchone()[0] != 0:
        return
    tables = [str(row[0]) for row in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    if tables:
        shown = ", ".join(tables[:3]) + (", ..." if len(tables) > 3 else "")
        raise MetpostError(
            f"{path} is not a metpost ledger: it holds another application's tables ({shown}); "
            "give --ledger (or METPOST_LEDGER) metpost's own ledger file, or a path where no "
            "file is yet, for a new ledger")
    raise MetpostError(
        f"{path} holds no ledger (it was emptied, or never finished): if you meant to start a "
        "new ledger, delete it first; if it was your ledger, restore it from a backup: a new "
        "one would send recent slots again")


def _is_damage(error: sqlite3.Error) -> bool:
    """Is ``error`` SQLite saying the file is damaged, or not a database at all?"""
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _damaged(path: Path, error: sqlite3.Error) -> str:
    return (f"{path} is damaged or is not a ledger ({error}): move it aside and restore the "
            "ledger from a backup; a new ledger would forget what was sent and send it again")


def _why_not(path: Path, error: OSError) -> str:
    """Why ``path`` cannot be made, in words: which part of it is a file, if one is."""
    for folder in reversed(path.parents):
        if folder.exists() and not folder.is_dir():
            return f"{folder} is a file, not a folder"
    return str(error.strerror or error)
