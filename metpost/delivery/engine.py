"""Getting recorded posts onto their platforms: exactly once, concurrently, within a deadline.

For each post the ledger lets this run claim:
- a post whose earlier outcome is unknown is first looked for on its platform (``reconcile``):
  found, it is marked sent; not found, it is sent; if the platform can't be asked, it stays
  unknown and is reported;
- just before each request the run checks that it still holds the post (compare-and-set), and
  a heartbeat renews its claims while it lives, so an overlapping run never takes them over;
- a failure that is safe to retry (no connection, 429, a documented "not processed") is
  retried with exponential backoff and jitter while the deadline allows; a rate limit waits for
  the platform's reset, and holds the account's (or app's) other posts meanwhile;
- a failure after which the post may exist (no answer, a 5xx, a duplicate refusal, anything a
  client raises unexpectedly) is never resent blindly: the post is looked for first, unless
  the platform takes a resend with the same idempotency key for a no-op (for as long as it
  remembers the key); a post resent so that then fails is unknown, never failed;
- anything else fails at once with the platform's reason;
- when told to stop (Ctrl-C), no new request starts; those in flight finish and are recorded;
- a repost (``LedgerPost.repost_of``) is made after the post it reposts, from that post's
  recorded remote id, and is claimed, checked and reconciled like any post; while that post is
  not on its platform, the repost fails without a request and a rerun makes it;
- a thread (a post with parts in the ledger) is one claim; its parts go out in order, each a
  reply to the one before, each checked, retried and reconciled as a post is, and each
  recorded as it goes: a rerun resumes after the last part sent and looks for a part whose
  outcome is unknown before anything follows it. Retract deletes every part that went out;
- images go with the post (a thread's with its first part); before a request that carries
  them, each file must still be the one checked when the broadcast was recorded.

A retract first withdraws the posts in the ledger (``Ledger.withdraw``), so that no run sends
them again; a post not sent yet is then retracted without a request; one that is out is
deleted; one that may be out (its outcome unknown) is looked for first, as above: found, it is
deleted; not found, it is retracted; if the platform cannot be asked, it stays unknown, still
withdrawn, for a later retract to look again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import TypeVar

from metpost.attemptlog import AttemptLog
from metpost.delivery import reconcile
from metpost.delivery.clients import Clients
from metpost.delivery.fanout import fan_out
from metpost.delivery.heartbeat import Heartbeat
from metpost.delivery.holds import Holds
from metpost.delivery.outcomes import Outcomes, Unit, and_then
from metpost.delivery.policy import Clock, DeliveryPolicy, SystemClock
from metpost.ledger import Claim, Ledger, LedgerError, LedgerPart, LedgerPost
from metpost.ledger.records import IN_DOUBT
from metpost.models import Account, SendResult
from metpost.platforms.api import (
    Media,
    Platform,
    PostRequest,
    PublishError,
    Receipt,
    RemotePost,
)
from metpost.plugins import platform_classes
from metpost.secrets import REDACT
from metpost.status import PostStatus

T = TypeVar("T")
DUPLICATE_LOOKBACK = 86400.0  # seconds: how far back a duplicate refusal's original is sought
RETRACTED_HINT = "retracted earlier; send again with --again to post it anew"
WITHDRAWN_HINT = ("withdrawn before it was sent (metpost retract); send again with --again to "
                  "post it anew")
WITHDRAWN = "withdrawn before it was sent: it is never sent from this broadcast"


class Delivery:
    """Delivers one broadcast's claimable posts (or retracts them); one instance per run."""

    def __init__(self, ledger: Ledger, broadcast_id: str, accounts: Mapping[str, Account],
                 environ: Mapping[str, str], policy: DeliveryPolicy,
                 log: AttemptLog | None = None, clock: Clock | None = None,
                 stop: threading.Event | None = None) -> None:
        self.ledger = ledger
        self.broadcast_id = broadcast_id
        self.accounts = accounts
        self.environ = environ
        self.policy = policy
        self.log = log or AttemptLog(None)
        self.clock = clock or SystemClock()
        self.stop = stop or threading.Event()
        self.platforms = platform_classes()
        self.holds = Holds()
        self.clients = Clients(self.platforms, environ, policy.timeouts)
        self.outcomes = Outcomes(ledger, broadcast_id, self.log, self.clock, policy.lease)
        self._active: set[int] = set()  # claimed post ids this run still works on
        self._active_lock = threading.Lock()
        self._deadline = 0.0
        self._halted = threading.Event()  # set when the ledger fails: start nothing new
        # The broadcast's threads' parts and posts' images, by post key, read once per run
        # (after the claim, so as they stand when this run takes them).
        self._parts: dict[str, list[LedgerPart]] = {}
        self._media: dict[str, list[Media]] = {}

    # -- whole runs ---------------------------------------------------------------------------

    def run(self, on_result: Callable[[SendResult], None] | None = None) -> list[SendResult]:
        """Claim, deliver and report every post, in the broadcast's order.

        A repost names the post it reposts by that post's remote id, so the posts it reposts
        go first, and the reposts once those are settled (all are claimed at the start).
        """
        self._deadline = self.clock.monotonic() + self.policy.deadline
        claims = self.ledger.claim(self.broadcast_id, list(self.accounts), self.policy.lease)
        with self._active_lock:
            self._active = {c.post.id for c in claims if c.action in ("send", "reconcile")}
        if any(c.action in ("send", "reconcile") for c in claims):
            self._parts = self.ledger.broadcast_parts(self.broadcast_id)
            self._media = self.ledger.broadcast_media(self.broadcast_id)
        phases = [[claim for claim in claims if not claim.post.repost_of],
                  [claim for claim in claims if claim.post.repost_of]]
        done: dict[int, SendResult] = {}
        with Heartbeat(self.renew_claims, self.policy.heartbeat):
            for phase in phases:
                finished = fan_out(phase, lambda claim: claim.post.platform, self._deliver,
                                   self.policy.concurrency)
                for claim, result in zip(phase, finished, strict=True):
                    done[claim.post.id] = result
                    if on_result:
                        on_result(result)
        self.clients.close_all()
        return [done[claim.post.id] for claim in claims]

    def retract(self, posts: Sequence[LedgerPost]) -> list[SendResult]:
        """Withdraw posts for good (``Ledger.withdraw``: none is sent from this broadcast
        again), then, concurrently, delete those that are out and look for those that may
        be; record each gone one as retracted."""
        self._deadline = self.clock.monotonic() + self.policy.deadline
        claims = self.ledger.withdraw(self.broadcast_id, [post.account for post in posts])
        results = list(fan_out(claims, lambda claim: claim.post.platform, self._retract_one,
                               self.policy.concurrency))
        self.clients.close_all()
        return results

    def renew_claims(self) -> None:
        """Extend the lease on every post this run still works on."""
        with self._active_lock:
            active = sorted(self._active)
        self.ledger.renew(active, self.policy.lease)

    # -- one post -----------------------------------------------------------------------------

    def _deliver(self, claim: Claim) -> SendResult:
        post = claim.post
        account = self.accounts[post.account]
        try:
            return self._deliver_claimed(claim, account)
        except LedgerError as error:
            # The outcome cannot be recorded: start nothing new; the post stays claimed in the
            # ledger, so the next run reconciles it with the platform.
            self._halted.set()
            return SendResult(account=account, text=post.text, status=PostStatus.UNKNOWN,
                              error=f"{error}; this post may have gone out, and a rerun "
                                    "checks it once the ledger works", attempts=post.attempts)
        finally:
            with self._active_lock:
                self._active.discard(post.id)
            # An account has one post per broadcast: its connections can go now, while other
            # posts are still in flight, rather than all at the end.
            self.clients.release(account)

    def _deliver_claimed(self, claim: Claim, account: Account) -> SendResult:
        post = claim.post
        if claim.action == "already":
            if post.state == PostStatus.RETRACTED:
                return self.outcomes.result(account, post, PostStatus.RETRACTED, error=(
                    WITHDRAWN_HINT if post.withdrawn_unsent else RETRACTED_HINT))
            return self.outcomes.result(account, post, PostStatus.ALREADY_SENT)
        if claim.action == "withdrawn":  # a retract took it back, and has not finished
            state = PostStatus.UNKNOWN if post.state in IN_DOUBT else PostStatus.FAILED
            return replace(self.outcomes.result(account, post, state, error=(
                "withdrawn by metpost retract, which has not finished with it (it may be "
                f"out); it is never sent again: metpost retract {self.broadcast_id} finishes "
                "it")), problem="retract")
        if claim.action == "busy":
            return self.outcomes.result(account, post, PostStatus.BUSY,
                                        error="another metpost run is sending this post now")
        try:
            return self._work(claim, account)
        except LedgerError:
            raise
        except Exception as error:  # a bug must cost one post, not the report of all
            attempted = self.ledger.post(post.id).attempts > post.attempts
            state = PostStatus.UNKNOWN if attempted or claim.action == "reconcile" else (
                PostStatus.FAILED)
            reason = REDACT(f"internal error while sending: {type(error).__name__}: {error}")
            self.ledger.settle(post.id, state, error=reason)
            return self.outcomes.result(account, post, state, error=reason)

    def _work(self, claim: Claim, account: Account) -> SendResult:
        post = claim.post
        unit = Unit(post)
        if self._stopping():
            return self.outcomes.not_sent(account, unit)
        if moved := self._moved(claim, account):
            return moved
        try:
            client = self.clients.of(account)
        except Exception as error:
            reason = REDACT(f"cannot set up the {self._title(post)} client: {error}")
            self.ledger.settle(post.id, PostStatus.FAILED, error=reason)
            return self.outcomes.result(account, post, PostStatus.FAILED, error=reason)
        media = () if post.repost_of else tuple(self._media.get(post.idempotency_key, ()))
        parts = [] if post.repost_of else self._parts.get(post.idempotency_key, [])
        if parts:
            return self._send_thread(client, account, post, parts, media)
        request = PostRequest(text=post.text, idempotency_key=post.idempotency_key,
                              first_attempt_at=post.first_attempt_at, media=media)
        never_tried = post.first_attempt_at is None and post.attempts == 0
        if post.repost_of:
            source = self._reposted(post)
            if not isinstance(source, LedgerPost):
                # Nothing was sent: a rerun (or metpost retry) reposts once the source is out.
                self.ledger.settle(post.id, PostStatus.FAILED, error=source)
                return self.outcomes.result(account, post, PostStatus.FAILED, error=source)
            request = replace(request, repost_of=Receipt(remote_id=source.remote_id or "",
                                                         url=source.url))
        if claim.action == "reconcile" and not never_tried and not self._idempotent(
                client, post.first_attempt_at):
            if not client.capabilities.can_list_recent:  # never asked what it did not declare
                return self.outcomes.unknown(account, unit, and_then(
                    post.error or "its outcome is unknown", f"may have been posted, and "
                    f"{self._title(post)} cannot list posts to check"))
            looked = self._look(client, unit, request)
            if isinstance(looked, reconcile.Found):
                return self.outcomes.result(account, post, PostStatus.ALREADY_SENT)
            if isinstance(looked, reconcile.Unreadable):
                return self.outcomes.unknown(
                    account, unit, f"may have been posted; could not check: {looked.reason}")
        # A post whose earlier outcome is unknown, on a platform that takes a resend for a
        # no-op, is resent without looking: it may exist all along.
        resent_unseen = claim.action == "reconcile" and not never_tried and self._idempotent(
            client, post.first_attempt_at)
        # The earlier request's answer was lost when the post was last recorded: on a platform
        # that may still be working on it, the resend waits until it cannot be.
        if resent_unseen and (wait := self._still_being_made(client, account, unit)) is not None:
            return wait
        changed = _changed_media(media)
        if changed is not None:  # nothing is sent; unknown only if an earlier try may stand
            return self.outcomes.give_up(resent_unseen, account, unit, changed, 0)
        return self._send(client, account, unit, request, may_exist=resent_unseen)

    # -- threads ------------------------------------------------------------------------------

    def _send_thread(self, client: Platform, account: Account, post: LedgerPost,
                     parts: Sequence[LedgerPart], media: tuple[Media, ...]) -> SendResult:
        """Send a thread's parts in order, each a reply to the one before, resuming after the
        last part sent; a part whose outcome is unknown is looked for (or, on a platform that
        takes a resend for a no-op, resent) before anything follows it. The thread is one
        claim: the post's, checked before every request and renewed by the heartbeat."""
        head: Receipt | None = None
        previous: Receipt | None = None
        for part in parts:
            if part.state == PostStatus.SENT and part.remote_id:
                receipt = Receipt(remote_id=part.remote_id, url=part.url)
            else:
                unit = Unit(post, part, len(parts), head)
                outcome = self._send_part(client, account, unit, previous,
                                          media if part.position == 1 else ())
                if isinstance(outcome, SendResult):
                    return outcome
                receipt = outcome
            head = head or receipt
            previous = receipt
        assert head is not None  # a thread has parts
        self.ledger.settle(post.id, PostStatus.SENT, remote_id=head.remote_id, url=head.url)
        return self.outcomes.result(account, post, PostStatus.SENT)

    def _send_part(self, client: Platform, account: Account, unit: Unit,
                   previous: Receipt | None, media: tuple[Media, ...]) -> Receipt | SendResult:
        """One part of a thread: its receipt once it is out, else the thread's result (the
        part failed, is unknown, or the run stopped or lost its claim)."""
        part = unit.part
        assert part is not None
        request = PostRequest(text=part.text, idempotency_key=part.idempotency_key,
                              reply_to=previous, thread_root=unit.head, media=media,
                              first_attempt_at=part.first_attempt_at)
        tried = part.first_attempt_at is not None or part.attempts > 0
        in_doubt = tried and part.state in (PostStatus.SENDING, PostStatus.UNKNOWN)
        idempotent = in_doubt and self._idempotent(client, part.first_attempt_at)
        if in_doubt and not idempotent:
            looked = self._look(client, unit, request)
            if isinstance(looked, reconcile.Found):
                return Receipt(remote_id=looked.remote.remote_id, url=looked.remote.url)
            if isinstance(looked, reconcile.Unreadable):
                return self.outcomes.unknown(
                    account, unit, f"may have been posted; could not check: {looked.reason}")
        if idempotent and (wait := self._still_being_made(client, account, unit)) is not None:
            return wait  # a thread's part, as a post: never resent while it may be in the making
        changed = _changed_media(media)
        if changed is not None:  # nothing is sent; unknown only if an earlier try may stand
            return self.outcomes.give_up(idempotent, account, unit, changed, 0)
        result = self._send(client, account, unit, request, may_exist=idempotent)
        current = self._current_part(part)
        if current.state == PostStatus.SENT and current.remote_id:
            return Receipt(remote_id=current.remote_id, url=current.url)
        return result

    def _still_being_made(self, client: Platform, account: Account,
                          unit: Unit) -> SendResult | None:
        """For a post or part in doubt about to be resent with its idempotency key: unknown,
        saying when a rerun resends it, while the platform may still be making it from the
        request whose answer was lost (it dedupes a key only once that request is over); else
        None. Said at once rather than waited for: a silent minute looks like a hang."""
        post = unit.post
        until = _parse_time(post.updated_at) + client.capabilities.in_flight_for
        if until <= self.clock.time():
            return None
        return self.outcomes.unknown(account, unit, (
            f"may have been posted, and {self._title(post)} may still be making it; a rerun "
            f"after {_clock_time(until)} resends it with the same idempotency key, which cannot "
            "post twice"))

    def _current_part(self, part: LedgerPart) -> LedgerPart:
        return next(found for found in self.ledger.parts(part.post_key)
                    if found.position == part.position)

    def _reposted(self, post: LedgerPost) -> LedgerPost | str:
        """The post of this broadcast that ``post`` reposts, once it is on its platform; else
        why the repost cannot be made now."""
        source = next((other for other in self.ledger.posts(self.broadcast_id)
                       if other.account == post.repost_of), None)
        if source is not None and source.state == PostStatus.SENT and source.remote_id:
            return source
        state = source.state if source is not None else "not recorded"
        return (f"not reposted: the post of {post.repost_of}, which this reposts, is not on "
                f"{self._title(post)} ({state}); a rerun reposts it once that post is sent")

    def _send(self, client: Platform, account: Account, unit: Unit,
              request: PostRequest, *, may_exist: bool = False) -> SendResult:
        post = unit.post
        attempt = 0
        hold_keys = [f"{account.platform}:{account.name}", *client.throttle_keys()]
        while True:
            if self._stopping():
                return self.outcomes.interrupted(may_exist, account, unit, attempt)
            hold = self.holds.longest(hold_keys, self.clock.time())
            if hold is not None:
                if not hold.retryable or not self._can_wait_until(hold.until):
                    return self.outcomes.give_up(may_exist, account, unit,
                                                 self._until(hold.reason, hold.until), attempt)
                if self.clock.wait(hold.until - self.clock.time(), self.stop):
                    return self.outcomes.interrupted(may_exist, account, unit, attempt)
            first_attempt_at = self.outcomes.begin(unit)
            if first_attempt_at is None:
                return self._lost_claim(account, post, may_exist)
            attempt += 1
            if request.first_attempt_at is None:  # this was the first: now it has a time
                request = replace(request, first_attempt_at=first_attempt_at)
            started = self.clock.monotonic()
            try:
                receipt = self._guarded(partial(client.publish, request), maybe_posted=True)
            except PublishError as error:
                reason = REDACT(error.reason)
                wait = self._retry_wait(error, attempt) if error.retry_safe else None
                if error.throttle_key or error.retry_at is not None:
                    keys = [error.throttle_key] if error.throttle_key else hold_keys[:1]
                    # A limit that names no time holds its accounts for this post's backoff.
                    until = error.retry_at if error.retry_at is not None or wait is None else (
                        self.clock.time() + wait)
                    self.holds.place(keys, until, reason, error.retry_safe)
                if error.maybe_posted or error.duplicate:
                    self.outcomes.log(post, attempt, "maybe-posted" if error.maybe_posted else
                                      "duplicate", started, error.status, reason)
                    settled = self._after_maybe_posted(client, account, unit, request, error,
                                                       reason, attempt)
                    if settled is not None:
                        return settled
                    # Resent unseen (an idempotent platform) rather than found absent.
                    may_exist = may_exist or (error.maybe_posted and self._idempotent(
                        client, request.first_attempt_at))
                    continue
                if error.retry_safe:
                    if wait is None:
                        return self.outcomes.give_up(may_exist, account, unit,
                                                     self._gave_up(error, account, reason), attempt,
                                                     started, error.status, error)
                    self.outcomes.log(post, attempt, "retry", started, error.status, reason)
                    if self.clock.wait(wait, self.stop):
                        if may_exist:
                            return self.outcomes.unknown(account, unit, and_then(
                                reason, "may have been posted (interrupted before the resend)"))
                        return self.outcomes.not_sent(account, unit, tried=True)
                    continue
                return self.outcomes.give_up(may_exist, account, unit,
                                             self._until(reason, error.retry_at), attempt, started,
                                             error.status, error)
            self.outcomes.record_sent(unit, receipt)
            self.outcomes.log(post, attempt, "sent", started)
            return self.outcomes.result(account, post, PostStatus.SENT)

    def _after_maybe_posted(self, client: Platform, account: Account, unit: Unit,
                            request: PostRequest, error: PublishError, reason: str,
                            attempt: int) -> SendResult | None:
        """The post may exist: find it, or say why not. None means: absent, send again."""
        post = unit.post
        capabilities = client.capabilities
        if error.maybe_posted and self._idempotent(client, request.first_attempt_at):
            wait = self._retry_wait(error, attempt, at_least=_in_flight_for(client, error))
            if wait is None:
                return self.outcomes.unknown(account, unit, _posted_perhaps(
                    reason, "a rerun resends it with the same idempotency key, which cannot "
                    "post twice once this request is over"))
            if self.clock.wait(wait, self.stop):
                return self.outcomes.unknown(account, unit, and_then(
                    reason, "may have been posted (interrupted before the resend)"))
            return None
        if not capabilities.can_list_recent:
            return self.outcomes.unknown(account, unit, and_then(
                reason, f"may have been posted, and {self._title(post)} cannot list posts to "
                "check"))
        # Give the platform a moment to list what it made (and to finish making it), then look.
        wait = self._retry_wait(error, attempt, at_least=_in_flight_for(client, error))
        if wait is not None and self.clock.wait(wait, self.stop):
            return self.outcomes.unknown(account, unit, and_then(
                reason, "may have been posted (interrupted before it could be checked)"))
        looked = self._look(client, unit, request, further_back=error.duplicate)
        if isinstance(looked, reconcile.Found):
            return self.outcomes.result(account, post, PostStatus.SENT)
        if isinstance(looked, reconcile.Unreadable):
            return self.outcomes.unknown(account, unit, and_then(
                reason, f"may have been posted; could not check: {looked.reason}"))
        if error.duplicate and looked.lookalike is not None:
            where = looked.lookalike.url or looked.lookalike.remote_id
            return self.outcomes.fail(account, unit, and_then(
                reason, f"the same text is already live there as {where}"), attempt,
                cause=error)
        if error.duplicate:
            return self.outcomes.unknown(account, unit, and_then(
                reason, "no post with this text was found on the account to confirm it; look "
                "at the account"))
        if wait is None:
            return self.outcomes.unknown(account, unit, and_then(
                reason, "may have been posted; not found yet, and the deadline leaves no time "
                "to resend; a rerun checks again"))
        return None

    def _look(self, client: Platform, unit: Unit, request: PostRequest, *,
              further_back: bool = False) -> reconcile.Search:
        """Search the platform for the post (or the thread's part) and adopt it when found.
        ``further_back``: list a day before the first attempt too, to name the post a
        duplicate refusal was about."""
        post = unit.post
        current = self.ledger.post(post.id)
        part = self._current_part(unit.part) if unit.part is not None else None
        first = (part.first_attempt_at if part is not None else current.first_attempt_at) or (
            _parse_time(current.created_at))
        own_id = part.remote_id if part is not None else current.remote_id
        since = reconcile.search_from(first, self.policy.clock_allowance)
        list_from = reconcile.search_from(first, DUPLICATE_LOOKBACK) if further_back else None
        started = self.clock.monotonic()

        def adopt(found: RemotePost) -> bool:
            if part is not None:
                return self.ledger.adopt_part(part, post.platform, found.remote_id, found.url)
            return self.ledger.adopt(post.id, found.remote_id, found.url)

        def owned(remote_ids: list[str]) -> set[str]:
            mine = {own_id} if own_id else set()
            return self.ledger.owned_remote_ids(post.platform, remote_ids) - mine

        looked = reconcile.search(client, request, since, self.policy.reconcile_depth,
                                  owned, adopt, list_from=list_from)
        outcome = {reconcile.Found: "reconciled-found", reconcile.Absent: "reconciled-absent",
                   reconcile.Unreadable: "reconcile-failed"}[type(looked)]
        reason = REDACT(looked.reason) if isinstance(looked, reconcile.Unreadable) else None
        self.outcomes.log(post, 0, outcome, started, error=reason)
        return looked

    def _lost_claim(self, account: Account, post: LedgerPost, may_exist: bool) -> SendResult:
        """This run no longer holds ``post``: a retract withdrew it (then it is never sent
        from this broadcast again; ``may_exist``: an earlier request of this run may have
        made it), or another run took it over."""
        current = self.ledger.post(post.id)
        if current.withdrawn_at:
            state = PostStatus.UNKNOWN if may_exist else PostStatus.FAILED
            return replace(self.outcomes.result(account, post, state, error=(
                "withdrawn by metpost retract while this run was sending it: no further "
                f"request is made for it; metpost retract {self.broadcast_id} finishes it")),
                problem="retract")
        return self.outcomes.result(account, post, PostStatus.BUSY,
                                    error="another metpost run took this post over")

    def _moved(self, claim: Claim, account: Account) -> SendResult | None:
        """A post recorded to go elsewhere than ``account`` now posts (a rerun with --key, or
        a schedule slot, after accounts.yaml changed): not sent, with what changed. Where its
        outcome was unknown, it may be where it was recorded going, and stays unknown. None
        when the account posts where the post was recorded going."""
        from metpost.destinations import destination_changes

        post = claim.post
        changes = destination_changes(post.platform, post.handle, post.destination, account)
        if not changes:
            return None
        reason = (f"account '{account.name}' posts elsewhere now than when this post was "
                  f"recorded: {', '.join(changes)}; put it back as it was to send it, or send "
                  f"the message to it alone as a new broadcast (metpost send --account "
                  f"{account.name} ... --again)")
        state = PostStatus.UNKNOWN if claim.action == "reconcile" else PostStatus.FAILED
        self.ledger.settle(post.id, state, error=reason)
        return self.outcomes.result(account, post, state, error=reason)

    # -- retract ------------------------------------------------------------------------------

    def _retract_one(self, claim: Claim) -> SendResult:
        """Finish what ``Ledger.withdraw`` left to do about one post: delete it where it is
        out, look for it first where it may be."""
        post = claim.post
        account = self.accounts[post.account]
        if claim.action in ("already", "withdrawn"):
            return self._retracted(account, post)
        if claim.action == "busy":
            return self.outcomes.result(account, post, PostStatus.BUSY, error=(
                "another metpost run is sending this post now; it sends no further request "
                f"for it, and once it has ended, metpost retract {self.broadcast_id} deletes "
                "what it sent"))
        if self._stopping():  # Ctrl-C: no new request; withdrawn, it is never sent again
            return self.outcomes.result(account, post, PostStatus.NOT_SENT, error=(
                f"not deleted: interrupted first; metpost retract {self.broadcast_id} "
                "finishes it"))
        if claim.action == "reconcile":
            found = self._find_before_retract(account, post)
            if isinstance(found, SendResult):
                return found
            post = found
        return self._delete_all(account, post)

    def _retracted(self, account: Account, post: LedgerPost) -> SendResult:
        """A post that is gone: retracted, or withdrawn before it ever went out (said so)."""
        current = self.ledger.post(post.id)
        return self.outcomes.result(account, current, PostStatus.RETRACTED,
                                    error=WITHDRAWN if current.withdrawn_unsent else None)

    def _find_before_retract(self, account: Account, post: LedgerPost) -> LedgerPost | SendResult:
        """Look for a post that may be out (or the parts of its thread that may be): each
        one found is adopted, to be deleted; one not found never went out. Returns the post
        as the ledger now holds it, or, when that cannot be told, its result: unknown, and
        never sent again (a retract run later looks again)."""
        unit = Unit(post)
        title = self._title(post)
        try:
            client = self.clients.of(account)
        except Exception as error:
            return self.outcomes.unknown(account, unit, self._undecided(
                f"cannot set up the {title} client: {error}"))
        capabilities = client.capabilities
        if not capabilities.can_list_recent:
            return self.outcomes.unknown(account, unit, self._undecided(
                f"{title} cannot list posts to check", look="look at the account, and "
                "delete it there if it went out"))
        # Only once the platform cannot still be making it from a request whose answer was
        # lost may its absence from the listing be believed.
        until = _parse_time(post.updated_at) + capabilities.in_flight_for
        if until > self.clock.time():
            return self.outcomes.unknown(account, unit, self._undecided(
                f"{title} may still be making it", look=f"metpost retract {self.broadcast_id} "
                f"after {_clock_time(until)} looks for it"))
        parts = self.ledger.parts(post.idempotency_key)
        looked = (self._look_for_parts(client, post, parts) if parts else
                  self._look_for_post(client, post))
        if looked is not None:
            return self.outcomes.unknown(account, unit, self._undecided(
                f"could not check: {looked.reason}"))
        return self.ledger.post(post.id)

    def _look_for_post(self, client: Platform, post: LedgerPost) -> reconcile.Unreadable | None:
        """Look for one post among the account's (a repost, for a repost of its source);
        None once it is known whether it is there."""
        request = PostRequest(text=post.text, idempotency_key=post.idempotency_key,
                              first_attempt_at=post.first_attempt_at)
        if post.repost_of:
            source = next((other for other in self.ledger.posts(self.broadcast_id)
                           if other.account == post.repost_of), None)
            if source is None or not source.remote_id:
                return None  # its source never went out, so no repost of it was made
            request = replace(request, repost_of=Receipt(remote_id=source.remote_id,
                                                         url=source.url))
        looked = self._look(client, Unit(post), request)
        return looked if isinstance(looked, reconcile.Unreadable) else None

    def _look_for_parts(self, client: Platform, post: LedgerPost,
                        parts: Sequence[LedgerPart]) -> reconcile.Unreadable | None:
        """Look for a thread's parts that may be out, in order, each answering the one
        before; the first that is not found ends it (no part after it went out). None once
        it is known which parts are out."""
        head: Receipt | None = None
        previous: Receipt | None = None
        for part in parts:
            tried = part.attempts > 0 or part.first_attempt_at is not None
            if part.state == PostStatus.SENT and part.remote_id:
                receipt = Receipt(remote_id=part.remote_id, url=part.url)
            elif part.state in IN_DOUBT and tried:
                request = PostRequest(text=part.text, idempotency_key=part.idempotency_key,
                                      reply_to=previous, thread_root=head,
                                      first_attempt_at=part.first_attempt_at)
                looked = self._look(client, Unit(post, part, len(parts), head), request)
                if not isinstance(looked, reconcile.Found):
                    return looked if isinstance(looked, reconcile.Unreadable) else None
                receipt = Receipt(remote_id=looked.remote.remote_id, url=looked.remote.url)
            else:
                return None
            head = head or receipt
            previous = receipt
        return None

    def _undecided(self, reason: str, *, look: str | None = None) -> str:
        """Why a withdrawn post may be out, and that it is never sent again all the same."""
        look = look or f"metpost retract {self.broadcast_id} looks for it again"
        return f"may have been posted; {reason}; it is never sent from this broadcast: {look}"

    def _delete_all(self, account: Account, post: LedgerPost) -> SendResult:
        """Delete what is out of a post (every part of a thread that went out) and record it
        retracted; a post of which nothing is out is retracted as it is."""
        started = self.clock.monotonic()
        parts = self.ledger.parts(post.idempotency_key)
        # A thread's parts that went out go last first, so that no reply is left answering a
        # deleted post; each is recorded as it goes, so that a retract tried again resumes.
        targets = [(part, part.remote_id) for part in reversed(parts)
                   if part.state == PostStatus.SENT and part.remote_id] if parts else [
                       (None, post.remote_id)] if post.remote_id else []
        for part, remote_id in targets:
            failure = self._delete(account, post, remote_id, started)
            if failure is not None:
                # Still out (in part, for a thread): the post keeps its state.
                kept = PostStatus.SENT if not parts else post.state
                self.ledger.settle(post.id, kept, error=f"retract failed: {failure}")
                return self.outcomes.result(account, post, PostStatus.FAILED,
                                            error=f"not deleted: {failure}")
            if part is not None:
                self.ledger.settle_part(part, PostStatus.RETRACTED)
        # A thread is known by its first part, which may have been found only just now.
        head = next((part for part in parts if part.remote_id), None)
        self.ledger.settle(post.id, PostStatus.RETRACTED,
                           remote_id=head.remote_id if head else None,
                           url=head.url if head else None)
        return self._retracted(account, post)

    def _delete(self, account: Account, post: LedgerPost, remote_id: str,
                started: float) -> str | None:
        """Delete one post from its platform, retrying what is safe to retry; None once it
        is gone, else why not."""
        attempt = 0
        try:
            client = self.clients.of(account)
        except Exception as error:  # credentials not set, say: no request was made
            reason = REDACT(f"cannot set up the {self._title(post)} client: {error}")
            self.outcomes.log(post, 1, "retract-failed", started, None, reason)
            return reason
        while True:
            attempt += 1
            try:
                self._guarded(partial(client.delete, remote_id), maybe_posted=False)
            except PublishError as error:
                reason = REDACT(error.reason)
                # A delete is safe to repeat: one that may have taken effect (a 5xx, an answer
                # lost) is tried again, and a post already gone counts as deleted.
                repeatable = error.retry_safe or error.maybe_posted
                wait = self._retry_wait(error, attempt) if repeatable else None
                if wait is not None and not self.clock.wait(wait, self.stop):
                    continue
                self.outcomes.log(post, attempt, "retract-failed", started, error.status, reason)
                return reason
            self.outcomes.log(post, attempt, "retracted", started)
            return None

    # -- helpers ------------------------------------------------------------------------------

    def _idempotent(self, client: Platform, first_attempt_at: float | None) -> bool:
        """Whether a resend with the post's idempotency key cannot post twice now: the
        platform honours keys, and (if only for a while) still remembers this one, less the
        moment a resend takes to arrive."""
        capabilities = client.capabilities
        window = capabilities.idempotency_window
        if not capabilities.idempotent_publish or window is None or first_attempt_at is None:
            return capabilities.idempotent_publish
        margin = self.policy.timeouts.connect + self.policy.clock_allowance
        return self.clock.time() - first_attempt_at < window - margin

    def _stopping(self) -> bool:
        """Asked to stop (Ctrl-C), or the ledger failed: no new request may start."""
        return self.stop.is_set() or self._halted.is_set()

    @staticmethod
    def _guarded(call: Callable[[], T], *, maybe_posted: bool) -> T:
        """Run a client call; anything it raises that is not a PublishError becomes one."""
        try:
            return call()
        except PublishError:
            raise
        except Exception as error:
            raise PublishError(f"unexpected error from the client: {type(error).__name__}: "
                               f"{error}", maybe_posted=maybe_posted) from error

    def _can_wait_until(self, until: float) -> bool:
        return self.clock.monotonic() + (until - self.clock.time()) < self._deadline

    def _retry_wait(self, error: PublishError, attempt: int, *,
                    at_least: float = 0.0) -> float | None:
        """Seconds to wait before the next try (``at_least`` that many), or None when the
        deadline does not allow it.

        Never less than the backoff: a platform's reset time that is now or past (its clock
        behind ours, or a limit that has not yet refilled) would otherwise be retried at once,
        again and again, hundreds of times a second."""
        wait = max(self.policy.backoff(attempt), at_least)
        if error.retry_at is not None:
            wait = max(wait, error.retry_at - self.clock.time())
        if self.clock.monotonic() + wait >= self._deadline:
            return None
        return wait

    def _gave_up(self, error: PublishError, account: Account, reason: str) -> str:
        if error.retry_at == float("inf"):  # a limit that names no end, beyond any run
            return reason
        if error.retry_at is not None and error.retry_at > self.clock.time():
            who = account.handle or account.name
            return f"rate limited until {_clock_time(error.retry_at)} " \
                   f"({self.platforms[account.platform].title}, {who})"
        return f"{reason} (gave up after the {self.policy.deadline:g}s deadline)"

    def _until(self, reason: str, until: float | None) -> str:
        if until is None or until == float("inf") or until <= self.clock.time():
            return reason
        return f"{reason}, until {_clock_time(until)}"

    def _title(self, post: LedgerPost) -> str:
        return self.platforms[post.platform].title


