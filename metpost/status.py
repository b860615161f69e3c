"""What a post is, and what became of it: one vocabulary for the ledger, delivery and output."""

from __future__ import annotations

from enum import StrEnum


class PostStatus(StrEnum):
    """A post's state in the ledger, or the outcome a run reports for it.

    The ledger stores only ``LEDGER_STATES``: pending → sending → sent | failed | unknown, and
    sent → retracted. A run reports, besides those, ``already sent`` (an earlier run sent it),
    ``in progress elsewhere`` (another run holds its claim) and ``not sent`` (the run was
    interrupted before the post was tried; the next run sends it).
    """

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    ALREADY_SENT = "already sent"
    FAILED = "failed"
    UNKNOWN = "unknown"
    BUSY = "in progress elsewhere"
    RETRACTED = "retracted"
    NOT_SENT = "not sent"

    @property
    def delivered(self) -> bool:
        """The post is on its platform."""
        return self in (PostStatus.SENT, PostStatus.ALREADY_SENT)


LEDGER_STATES = frozenset({PostStatus.PENDING, PostStatus.SENDING, PostStatus.SENT,
                           PostStatus.FAILED, PostStatus.UNKNOWN, PostStatus.RETRACTED})
