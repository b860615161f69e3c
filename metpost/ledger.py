"""The ledger: every broadcast and post metpost has handled, in SQLite.

It is what makes a send safe to repeat. Posts are recorded before they are sent and claimed in a
transaction, so two runs never send the same post, and a run killed mid-flight leaves posts in
``sending``, which the next run reconciles with the platform instead of posting blindly again.
No secret is ever stored here.

Post states: pending → sending → sent | failed | unknown;  sent → retracted.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from metpost.errors import MetpostError

LEDGER_ENV = "METPOST_LEDGER"

PENDING, SENDING, SENT, FAILED, UNKNOWN, RETRACTED = (
    "pending", "sending", "sent", "failed", "unknown", "retracted")
STATES = (PENDING, SENDING, SENT, FAILED, UNKNOWN, RETRACTED)

# Numbered migrations: entry N brings a ledger from user_version N to N+1. Append, never edit.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE broadcasts (
        id          TEXT PRIMARY KEY,       -- shown to people: 20261124-030000-3f9a1c
        key         TEXT NOT NULL UNIQUE,   -- idempotency key of the whole broadcast
        source      TEXT NOT NULL,          -- template name, or --message
        created_at  TEXT NOT NULL
    );
    CREATE TABLE posts (
        id              INTEGER PRIMARY KEY,
        broadcast_id    TEXT NOT NULL REFERENCES broadcasts(id),
        account         TEXT NOT NULL,
        platform        TEXT NOT NULL,
        handle          TEXT,
        text            TEXT NOT NULL,
        idempotency_key TEXT NOT NULL UNIQUE,
        state           TEXT NOT NULL CHECK (state IN
                        ('pending', 'sending', 'sent', 'failed', 'unknown', 'retracted')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        remote_id       TEXT,
        url             TEXT,
        error           TEXT,
        claimed_by      TEXT,               -- host:pid of the run sending it
        lease_until     REAL,               -- Unix time after which the claim lapses
        created_at      TEXT NOT NULL,
        updated_at      TEXT NOT NULL,
        UNIQUE (broadcast_id, account)
    );
    CREATE INDEX posts_by_state ON posts (state);
    """,
    # 2: remember the --key a person or scheduler gave, so `metpost retry KEY` finds it.
    """
    ALTER TABLE broadcasts ADD COLUMN label TEXT;
    CREATE INDEX broadcasts_by_label ON broadcasts (label);
    """,
)


def default_ledger_path() -> Path:
    """$METPOST_LEDGER, else ledger.sqlite3 in the user's data directory."""
    configured = os.environ.get(LEDGER_ENV)
    if configured:
        return Path(configured)
    from platformdirs import user_data_dir

    return Path(user_data_dir("metpost")) / "ledger.sqlite3"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


OWNER = f"{socket.gethostname()}:{os.getpid()}"


def _owner_alive(owner: str | None, lease_until: float | None) -> bool:
    """Is the run that claimed a post still working on it?"""
    if not owner or lease_until is None or lease_until < time.time():
        return False
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine: trust the lease
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class LedgerPost:
    """One post as the ledger knows it."""

    id: int
    broadcast_id: str
    account: str
    platform: str
    handle: str | None
    text: str
    idempotency_key: str
    state: str
    attempts: int
    remote_id: str | None
    url: str | None
    error: str | None
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class BroadcastRecord:
    """A broadcast and how its posts stand."""

    id: str
    key: str
    source: str
    created_at: str
    label: str | None
    counts: dict[str, int]

    @property
    def total(self) -> int:
        """Number of posts."""
        return sum(self.counts.values())


@dataclass(frozen=True)
class PlannedPost:
    """A post to record before anything is sent."""

    account: str
    platform: str
    handle: str | None
    text: str
    idempotency_key: str


@dataclass(frozen=True)
class Claim:
    """What a run may do with a post. ``action``: send, reconcile, already or busy."""

    post: LedgerPost
    action: str


BROADCAST_COLUMNS = "id, key, source, created_at, label"
POST_COLUMNS = ("id, broadcast_id, account, platform, handle, text, idempotency_key, state, "
                "attempts, remote_id, url, error, created_at, updated_at")