def _changed_media(media: Sequence[Media]) -> str | None:
    """Why an image is no longer the file that was checked when the broadcast was recorded
    (so nothing is sent), or None."""
    from metpost.media import still_the_same

    return next((problem for item in media if (problem := still_the_same(item))), None)


def _posted_perhaps(reason: str, more: str) -> str:
    """``reason``, then that the post may have been posted (unless it says so already) and
    ``more``."""
    if "may have gone out" in reason:
        return and_then(reason, more)
    return and_then(reason, f"may have been posted ({more})")


# Answers that a proxy in front of the platform gives while the platform itself may still be
# working on the request (a bad gateway, unavailable, a gateway timeout).
PROXY_STATUSES = frozenset({502, 503, 504})


def _in_flight_for(client: Platform, error: PublishError) -> float:
    """How long the request that ``error`` answered may still be in the platform's hands: its
    ``in_flight_for`` when no answer came (a timeout, a dropped connection) or a proxy's did;
    nothing when the platform itself answered, since it has then finished with it."""
    if error.maybe_posted and (error.status is None or error.status in PROXY_STATUSES):
        return client.capabilities.in_flight_for
    return 0.0


def _parse_time(recorded: str) -> float:
    """A time the ledger recorded (ISO 8601), as seconds since the epoch."""
    return datetime.fromisoformat(recorded).timestamp()


def _clock_time(moment: float) -> str:
    """A time people read in a message: local HH:MM:SS."""
    return datetime.fromtimestamp(moment, UTC).astimezone().strftime("%H:%M:%S")

