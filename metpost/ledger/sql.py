"""The ledger's rules, written once in SQL that every backend runs.

It is what makes a send safe to repeat. Posts are recorded before they are sent and claimed in a
transaction, so two runs never send the same post. A claim is a lease that its run renews while
it lives (a heartbeat) and checks again immediately before each publish (compare-and-set on the
owner), so a slow run keeps its posts and a dead run's posts are taken over, reconciled with the
platform rather than posted blindly again. No secret is ever stored here.

Post states: pending → sending → sent | failed | unknown;  sent → retracted. ``metpost retract``
withdraws posts (``withdrawn_at``): one not sent yet is retracted at once (it never went out,
and has no remote id), one that may be out is looked for first; a withdrawn post is never
claimed for sending again, and a run that claimed it before sends no further request for it.

A thread is one post (one claim, one lease) whose parts are rows of ``post_parts``, each with a
state of its own (the same words; ``sending`` once a request for it began), so that a rerun
resumes after the last part sent and reconciles a part in doubt. ``post_media`` holds the
images a post carries, with their digests. Both name their post by its idempotency key.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from metpost.errors import MetpostError
from metpost.ledger.records import (
    AuditEvent,
    BroadcastRecord,
    Claim,
    LedgerPart,
    LedgerPost,
    PlannedPost,
    TransientLedgerError,
    retract_action,
)
from metpost.platforms.api import Media
from metpost.status import LEDGER_STATES, PostStatus

T = TypeVar("T")

BROADCAST_COLUMNS = "id, key, source, created_at, label, public_safety"
POST_COLUMNS = ("id, broadcast_id, account, platform, handle, text, idempotency_key, state, "
                "attempts, remote_id, url, error, created_at, updated_at, first_attempt_at, "
                "repost_of, destination, withdrawn_at")
PART_COLUMNS = ("post_key, position, text, idempotency_key, state, attempts, remote_id, url, "
                "error, first_attempt_at")
MEDIA_COLUMNS = "path, mime_type, alt_text, sha256, size"
EVENT_COLUMNS = ("uid, at, kind, actor, os_user, host, outcome, broadcast_id, plan_id, "
                 "plan_digest, source, accounts, approved_by, urgent, reason, detail, id")
HOST = socket.gethostname()
# Newest first; broadcasts made in the same second are told apart by their posts' row ids.
NEWEST_FIRST = ("ORDER BY created_at DESC, (SELECT MAX(posts.id) FROM posts "
                "WHERE posts.broadcast_id = broadcasts.id) DESC, id DESC")
# Ids per ``IN (...)`` list: far below any backend's limit on parameters in one statement.
CHUNK = 500


class Cursor(Protocol):
    """What a backend's transaction hands the shared code: run a statement, get its rows."""

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Execute ``sql`` (``?`` placeholders) and return any rows."""

    def count(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Execute a write and return how many rows it changed."""

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Execute one write for each row of parameters, batched."""

    def columns(self, table: str) -> list[str]:
        """The names of ``table``'s columns, in order."""


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


