"""What the ledger holds, as plain data shared by every backend."""

from __future__ import annotations

from dataclasses import dataclass

from metpost.errors import MetpostError
from metpost.status import PostStatus


class LedgerError(MetpostError):
    """The ledger could not be read or written (a full disk, a database that went away).

    The message names the ledger (a path, or a database URL without its password)."""


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