class Ledger:
    """A SQLite ledger, safe to share between threads of one run and between runs."""

    def __init__(self, path: Path) -> None:
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
                for statement in MIGRATIONS[version].split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {version + 1}")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    @property
    def schema_version(self) -> int:
        """The migration the ledger is at."""
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- writing ----------------------------------------------------------------------------

    def record_broadcast(self, key: str, source: str, posts: Sequence[PlannedPost],
                         label: str | None = None) -> str:
        """Record a broadcast and its posts (once per key); return the broadcast's id.

        ``label`` is the name a person gave it (``--key``), by which it can be found later.
        """
        with self._transaction() as db:
            row = db.execute("SELECT id FROM broadcasts WHERE key = ?", (key,)).fetchone()
            if row:
                broadcast_id = str(row[0])
            else:
                stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
                broadcast_id = f"{stamp}-{key[:6]}"
                db.execute("INSERT INTO broadcasts (id, key, source, created_at, label) "
                           "VALUES (?, ?, ?, ?, ?)", (broadcast_id, key, source, _now(), label))
            for post in posts:
                db.execute(
                    "INSERT OR IGNORE INTO posts (broadcast_id, account, platform, handle, text, "
                    "idempotency_key, state, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                    (broadcast_id, post.account, post.platform, post.handle, post.text,
                     post.idempotency_key, _now(), _now()))
            return broadcast_id

    def claim(self, broadcast_id: str, accounts: Sequence[str],
              lease_seconds: float) -> list[Claim]:
        """Take the posts this run may work on, in one transaction, so two runs never both do.

        pending or failed → send; unknown, or sending by a run that is gone → reconcile first;
        sent or retracted → already; sending by a live run → busy.
        """
        lease = time.time() + lease_seconds
        claims = []
        with self._transaction() as db:
            for account in accounts:
                post = self._post_row(db, "broadcast_id = ? AND account = ?",
                                      (broadcast_id, account))
                if post is None:
                    continue
                state = post.state
                if state in (SENT, RETRACTED):
                    action = "already"
                elif state == SENDING:
                    owner, until = db.execute(
                        "SELECT claimed_by, lease_until FROM posts WHERE id = ?",
                        (post.id,)).fetchone()
                    action = "busy" if _owner_alive(owner, until) else "reconcile"
                elif state == UNKNOWN:
                    action = "reconcile"
                else:  # pending, or failed earlier: a rerun is the request to try again
                    action = "send"
                if action in ("send", "reconcile"):
                    db.execute("UPDATE posts SET state = 'sending', claimed_by = ?, "
                               "lease_until = ?, updated_at = ? WHERE id = ?",
                               (OWNER, lease, _now(), post.id))
                claims.append(Claim(post=post, action=action))
        return claims

    def count_attempt(self, post_id: int) -> None:
        """One more request was made for this post."""
        with self._lock:
            self._db.execute("UPDATE posts SET attempts = attempts + 1, updated_at = ? "
                             "WHERE id = ?", (_now(), post_id))

    def settle(self, post_id: int, state: str, *, remote_id: str | None = None,
               url: str | None = None, error: str | None = None) -> None:
        """Record a post's outcome and release its claim."""
        if state not in STATES:
            raise ValueError(state)
        with self._lock:
            self._db.execute(
                "UPDATE posts SET state = ?, remote_id = COALESCE(?, remote_id), "
                "url = COALESCE(?, url), error = ?, claimed_by = NULL, lease_until = NULL, "
                "updated_at = ? WHERE id = ?",
                (state, remote_id, url, error, _now(), post_id))

    # -- reading ----------------------------------------------------------------------------

    def _post_row(self, db: sqlite3.Connection, where: str,
                  params: tuple[Any, ...]) -> LedgerPost | None:
        row = db.execute(f"SELECT {POST_COLUMNS} FROM posts WHERE {where}", params).fetchone()
        return LedgerPost(*row) if row else None

    def posts(self, broadcast_id: str) -> list[LedgerPost]:
        """A broadcast's posts, in the order they were recorded."""
        with self._lock:
            rows = self._db.execute(f"SELECT {POST_COLUMNS} FROM posts WHERE broadcast_id = ? "
                                    "ORDER BY id", (broadcast_id,)).fetchall()
        return [LedgerPost(*row) for row in rows]

    def post(self, post_id: int) -> LedgerPost:
        """One post by its ledger id."""
        with self._lock:
            found = self._post_row(self._db, "id = ?", (post_id,))
        if found is None:
            raise KeyError(post_id)
        return found

    def broadcasts(self, limit: int = 20) -> list[BroadcastRecord]:
        """The newest broadcasts first."""
        with self._lock:
            rows = self._db.execute(f"SELECT {BROADCAST_COLUMNS} FROM broadcasts "
                                    "ORDER BY created_at DESC, rowid DESC LIMIT ?",
                                    (limit,)).fetchall()
        return [self._with_counts(*row) for row in rows]

    def find_broadcast(self, reference: str) -> BroadcastRecord:
        """A broadcast by id, unique id prefix, ``--key`` label, or ``last``."""
        with self._lock:
            if reference == "last":
                rows = self._db.execute(f"SELECT {BROADCAST_COLUMNS} FROM broadcasts "
                                        "ORDER BY created_at DESC, rowid DESC LIMIT 1").fetchall()
            else:
                rows = self._db.execute(
                    f"SELECT {BROADCAST_COLUMNS} FROM broadcasts WHERE id = ? OR label = ? "
                    "OR id LIKE ? ESCAPE '\\' "
                    "ORDER BY id = ? DESC, label = ? DESC, created_at DESC, rowid DESC LIMIT 2",
                    (reference, reference,
                     reference.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                     + "%", reference, reference)).fetchall()
        if not rows:
            raise MetpostError(f"no broadcast '{reference}' in {self.path}; see metpost history")
        if len(rows) > 1 and reference not in (rows[0][0], rows[0][4]):
            raise MetpostError(f"'{reference}' matches several broadcasts; give more of the id")
        return self._with_counts(*rows[0])

    def _with_counts(self, broadcast_id: str, key: str, source: str, created_at: str,
                     label: str | None) -> BroadcastRecord:
        counts = dict(self._db.execute(
            "SELECT state, COUNT(*) FROM posts WHERE broadcast_id = ? GROUP BY state",
            (broadcast_id,)).fetchall())
        return BroadcastRecord(id=broadcast_id, key=key, source=source, created_at=created_at,
                               label=label, counts=counts)
