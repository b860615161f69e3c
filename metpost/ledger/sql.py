"""The ledger's rules, written once in SQL that every backend runs.

It is what makes a send safe to repeat. Posts are recorded before they are sent and claimed in a
transaction, so two runs never send the same post. A claim is a lease that its run renews while
it lives (a heartbeat) and checks again immediately before each publish (compare-and-set on the
owner), so a slow run keeps its posts and a dead run's posts are taken over, reconciled with the
platform rather than posted blindly again. No secret is ever stored here.

Post states: pending → sending → sent | failed | unknown;  sent → retracted.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, Protocol

from metpost.errors import MetpostError
from metpost.ledger.records import BroadcastRecord, Claim, LedgerPost, PlannedPost
from metpost.status import LEDGER_STATES, PostStatus

BROADCAST_COLUMNS = "id, key, source, created_at, label"
POST_COLUMNS = ("id, broadcast_id, account, platform, handle, text, idempotency_key, state, "
                "attempts, remote_id, url, error, created_at, updated_at, first_attempt_at")
HOST = socket.gethostname()
# Newest first; broadcasts made in the same second are told apart by their posts' row ids.
NEWEST_FIRST = ("ORDER BY created_at DESC, (SELECT MAX(posts.id) FROM posts "
                "WHERE posts.broadcast_id = broadcasts.id) DESC, id DESC")


class Cursor(Protocol):
    """What a backend's transaction hands the shared code: run a statement, get its rows."""

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Execute ``sql`` (``?`` placeholders) and return any rows."""

    def count(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Execute a write and return how many rows it changed."""


