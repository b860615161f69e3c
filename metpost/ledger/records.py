"""What the ledger holds, as plain data shared by every backend."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

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
    # Where it goes besides its platform and handle, as ``metpost.destinations.destination_record``
    # gives it (a secret as its digest); None for a post recorded before metpost kept it.
    destination: Mapping[str, str | None] | None = None
    # When ``metpost retract`` took it back (ISO 8601, UTC): from then on it is never sent
    # from this broadcast. It is ``retracted`` once gone (or found never to have gone out).
    withdrawn_at: str | None = None

    @property
    def withdrawn_unsent(self) -> bool:
        """Retracted before it ever went out: withdrawn, never sent (a post that was out
        keeps its remote id, or its thread's first part's, once deleted)."""
        return self.state == PostStatus.RETRACTED and not self.remote_id


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
    withdrawn: int = 0  # of the retracted posts, those withdrawn before they were sent
    # Posts a retract took back that are not gone yet, by state: a delete that failed (sent),
    # a post it could not tell was out (unknown). They are never sent again; a retract
    # finishes them.
    retracting: Mapping[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Number of posts."""
        return sum(self.counts.values())

    @property
    def in_doubt(self) -> int:
        """Posts a run was sending when it stopped, and whose outcome is not known yet."""
        return self.counts.get("sending", 0) + self.counts.get("unknown", 0)

    @property
    def owed(self) -> int:
        """Posts a retry would send or look for: not out, not retracted, not withdrawn."""
        return sum(self.counts.get(state, 0) - self.retracting.get(state, 0)
                   for state in ("failed", "unknown", "sending", "pending"))


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
    # where it goes besides platform and handle (``metpost.destinations.destination_record``)
    destination: Mapping[str, str | None] | None = None


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
    """What a run may do with a post. ``action``: send, reconcile, already, busy or
    withdrawn (a retract took it back: never sent); for a retract (``Ledger.withdraw``):
    delete, reconcile, already, busy or withdrawn (just now)."""

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


IN_DOUBT = (PostStatus.SENDING, PostStatus.UNKNOWN)


def retract_action(post: LedgerPost, parts: Sequence[LedgerPart]) -> str:
    """What ``metpost retract`` must do about a post as the ledger holds it (``parts``: its
    thread's): ``already`` (retracted before), ``delete`` (it is out, or parts of its thread
    are), ``reconcile`` (a request for it, or a part, may have posted it: look for it first)
    or ``withdrawn`` (nothing of it went out: it is retracted without a request)."""
    if post.state == PostStatus.RETRACTED:
        return "already"
    if post.state == PostStatus.SENT:
        return "delete"
    tried = post.attempts > 0 or post.first_attempt_at is not None
    if (post.state in IN_DOUBT and tried) or any(
            part.state in IN_DOUBT and (part.attempts > 0 or part.first_attempt_at is not None)
            for part in parts):
        return "reconcile"
    if any(part.state == PostStatus.SENT for part in parts):
        return "delete"
    return "withdrawn"  # pending, failed, or claimed but never tried