def chunks(values: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """``values`` in slices of at most ``size``."""
    for start in range(0, len(values), size):
        yield values[start:start + size]


def placeholders(values: Sequence[Any]) -> str:
    """One ``?`` per value, for an ``IN (...)`` list."""
    return ", ".join("?" * len(values))


def _post(row: Sequence[Any]) -> LedgerPost:
    values = list(row)
    values[7] = PostStatus(values[7])
    values[16] = _destination(values[16])
    return LedgerPost(*values)


def _destination(recorded: str | None) -> dict[str, str | None] | None:
    """A post's recorded destination (JSON), or None when none was recorded."""
    import json

    if not recorded:
        return None
    try:
        value = json.loads(recorded)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _destination_text(destination: Mapping[str, str | None] | None) -> str | None:
    import json

    return None if destination is None else json.dumps(dict(destination), sort_keys=True)


def _part(row: Sequence[Any]) -> LedgerPart:
    values = list(row)
    values[4] = PostStatus(values[4])
    return LedgerPart(*values)


def _media(row: Sequence[Any]) -> Media:
    path, mime_type, alt_text, sha256, size = row
    return Media(path=Path(path), mime_type=str(mime_type), alt_text=str(alt_text),
                 sha256=str(sha256), size=int(size))


def _event(row: Sequence[Any]) -> AuditEvent:
    import json

    (uid, at, kind, actor, os_user, host, outcome, broadcast_id, plan_id, plan_digest, source,
     accounts, approved_by, urgent, reason, detail, row_id) = row
    return AuditEvent(kind=str(kind), actor=str(actor), os_user=str(os_user), host=str(host),
                      outcome=str(outcome), at=str(at), uid=str(uid), broadcast_id=broadcast_id,
                      plan_id=plan_id, plan_digest=plan_digest, source=source,
                      accounts=tuple(json.loads(accounts)),
                      approved_by=tuple(json.loads(approved_by)), urgent=bool(urgent),
                      reason=reason, detail=detail, id=int(row_id))


def part_key(post_key: str, position: int) -> str:
    """The idempotency key of a thread's part: its own, derived from its thread's."""
    return hashlib.sha256(f"{post_key}\0part\0{position}".encode()).hexdigest()


def _record_parts_and_media(db: Cursor, posts: Sequence[PlannedPost], stamp: str) -> None:
    """Record the parts and images of posts being recorded (most have neither)."""
    parts = [(post.idempotency_key, position, text, part_key(post.idempotency_key, position),
              stamp) for post in posts for position, text in enumerate(post.parts, start=1)]
    if parts:
        db.many("INSERT INTO post_parts (post_key, position, text, idempotency_key, state, "
                "updated_at) VALUES (?, ?, ?, ?, 'pending', ?) ON CONFLICT DO NOTHING", parts)
    media = [(post.idempotency_key, position, str(item.path), item.mime_type, item.alt_text,
              item.sha256, item.size)
             for post in posts for position, item in enumerate(post.media, start=1)]
    if media:
        db.many(f"INSERT INTO post_media (post_key, position, {MEDIA_COLUMNS}) VALUES "
                "(?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", media)


def _key_of(db: Cursor, post_id: int) -> str:
    return str(db.run("SELECT idempotency_key FROM posts WHERE id = ?", (post_id,))[0][0])


def _part_owns(db: Cursor, platform: str, remote_id: str, post_key: str,
               position: int | None = None) -> bool:
    """Whether a part of a thread other than this one (``post_key``'s part ``position``, or
    any part of ``post_key`` when None) already holds ``remote_id`` on ``platform``."""
    rows = db.run("SELECT parts.post_key, parts.position FROM post_parts AS parts JOIN posts "
                  "ON posts.idempotency_key = parts.post_key WHERE posts.platform = ? AND "
                  "parts.remote_id = ?", (platform, remote_id))
    return any(str(key) != post_key or (position is not None and int(number) != position)
               for key, number in rows)


class SqlLedger(ABC):
    """A ledger over one database connection, safe to share between threads of one run and
    between runs. Backends supply the connection, transactions and migrations."""

    #: appended to the SELECT that reads the posts inside ``claim``: row locks where supported
    lock_clause = ""
    #: how often a transaction is tried when the backend says another try may work
    tries = 3

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

    def _serialise(self, db: Cursor, name: str) -> None:
        """Keep other runs' transactions that serialise on ``name`` waiting until this one
        ends. A backend whose write transactions already exclude each other needs nothing."""
        return None

    def _write(self, body: Callable[[Cursor, bool], T], *, repeatable: bool = True) -> T:
        """``body(db, replay)`` in a write transaction, tried again when the backend says that
        may work (the connection dropped, the database rolled it back).

        ``replay`` is true once an earlier try may have committed without this run hearing so:
        the rows may then show this run's own changes. A body that is not ``repeatable`` (its
        effect would count twice) is not tried again after such a try.
        """
        return self._tried(self._transaction, body, repeatable)

    def _read(self, body: Callable[[Cursor], T], *, one_statement: bool = False) -> T:
        """``body(db)`` in a read, tried again when the backend says that may work.
        ``one_statement``: ``body`` runs a single SELECT, which is consistent on its own, so a
        backend may spare the transaction around it."""
        begin = self._single_read if one_statement else self._reading
        return self._tried(begin, lambda db, _replay: body(db), repeatable=True)

    def _single_read(self) -> AbstractContextManager[Cursor]:
        """Where one SELECT runs; a backend whose statements are atomic alone overrides it."""
        return self._reading()

    def _tried(self, begin: Callable[[], AbstractContextManager[Cursor]],
               body: Callable[[Cursor, bool], T], repeatable: bool) -> T:
        replay = False
        tried = 0
        while True:
            tried += 1
            try:
                with begin() as db:
                    return body(db, replay)
            except TransientLedgerError as error:
                if tried >= self.tries or (error.maybe_committed and not repeatable):
                    raise
                replay = replay or error.maybe_committed

    # -- writing ------------------------------------------------------------------------------

    def record_broadcast(self, key: str, source: str, posts: Sequence[PlannedPost],
                         label: str | None = None, public_safety: bool = False) -> str:
        """Record a broadcast and its posts (once per key); return the broadcast's id.

        ``label`` is the name a person gave it (``--key``), by which it can be found later. A
        post already recorded for an account keeps its recorded text. ``public_safety``: it is
        sent as a public-safety announcement (kept as first recorded).
        """
        def record(db: Cursor, _replay: bool) -> str:
            stamp = now_text()
            rows = db.run("SELECT id FROM broadcasts WHERE key = ?", (key,))
            if rows:
                broadcast_id = str(rows[0][0])
            else:
                broadcast_id = f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{key[:6]}"
                # Another run may be recording the same key at this moment (PostgreSQL lets
                # both get this far): the INSERT waits for the other's commit, and then this
                # run takes the broadcast the other recorded.
                if not db.count("INSERT INTO broadcasts (id, key, source, created_at, label, "
                                "public_safety) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                                (broadcast_id, key, source, stamp, label, int(public_safety))):
                    rows = db.run("SELECT id FROM broadcasts WHERE key = ?", (key,))
                    if not rows:
                        raise MetpostError(f"{self.location}: broadcast id {broadcast_id} is "
                                           "taken by another broadcast; send again")
                    broadcast_id = str(rows[0][0])
            known = {row[0] for row in db.run(
                "SELECT account FROM posts WHERE broadcast_id = ?", (broadcast_id,))}
            db.many("INSERT INTO posts (broadcast_id, account, platform, handle, text, "
                    "idempotency_key, state, created_at, updated_at, repost_of, destination) "
                    "VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    [(broadcast_id, post.account, post.platform, post.handle, post.text,
                      post.idempotency_key, stamp, stamp, post.repost_of,
                      _destination_text(post.destination))
                     for post in posts if post.account not in known])
            _record_parts_and_media(db, [post for post in posts if post.account not in known],
                                    stamp)
            return broadcast_id

        return self._write(record)

    def claim(self, broadcast_id: str, accounts: Sequence[str],
              lease_seconds: float) -> list[Claim]:
        """Take the posts this run may work on, in one transaction, so two runs never both do.

        pending or failed → send; unknown, or sending by a run that is gone → reconcile first;
        sent or retracted → already; sending by a live run → busy; withdrawn by a retract but
        not gone yet → withdrawn (never sent again). An account named twice is claimed once.
        """
        lease = time.time() + lease_seconds

        def take(db: Cursor, replay: bool) -> list[Claim]:
            # One read for the whole broadcast, locked in id order so that runs claiming at
            # once wait for each other instead of deadlocking.
            rows = {row[2]: row for row in db.run(
                f"SELECT {POST_COLUMNS}, claimed_by, lease_until FROM posts "
                f"WHERE broadcast_id = ? ORDER BY id{self.lock_clause}", (broadcast_id,))}
            claims = []
            for account in dict.fromkeys(accounts):
                row = rows.get(account)
                if row is None:
                    continue
                post = _post(row[:-2])
                action = self._claim_action(post, row[-2], row[-1], replay)
                claims.append(Claim(post=post, action=action))
            taken = [c.post.id for c in claims if c.action in ("send", "reconcile")]
            stamp = now_text()
            for ids in chunks(taken):
                db.run("UPDATE posts SET state = 'sending', claimed_by = ?, lease_until = ?, "
                       f"updated_at = ? WHERE id IN ({placeholders(ids)})",
                       (self.owner, lease, stamp, *ids))
            return claims

        return self._write(take)

    def _claim_action(self, post: LedgerPost, owner: str | None, until: float | None,
                      replay: bool) -> str:
        if post.state in (PostStatus.SENT, PostStatus.RETRACTED):
            return "already"
        if post.withdrawn_at:
            return "withdrawn"
        if post.state == PostStatus.SENDING:
            if replay and owner == self.owner:
                # This run's own claim, whose COMMIT went through unanswered: still ours.
                return "reconcile"
            return "busy" if owner_alive(owner, until) else "reconcile"
        if post.state == PostStatus.UNKNOWN:
            return "reconcile"
        return "send"  # pending, or failed earlier: a rerun is the request to try again

    def renew(self, post_ids: Sequence[int], lease_seconds: float) -> set[int]:
        """Extend this run's claims (the heartbeat); return the ids it still holds."""
        lease = time.time() + lease_seconds

        def extend(db: Cursor, _replay: bool) -> set[int]:
            held: set[int] = set()
            for ids in chunks(post_ids):
                db.run(f"UPDATE posts SET lease_until = ? WHERE id IN ({placeholders(ids)}) "
                       "AND claimed_by = ? AND state = 'sending'", (lease, *ids, self.owner))
                held.update(int(row[0]) for row in db.run(
                    f"SELECT id FROM posts WHERE id IN ({placeholders(ids)}) AND claimed_by = ? "
                    "AND state = 'sending'", (*ids, self.owner)))
            return held

        return self._write(extend) if post_ids else set()

    def begin_attempt(self, post_id: int, lease_seconds: float) -> float | None:
        """Just before a request: compare-and-set that this run still holds the post, extend
        its lease and count the attempt, in one transaction. Returns the time the post's first
        attempt began (this one's, if it is the first), or None if another run has taken the
        post over, or a retract has withdrawn it (and nothing was counted)."""
        lease, now = time.time() + lease_seconds, time.time()

        def begin(db: Cursor, _replay: bool) -> float | None:
            held = db.run(
                "UPDATE posts SET lease_until = ?, attempts = attempts + 1, updated_at = ?, "
                "first_attempt_at = COALESCE(first_attempt_at, ?) WHERE id = ? "
                "AND claimed_by = ? AND state = 'sending' AND withdrawn_at IS NULL "
                "RETURNING first_attempt_at",
                (lease, now_text(), now, post_id, self.owner))
            return float(held[0][0]) if held else None

        # Not repeated after a COMMIT that went unanswered: that would count the request twice.
        return self._write(begin, repeatable=False)

    def settle(self, post_id: int, state: PostStatus, *, remote_id: str | None = None,
               url: str | None = None, error: str | None = None) -> None:
        """Record a post's outcome and release its claim."""
        if state not in LEDGER_STATES:
            raise ValueError(state)
        self._write(lambda db, _replay: db.run(
            "UPDATE posts SET state = ?, remote_id = COALESCE(?, remote_id), "
            "url = COALESCE(?, url), error = ?, claimed_by = NULL, lease_until = NULL, "
            "updated_at = ? WHERE id = ?",
            (str(state), remote_id, url, error, now_text(), post_id)))

    def adopt(self, post_id: int, remote_id: str, url: str | None) -> bool:
        """Record a post found on its platform as this post, unless another post of the ledger
        already owns that remote id (then it is not this one); true if recorded."""
        def record(db: Cursor, _replay: bool) -> bool:
            platform = db.run("SELECT platform FROM posts WHERE id = ?", (post_id,))[0][0]
            # Two runs reconciling lookalike posts at once must not both take one remote id.
            self._serialise(db, f"remote id {platform} {remote_id}")
            taken = db.run("SELECT id FROM posts WHERE platform = ? AND remote_id = ? "
                           "AND id <> ?", (platform, remote_id, post_id))
            if taken or _part_owns(db, platform, remote_id, _key_of(db, post_id)):
                return False
            db.run("UPDATE posts SET state = 'sent', remote_id = ?, url = ?, error = NULL, "
                   "claimed_by = NULL, lease_until = NULL, updated_at = ? WHERE id = ?",
                   (remote_id, url, now_text(), post_id))
            return True

        return self._write(record)

    def owned_remote_ids(self, platform: str, remote_ids: Sequence[str]) -> set[str]:
        """Which of ``remote_ids`` on ``platform`` already belong to posts in the ledger."""
        if not remote_ids:
            return set()
        rows = self._read(lambda db: db.run(
            f"SELECT remote_id FROM posts WHERE platform = ? AND remote_id IN "
            f"({placeholders(remote_ids)}) UNION SELECT parts.remote_id FROM post_parts AS "
            "parts JOIN posts ON posts.idempotency_key = parts.post_key WHERE "
            f"posts.platform = ? AND parts.remote_id IN ({placeholders(remote_ids)})",
            (platform, *remote_ids, platform, *remote_ids)))
        return {str(row[0]) for row in rows}

    def withdraw(self, broadcast_id: str, accounts: Sequence[str]) -> list[Claim]:
        """Take these accounts' posts back for good (``metpost retract``), in one transaction:
        none of them is sent from this broadcast again, and a run sending one now sends no
        further request for it. What the retract must still do about each is its claim's
        action (``retract_action``): ``withdrawn`` (nothing of it went out: retracted now,
        without a request), ``delete``, ``reconcile``, ``already``, or ``busy`` (a live run
        is sending it now)."""
        def take(db: Cursor, _replay: bool) -> list[Claim]:
            rows = {row[2]: row for row in db.run(
                f"SELECT {POST_COLUMNS}, claimed_by, lease_until FROM posts "
                f"WHERE broadcast_id = ? ORDER BY id{self.lock_clause}", (broadcast_id,))}
            chosen = [rows[name] for name in dict.fromkeys(accounts) if name in rows]
            parts: dict[str, list[LedgerPart]] = {}
            for keys in chunks([str(row[6]) for row in chosen]):
                for part_row in db.run(f"SELECT {PART_COLUMNS} FROM post_parts WHERE post_key "
                                       f"IN ({placeholders(keys)}) ORDER BY position", keys):
                    part = _part(part_row)
                    parts.setdefault(part.post_key, []).append(part)
            stamp = now_text()
            claims = []
            for row in chosen:
                post = _post(row[:-2])
                busy = post.state == PostStatus.SENDING and owner_alive(row[-2], row[-1])
                action = "busy" if busy else retract_action(
                    post, parts.get(post.idempotency_key, []))
                if action == "withdrawn":
                    post = replace(post, state=PostStatus.RETRACTED, error=None,
                                   updated_at=stamp)
                if action != "already":
                    post = replace(post, withdrawn_at=post.withdrawn_at or stamp)
                claims.append(Claim(post=post, action=action))
            unsent = [claim.post.id for claim in claims if claim.action == "withdrawn"]
            for ids in chunks(unsent):
                db.run("UPDATE posts SET state = 'retracted', error = NULL, claimed_by = NULL, "
                       f"lease_until = NULL, updated_at = ? WHERE id IN ({placeholders(ids)})",
                       (stamp, *ids))
            taken = [claim.post.id for claim in claims if claim.action != "already"]
            for ids in chunks(taken):
                db.run("UPDATE posts SET withdrawn_at = COALESCE(withdrawn_at, ?) "
                       f"WHERE id IN ({placeholders(ids)})", (stamp, *ids))
            return claims

        return self._write(take)

    def release(self, post_id: int, state: PostStatus) -> None:
        """Give a claimed post back untouched (an interrupted run): ``state`` is what it was."""
        self.settle(post_id, state, error=None if state == PostStatus.PENDING else
                    self.post(post_id).error)

    # -- reading ------------------------------------------------------------------------------

    def posts(self, broadcast_id: str) -> list[LedgerPost]:
        """A broadcast's posts, in the order they were recorded."""
        rows = self._read(lambda db: db.run(
            f"SELECT {POST_COLUMNS} FROM posts WHERE broadcast_id = ? ORDER BY id",
            (broadcast_id,)))
        return [_post(row) for row in rows]

    def post(self, post_id: int) -> LedgerPost:
        """One post by its ledger id."""
        rows = self._read(lambda db: db.run(f"SELECT {POST_COLUMNS} FROM posts WHERE id = ?",
                                            (post_id,)), one_statement=True)
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
                shown = [f"{row[0]} ({row[3]}, {row[2]})" for row in rows[:5]]
                more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
                raise MetpostError(f"'{reference}' matches {len(rows)} broadcasts: "
                                   f"{'; '.join(shown)}{more}; give more of the id")
            return self._with_counts(db, *rows[0])

    def broadcast_by_key(self, key: str) -> BroadcastRecord | None:
        """The broadcast recorded under this idempotency key, if any."""
        with self._reading() as db:
            rows = db.run(f"SELECT {BROADCAST_COLUMNS} FROM broadcasts WHERE key = ?", (key,))
            return self._with_counts(db, *rows[0]) if rows else None

    def broadcast_labelled(self, label: str) -> BroadcastRecord | None:
        """The newest broadcast sent with this ``--key`` (a schedule's slot), if any."""
        with self._reading() as db:
            rows = db.run(f"SELECT {BROADCAST_COLUMNS} FROM broadcasts WHERE label = ? "
                          f"{NEWEST_FIRST} LIMIT 1", (label,))
            return self._with_counts(db, *rows[0]) if rows else None

    def schedule_checked_until(self, schedule: str) -> float | None:
        """Up to when (Unix time) `metpost due` has looked at ``schedule``, if ever."""
        with self._reading() as db:
            rows = db.run("SELECT checked_until FROM schedule_runs WHERE schedule = ?",
                          (schedule,))
        return float(rows[0][0]) if rows else None

    def mark_schedule_checked(self, schedule: str, until: float) -> None:
        """`metpost due` has looked at ``schedule`` up to ``until``; the mark only moves on."""
        def mark(db: Cursor, _replay: bool) -> None:
            db.run("INSERT INTO schedule_runs (schedule, checked_until) VALUES (?, ?) "
                   "ON CONFLICT DO NOTHING", (schedule, until))
            db.run("UPDATE schedule_runs SET checked_until = ? WHERE schedule = ? "
                   "AND checked_until < ?", (until, schedule, until))

        self._write(mark)

    # -- the audit trail ----------------------------------------------------------------------

    def record_event(self, event: AuditEvent) -> AuditEvent:
        """Add an event to the audit trail (stamped now, with a name of its own) and return it
        as recorded. Events are never changed or removed: the database refuses to."""
        import json

        recorded = replace(event, at=event.at or now_text(), uid=event.uid or uuid.uuid4().hex)
        # The uid makes a try repeated after an unanswered COMMIT add nothing twice.
        self._write(lambda db, _replay: db.run(
            "INSERT INTO audit_events (uid, at, kind, actor, os_user, host, outcome, "
            "broadcast_id, plan_id, plan_digest, source, accounts, approved_by, urgent, reason, "
            "detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            (recorded.uid, recorded.at, recorded.kind, recorded.actor, recorded.os_user,
             recorded.host, recorded.outcome, recorded.broadcast_id, recorded.plan_id,
             recorded.plan_digest, recorded.source, json.dumps(list(recorded.accounts)),
             json.dumps(list(recorded.approved_by)), int(recorded.urgent), recorded.reason,
             recorded.detail)))
        return recorded

    def events(self, *, since: str | None = None,
               plan_id: str | None = None) -> list[AuditEvent]:
        """The audit trail in the order it was written: all of it, or from ``since`` (an ISO
        time in UTC) on, or one plan's events."""
        where, params = [], []
        if since is not None:
            where.append("at >= ?")
            params.append(since)
        if plan_id is not None:
            where.append("plan_id = ?")
            params.append(plan_id)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = self._read(lambda db: db.run(
            f"SELECT {EVENT_COLUMNS} FROM audit_events{clause} ORDER BY id", params))
        return [_event(row) for row in rows]

    # -- threads and images -------------------------------------------------------------------

    def parts(self, post_key: str) -> list[LedgerPart]:
        """A thread's parts in order (none for a post that is not a thread)."""
        rows = self._read(lambda db: db.run(
            f"SELECT {PART_COLUMNS} FROM post_parts WHERE post_key = ? ORDER BY position",
            (post_key,)))
        return [_part(row) for row in rows]

    def media(self, post_key: str) -> list[Media]:
        """The images a post carries, in order."""
        rows = self._read(lambda db: db.run(
            f"SELECT {MEDIA_COLUMNS} FROM post_media WHERE post_key = ? ORDER BY position",
            (post_key,)))
        return [_media(row) for row in rows]

    def broadcast_parts(self, broadcast_id: str) -> dict[str, list[LedgerPart]]:
        """The parts of a broadcast's threads, by their post's idempotency key."""
        rows = self._read(lambda db: db.run(
            f"SELECT {', '.join('parts.' + c for c in PART_COLUMNS.split(', '))} FROM "
            "post_parts AS parts JOIN posts ON posts.idempotency_key = parts.post_key WHERE "
            "posts.broadcast_id = ? ORDER BY posts.id, parts.position", (broadcast_id,)))
        found: dict[str, list[LedgerPart]] = {}
        for row in rows:
            part = _part(row)
            found.setdefault(part.post_key, []).append(part)
        return found

    def broadcast_media(self, broadcast_id: str) -> dict[str, list[Media]]:
        """The images of a broadcast's posts, by their post's idempotency key."""
        rows = self._read(lambda db: db.run(
            "SELECT media.post_key, " + ", ".join("media." + c for c in MEDIA_COLUMNS.split(
                ", ")) + " FROM post_media AS media JOIN posts ON posts.idempotency_key = "
            "media.post_key WHERE posts.broadcast_id = ? ORDER BY posts.id, media.position",
            (broadcast_id,)))
        found: dict[str, list[Media]] = {}
        for key, *rest in rows:
            found.setdefault(str(key), []).append(_media(rest))
        return found

    def begin_part_attempt(self, post_id: int, part: LedgerPart,
                           lease_seconds: float) -> float | None:
        """Just before a request for one part of a thread: compare-and-set that this run still
        holds the thread (its post), extend the lease, and count the attempt on the post and
        on the part, in one transaction. Returns when the part's first attempt began, or None
        if another run has taken the thread over, or a retract has withdrawn it (and nothing
        was counted)."""
        lease, now = time.time() + lease_seconds, time.time()

        def begin(db: Cursor, _replay: bool) -> float | None:
            stamp = now_text()
            held = db.count(
                "UPDATE posts SET lease_until = ?, attempts = attempts + 1, updated_at = ?, "
                "first_attempt_at = COALESCE(first_attempt_at, ?) WHERE id = ? "
                "AND claimed_by = ? AND state = 'sending' AND withdrawn_at IS NULL",
                (lease, stamp, now, post_id, self.owner))
            if held != 1:
                return None
            db.run("UPDATE post_parts SET state = 'sending', attempts = attempts + 1, "
                   "updated_at = ?, first_attempt_at = COALESCE(first_attempt_at, ?) "
                   "WHERE post_key = ? AND position = ?",
                   (stamp, now, part.post_key, part.position))
            return float(db.run("SELECT first_attempt_at FROM post_parts WHERE post_key = ? "
                                "AND position = ?", (part.post_key, part.position))[0][0])

        # Not repeated after a COMMIT that went unanswered: that would count the request twice.
        return self._write(begin, repeatable=False)

    def settle_part(self, part: LedgerPart, state: PostStatus, *, remote_id: str | None = None,
                    url: str | None = None, error: str | None = None) -> None:
        """Record how one part of a thread went (the thread's claim is the post's)."""
        if state not in LEDGER_STATES:
            raise ValueError(state)
        self._write(lambda db, _replay: db.run(
            "UPDATE post_parts SET state = ?, remote_id = COALESCE(?, remote_id), "
            "url = COALESCE(?, url), error = ?, updated_at = ? WHERE post_key = ? "
            "AND position = ?",
            (str(state), remote_id, url, error, now_text(), part.post_key, part.position)))

    def adopt_part(self, part: LedgerPart, platform: str, remote_id: str,
                   url: str | None) -> bool:
        """Record a post found on its platform as this part, unless another post or part of
        the ledger already owns that remote id; true if recorded."""
        def record(db: Cursor, _replay: bool) -> bool:
            self._serialise(db, f"remote id {platform} {remote_id}")
            taken = db.run("SELECT id FROM posts WHERE platform = ? AND remote_id = ? AND "
                           "idempotency_key <> ?", (platform, remote_id, part.post_key))
            if taken or _part_owns(db, platform, remote_id, part.post_key, part.position):
                return False
            db.run("UPDATE post_parts SET state = 'sent', remote_id = ?, url = ?, error = NULL, "
                   "updated_at = ? WHERE post_key = ? AND position = ?",
                   (remote_id, url, now_text(), part.post_key, part.position))
            return True

        return self._write(record)

    @staticmethod
    def _with_counts(db: Cursor, broadcast_id: str, key: str, source: str, created_at: str,
                     label: str | None, public_safety: int = 0) -> BroadcastRecord:
        counts: dict[str, int] = {}
        retracting: dict[str, int] = {}
        withdrawn = 0
        for state, taken_back, unsent, count in db.run(
                "SELECT state, withdrawn_at IS NOT NULL, remote_id IS NULL, COUNT(*) FROM posts "
                "WHERE broadcast_id = ? GROUP BY state, withdrawn_at IS NOT NULL, "
                "remote_id IS NULL", (broadcast_id,)):
            counts[str(state)] = counts.get(str(state), 0) + int(count)
            if str(state) == PostStatus.RETRACTED:
                withdrawn += int(count) if unsent else 0
            elif taken_back:
                retracting[str(state)] = retracting.get(str(state), 0) + int(count)
        first = db.run("SELECT text FROM posts WHERE broadcast_id = ? ORDER BY id LIMIT 1",
                       (broadcast_id,))
        return BroadcastRecord(id=broadcast_id, key=key, source=source, created_at=created_at,
                               label=label, counts=counts,
                               sample_text=str(first[0][0]) if first else "",
                               public_safety=bool(public_safety), withdrawn=withdrawn,
                               retracting=retracting)

