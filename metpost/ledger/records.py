"""What the ledger holds, as plain data shared by every backend."""

from __future__ import annotations

from dataclasses import dataclass

from metpost.errors import MetpostError
from metpost.platforms.api import Media
from metpost.status import PostStatus


class LedgerError(MetpostError):
    """The ledger could not be read or written (a full disk, a database that went away).

    The message names the ledger (a path, or a database URL without its password)."""


class NoLedger(MetpostError):
    """There is no ledger where one was looked for (and it was not to be created)."""


class TransientLedgerError(LedgerError):
    """The database went away or rolled the transaction back (a dropped connection, a restart,
    a deadlock): the same transaction may work if tried again on a new connection.

    ``maybe_committed``: the failure came with the COMMIT, so the transaction may have taken
    effect without this run hearing so; trying again then sees this run's own changes."""

    def __init__(self, problem: str, *, maybe_committed: bool) -> None:
        super().__init__(problem)
        self.maybe_committed = maybe_committed


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
    state: PostStatus
    attempts: int
    remote_id: str | None
    url: str | None
    error: str | None
    created_at: str
    updated_at: str
    first_attempt_at: float | None  # Unix time the first request for it began, if any
    repost_of: str | None = None  # the account whose post (in this broadcast) it reposts


@dataclass(frozen=True)
class BroadcastRecord:
    """A broadcast and how its posts stand."""

    id: str
    key: str
    source: str
    created_at: str
    label: str | None
    counts: dict[str, int]
    sample_text: str = ""  # the text of its first post, to tell broadcasts apart at a glance
    public_safety: bool = False  # sent as a public-safety announcement (--public-safety)

    @property
    def total(self) -> int:
        """Number of posts."""
        return sum(self.counts.values())

    @property
    def in_doubt(self) -> int:
        """Posts a run was sending when it stopped, and whose outcome is not known yet."""
        return self.counts.get("sending", 0) + self.counts.get("unknown", 0)


@dataclass(frozen=True)
class PlannedPost:
    """A post to record before anything is sent."""

    account: str
    platform: str
    handle: str | None
    text: str
    idempotency_key: str
    repost_of: str | None = None  # the account whose post (in this broadcast) it reposts
    parts: tuple[str, ...] = ()  # a thread's parts, numbered; empty for one post
    media: tuple[Media, ...] = ()  # the images it carries (a thread's, on its first part)


@dataclass(frozen=True)
class LedgerPart:
    """One part of a thread as the ledger knows it. A thread is one post in the ledger (one
    claim, one lease); its parts go out in order, each a reply to the one before, and each
    records how it went, so that a rerun resumes after the last part sent."""

    post_key: str  # the idempotency key of the post (the thread) it belongs to
    position: int  # 1 for the first part
    text: str
    idempotency_key: str  # the part's own, the same on every attempt
    state: PostStatus  # pending, sending (a request began), sent, failed, unknown, retracted
    attempts: int
    remote_id: str | None
    url: str | None
    error: str | None
    first_attempt_at: float | None


@dataclass(frozen=True)
class Claim:
    """What a run may do with a post. ``action``: send, reconcile, already or busy."""

    post: LedgerPost
    action: str


@dataclass(frozen=True)
class AuditEvent:
    """One entry of the audit trail: who (``actor``, the OS user and host) did what (``kind``:
    plan, approve, apply, send, retry, retract; to which broadcast, plan and accounts), when
    (``at``, filled in when recorded) and how it ended (``outcome``, ``detail``). Events are
    only ever added: the ledger refuses to change or remove one."""

    kind: str
    actor: str
    os_user: str
    host: str
    outcome: str
    at: str = ""  # ISO 8601, UTC
    uid: str = ""  # the event's own name, filled in when recorded; kept by a ledger copy
    broadcast_id: str | None = None
    plan_id: str | None = None
    plan_digest: str | None = None
    source: str | None = None  # the template, or --message
    accounts: tuple[str, ...] = ()
    approved_by: tuple[str, ...] = ()
    urgent: bool = False  # sent with --urgent: a required approval was bypassed
    reason: str | None = None  # why (the --reason of an urgent send)
    detail: str | None = None  # what happened, in words (counts, a refusal's reason)
    id: int | None = None  # its row in this ledger (a copy numbers rows anew)