def now_text() -> str:
    """The time as the ledger writes it: ISO 8601, UTC, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_owner() -> str:
    """A run's claim name: host and pid (to see whether it lives) and a token of its own (a pid
    can be reused, and one process may hold several ledgers in tests)."""
    return f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def owner_alive(owner: str | None, lease_until: float | None) -> bool:
    """Is the run that claimed a post still working on it?"""
    if not owner or lease_until is None or lease_until < time.time():
        return False
    parts = owner.split(":")
    host, pid = (":".join(parts[:-2]), parts[-2]) if len(parts) >= 3 else (parts[0], parts[-1])
    if host != HOST or not pid.isdigit():
        return True  # another machine: trust the lease
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _post(row: Sequence[Any]) -> LedgerPost:
    values = list(row)
    values[7] = PostStatus(values[7])
    return LedgerPost(*values)


class SqlLedger(ABC):
    """A ledger over one database connection, safe to share between threads of one run and
    between runs. Backends supply the connection, transactions and migrations."""

    #: appended to the SELECT that reads a post inside ``claim``: row locks where supported
    lock_clause = ""

    def __init__(self) -> None:
        self.owner = new_owner()

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the ledger is, for messages (a path, or a URL without its password)."""

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[Cursor]:
        """A write transaction (serialised with other runs' writes on the same rows)."""

    @abstractmethod
    def _reading(self) -> AbstractContextManager[Cursor]:
        """A read: a consistent view, no locks held afterwards."""

    @abstractmethod
    def close(self) -> None:
        """Close the database connection."""

    @property
    @abstractmethod
    def schema_version(self) -> int:
        """The migration the ledger is at."""

    # -- writing ------------------------------------------------------------------------------

    def record_broadcast(self, key: str, source: str, posts: Sequence[PlannedPost],
                         label: str | None = None) -> str:
        """Record a broadcast and its posts (once per key); return the broadcast's id.

        ``label`` is the name a person gave it (``--key``), by which it can be found later. A
        post already recorded for an account keeps its recorded text.
        """
        with self._transaction() as db:
            rows = db.run("SELECT id FROM broadcasts WHERE key = ?", (key,))
            if rows:
                broadcast_id = str(rows[0][0])
            else:
                stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
                broadcast_id = f"{stamp}-{key[:6]}"
                db.run("INSERT INTO broadcasts (id, key, source, created_at, label) "
                       "VALUES (?, ?, ?, ?, ?)", (broadcast_id, key, source, now_text(), label))
            known = {row[0] for row in db.run(
                "SELECT account FROM posts WHERE broadcast_id = ?", (broadcast_id,))}
            for post in posts:
                if post.account in known:
                    continue
                db.run("INSERT INTO posts (broadcast_id, account, platform, handle, text, "
                       "idempotency_key, state, created_at, updated_at) "
                       "VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                       (broadcast_id, post.account, post.platform, post.handle, post.text,
                        post.idempotency_key, now_text(), now_text()))
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
                rows = db.run(f"SELECT {POST_COLUMNS}, claimed_by, lease_until FROM posts "
                              f"WHERE broadcast_id = ? AND account = ?{self.lock_clause}",
                              (broadcast_id, account))
                if not rows:
                    continue
                post, owner, until = _post(rows[0][:-2]), rows[0][-2], rows[0][-1]
                if post.state in (PostStatus.SENT, PostStatus.RETRACTED):
                    action = "already"
                elif post.state == PostStatus.SENDING:
                    action = "busy" if owner_alive(owner, until) else "reconcile"
                elif post.state == PostStatus.UNKNOWN:
                    action = "reconcile"
                else:  # pending, or failed earlier: a rerun is the request to try again
                    action = "send"
                if action in ("send", "reconcile"):
                    db.run("UPDATE posts SET state = 'sending', claimed_by = ?, lease_until = ?, "
                           "updated_at = ? WHERE id = ?", (self.owner, lease, now_text(), post.id))
                claims.append(Claim(post=post, action=action))
        return claims

    def renew(self, post_ids: Sequence[int], lease_seconds: float) -> set[int]:
        """Extend this run's claims (the heartbeat); return the ids it still holds."""
        if not post_ids:
            return set()
        lease = time.time() + lease_seconds
        marks = ", ".join("?" for _ in post_ids)
        with self._transaction() as db:
            db.run(f"UPDATE posts SET lease_until = ? WHERE id IN ({marks}) AND claimed_by = ? "
                   "AND state = 'sending'", (lease, *post_ids, self.owner))
            rows = db.run(f"SELECT id FROM posts WHERE id IN ({marks}) AND claimed_by = ? "
                          "AND state = 'sending'", (*post_ids, self.owner))
        return {int(row[0]) for row in rows}

    def hold(self, post_id: int, lease_seconds: float) -> bool:
        """Compare-and-set just before a publish: true if this run still holds the post (its
        lease is then extended), false if another run has taken it over."""
        with self._transaction() as db:
            changed = db.count("UPDATE posts SET lease_until = ? WHERE id = ? AND claimed_by = ? "
                               "AND state = 'sending'",
                               (time.time() + lease_seconds, post_id, self.owner))
        return changed == 1

    def count_attempt(self, post_id: int) -> None:
        """One more request is being made for this post (the first one's time is kept)."""
        with self._transaction() as db:
            db.run("UPDATE posts SET attempts = attempts + 1, updated_at = ?, "
                   "first_attempt_at = COALESCE(first_attempt_at, ?) WHERE id = ?",
                   (now_text(), time.time(), post_id))

    def settle(self, post_id: int, state: PostStatus, *, remote_id: str | None = None,
               url: str | None = None, error: str | None = None) -> None:
        """Record a post's outcome and release its claim."""
        if state not in LEDGER_STATES:
            raise ValueError(state)
        with self._transaction() as db:
            db.run("UPDATE posts SET state = ?, remote_id = COALESCE(?, remote_id), "
                   "url = COALESCE(?, url), error = ?, claimed_by = NULL, lease_until = NULL, "
                   "updated_at = ? WHERE id = ?",
                   (str(state), remote_id, url, error, now_text(), post_id))

    def adopt(self, post_id: int, remote_id: str, url: str | None) -> bool:
        """Record a post found on its platform as this post, unless another post of the ledger
        already owns that remote id (then it is not this one); true if recorded."""
        with self._transaction() as db:
            platform = db.run("SELECT platform FROM posts WHERE id = ?", (post_id,))[0][0]
            taken = db.run("SELECT id FROM posts WHERE platform = ? AND remote_id = ? "
                           "AND id <> ?", (platform, remote_id, post_id))
            if taken:
                return False
            db.run("UPDATE posts SET state = 'sent', remote_id = ?, url = ?, error = NULL, "
                   "claimed_by = NULL, lease_until = NULL, updated_at = ? WHERE id = ?",
                   (remote_id, url, now_text(), post_id))
        return True

    def owned_remote_ids(self, platform: str, remote_ids: Sequence[str]) -> set[str]:
        """Which of ``remote_ids`` on ``platform`` already belong to posts in the ledger."""
        if not remote_ids:
            return set()
        marks = ", ".join("?" for _ in remote_ids)
        with self._reading() as db:
            rows = db.run(f"SELECT remote_id FROM posts WHERE platform = ? AND remote_id IN "
                          f"({marks})", (platform, *remote_ids))
        return {str(row[0]) for row in rows}

    def release(self, post_id: int, state: PostStatus) -> None:
        """Give a claimed post back untouched (an interrupted run): ``state`` is what it was."""
        self.settle(post_id, state, error=None if state == PostStatus.PENDING else
                    self.post(post_id).error)

    # -- reading ------------------------------------------------------------------------------

    def posts(self, broadcast_id: str) -> list[LedgerPost]:
        """A broadcast's posts, in the order they were recorded."""
        with self._reading() as db:
            rows = db.run(f"SELECT {POST_COLUMNS} FROM posts WHERE broadcast_id = ? ORDER BY id",
                          (broadcast_id,))
        return [_post(row) for row in rows]

    def post(self, post_id: int) -> LedgerPost:
        """One post by its ledger id."""
        with self._reading() as db:
            rows = db.run(f"SELECT {POST_COLUMNS} FROM posts WHERE id = ?", (post_id,))
        if not rows:
            raise KeyError(post_id)
        return _post(rows[0])

    def broadcasts(self, limit: int = 20) -> list[BroadcastRecord]:
        """The newest broadcasts first."""
        with self._reading() as db:
            rows = db.run(f"SELECT {BROADCAST_COLUMNS} FROM broadcasts {NEWEST_FIRST} LIMIT ?",
                          (limit,))
            return [self._with_counts(db, *row) for row in rows]

    def find_broadcast(self, reference: str) -> BroadcastRecord:
        """A broadcast by id, unique id prefix, ``--key`` label, or ``last``."""
        with self._reading() as db:
            if reference == "last":
                rows = db.run(f"SELECT {BROADCAST_COLUMNS} FROM broadcasts {NEWEST_FIRST} "
                              "LIMIT 1")
            else:
                prefix = (reference.replace("\\", "\\\\").replace("%", "\\%")
                          .replace("_", "\\_") + "%")
                rows = db.run(
                    f"SELECT {BROADCAST_COLUMNS} FROM broadcasts WHERE id = ? OR label = ? "
                    f"OR id LIKE ? ESCAPE '\\' {NEWEST_FIRST}",
                    (reference, reference, prefix))
                exact = [row for row in rows if reference in (row[0], row[4])]
                rows = exact[:1] or rows
            if not rows:
                raise MetpostError(f"no broadcast '{reference}' in {self.location}; "
                                   "see metpost history")
            if len(rows) > 1:
                raise MetpostError(f"'{reference}' matches several broadcasts; give more of "
                                   "the id")
            return self._with_counts(db, *rows[0])

    @staticmethod
    def _with_counts(db: Cursor, broadcast_id: str, key: str, source: str, created_at: str,
                     label: str | None) -> BroadcastRecord:
        counts = {str(state): int(count) for state, count in db.run(
            "SELECT state, COUNT(*) FROM posts WHERE broadcast_id = ? GROUP BY state",
            (broadcast_id,))}
        return BroadcastRecord(id=broadcast_id, key=key, source=source, created_at=created_at,
                               label=label, counts=counts)

