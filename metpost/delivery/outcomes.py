"""What happened to each post of a run, recorded: its state in the ledger, a line in the attempt
log, and the result shown to whoever ran it.

``Delivery`` decides what a post's outcome is; ``Outcomes`` records it, the same way whichever
path led there. A ``Unit`` is what one request is about: a post, or one part of a thread.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from metpost.attemptlog import AttemptLog
from metpost.delivery.policy import Clock
from metpost.ledger import Ledger, LedgerPart, LedgerPost
from metpost.models import Account, SendResult
from metpost.platforms.api import PublishError, Receipt
from metpost.secrets import REDACT
from metpost.status import PostStatus


@dataclass(frozen=True)
class Unit:
    """What one request publishes: a post, or one part of a thread (``part``, of ``count``,
    after the thread's first part ``head`` when that is out)."""

    post: LedgerPost
    part: LedgerPart | None = None
    count: int = 0
    head: Receipt | None = None

    def named(self, reason: str) -> str:
        """``reason``, saying which part of the thread it is about."""
        if self.part is None:
            return reason
        return f"part {self.part.position} of {self.count}: {reason}"


class Outcomes:
    """Records outcomes for one broadcast's run in ``ledger`` and ``attempts`` (the attempt log);
    ``lease`` is how long a claim renewed by ``begin`` lasts, in seconds."""

    def __init__(self, ledger: Ledger, broadcast_id: str, attempts: AttemptLog, clock: Clock,
                 lease: float) -> None:
        self.ledger = ledger
        self.broadcast_id = broadcast_id
        self.attempts = attempts
        self.clock = clock
        self.lease = lease

    def begin(self, unit: Unit) -> float | None:
        """Compare-and-set before a request (see ``Ledger.begin_attempt``)."""
        if unit.part is None:
            return self.ledger.begin_attempt(unit.post.id, self.lease)
        return self.ledger.begin_part_attempt(unit.post.id, unit.part, self.lease)

    def record_sent(self, unit: Unit, receipt: Receipt) -> None:
        """Record that the post (or this part of the thread) is out, as ``receipt`` says."""
        if unit.part is None:
            self.ledger.settle(unit.post.id, PostStatus.SENT, remote_id=receipt.remote_id,
                               url=receipt.url)
        else:  # the thread stays claimed until its last part is out
            self.ledger.settle_part(unit.part, PostStatus.SENT, remote_id=receipt.remote_id,
                                    url=receipt.url)

    def settle(self, unit: Unit, state: PostStatus, reason: str) -> None:
        """Record that the post (or the thread, at this part) failed or is unknown. The reason
        is redacted before it is stored: ``metpost show`` reads it later, without the secrets
        in its environment to know what to hide."""
        reason = REDACT(reason)
        if unit.part is not None:
            self.ledger.settle_part(unit.part, state, error=reason)
        head = unit.head
        self.ledger.settle(unit.post.id, state, error=unit.named(reason),
                           remote_id=head.remote_id if head else None,
                           url=head.url if head else None)

    def log(self, post: LedgerPost, attempt: int, outcome: str, started: float | None,
            status: int | None = None, error: str | None = None) -> None:
        """A line in the attempt log; ``started`` (monotonic) gives the request's latency."""
        error = None if error is None else REDACT(error)
        latency = None if started is None else round((self.clock.monotonic() - started) * 1000)
        self.attempts.write(broadcast=self.broadcast_id, account=post.account,
                            platform=post.platform, attempt=attempt, outcome=outcome,
                            status=status, latency_ms=latency, error=error)

    def result(self, account: Account, post: LedgerPost, status: PostStatus,
               error: str | None = None) -> SendResult:
        """What the run reports for the post, as the ledger now holds it; ``error`` replaces
        the recorded error (none is shown for a delivered post unless given)."""
        current = self.ledger.post(post.id)
        shown_error = REDACT(error) if error is not None else (
            None if status.delivered else current.error)
        return SendResult(account=account, text=current.text, status=status,
                          remote_id=current.remote_id, url=current.url, error=shown_error,
                          attempts=current.attempts)

    def fail(self, account: Account, unit: Unit, reason: str, attempt: int,
             started: float | None = None, status: int | None = None,
             cause: PublishError | None = None) -> SendResult:
        """The post failed and nothing of it stands: recorded, logged and reported, with the
        platform's problem and permission hints from ``cause``."""
        post = unit.post
        self.settle(unit, PostStatus.FAILED, reason)
        self.log(post, attempt, "failed", started, status, unit.named(reason))
        result = self.result(account, post, PostStatus.FAILED)
        if cause is None:
            return result
        return replace(result, problem=cause.problem, permission=cause.permission)

    def give_up(self, may_exist: bool, account: Account, unit: Unit, reason: str,
                attempt: int, started: float | None = None, status: int | None = None,
                cause: PublishError | None = None) -> SendResult:
        """The post could not be sent now: failed, or unknown when an earlier attempt may have
        made it (an idempotent resend was under way), so that a rerun checks before sending."""
        if may_exist:
            return self.unknown(account, unit, and_then(
                reason, "an earlier attempt may have posted it (a rerun resends it with the same "
                "idempotency key, which cannot post twice)"))
        return self.fail(account, unit, reason, attempt, started, status, cause)

    def unknown(self, account: Account, unit: Unit, reason: str) -> SendResult:
        post = unit.post
        self.settle(unit, PostStatus.UNKNOWN, reason)
        self.log(post, 0, "unknown", None, None, unit.named(reason))
        return self.result(account, post, PostStatus.UNKNOWN)

    def not_sent(self, account: Account, unit: Unit, *, tried: bool = False) -> SendResult:
        """Interrupted before this post's request: give it back for the next run."""
        post = unit.post
        if tried:  # this run's requests failed in ways that posted nothing
            back = PostStatus.FAILED
        elif post.state == PostStatus.SENDING:  # a dead run's claim: unknown if it tried
            back = PostStatus.UNKNOWN if post.attempts else PostStatus.PENDING
        else:
            back = post.state
        if unit.part is not None:
            part = unit.part
            if tried:
                part_back = PostStatus.FAILED
            elif part.state == PostStatus.SENDING:
                part_back = PostStatus.UNKNOWN if part.attempts else PostStatus.PENDING
            else:
                part_back = part.state
            self.ledger.settle_part(part, part_back, error=part.error)
            if part_back == PostStatus.UNKNOWN:  # the next run must look for it first
                back = PostStatus.UNKNOWN
        self.ledger.release(post.id, back)
        return self.result(account, post, PostStatus.NOT_SENT,
                           error="not sent: the run was interrupted; a rerun sends it")

    def interrupted(self, may_exist: bool, account: Account, unit: Unit,
                    attempt: int) -> SendResult:
        """Asked to stop before the next request: a post an earlier attempt may have made is
        unknown (the next run checks it first); else it is given back, failed if this run's
        requests for it all failed without posting."""
        if may_exist:
            return self.unknown(account, unit, "may have been posted (interrupted before the "
                                "resend)")
        return self.not_sent(account, unit, tried=attempt > 0)


def clause(reason: str) -> str:
    """A platform's sentence made ready to be continued after a semicolon."""
    return reason.rstrip(" .")


def and_then(reason: str, more: str) -> str:
    """``reason``, continued with ``more`` after a semicolon; ``reason`` as it is when it says
    that already (a rerun continues the error it recorded, which must not grow each time)."""
    if clause(reason).endswith(f"; {more}"):
        return clause(reason)
    return f"{clause(reason)}; {more}"
