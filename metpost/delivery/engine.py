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
  not on its platform, the repost fails without a request and a rerun makes it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import TypeVar

from metpost.attemptlog import AttemptLog
from metpost.delivery import reconcile
from metpost.delivery.fanout import fan_out
from metpost.delivery.holds import Holds
from metpost.delivery.policy import Clock, DeliveryPolicy, SystemClock
from metpost.ledger import Claim, Ledger, LedgerError, LedgerPost
from metpost.models import Account, SendResult
from metpost.platforms.api import (
    Destination,
    Platform,
    PostRequest,
    PublishError,
    Receipt,
    RemotePost,
)
from metpost.plugins import platform_classes
from metpost.secrets import REDACT, resolve_credentials
from metpost.status import PostStatus

T = TypeVar("T")
DUPLICATE_LOOKBACK = 86400.0  # seconds: how far back a duplicate refusal's original is sought
RETRACTED_HINT = "retracted earlier; send again with --again to post it anew"


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
        self._clients: dict[str, Platform] = {}
        self._clients_lock = threading.Lock()
        self._active: set[int] = set()  # claimed post ids this run still works on
        self._active_lock = threading.Lock()
        self._deadline = 0.0
        self._halted = threading.Event()  # set when the ledger fails: start nothing new

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
        phases = [[claim for claim in claims if not claim.post.repost_of],
                  [claim for claim in claims if claim.post.repost_of]]
        done: dict[int, SendResult] = {}
        with self._heartbeat():
            for phase in phases:
                finished = fan_out(phase, lambda claim: claim.post.platform, self._deliver,
                                   self.policy.concurrency)
                for claim, result in zip(phase, finished, strict=True):
                    done[claim.post.id] = result
                    if on_result:
                        on_result(result)
        self._close_clients()
        return [done[claim.post.id] for claim in claims]

    def retract(self, posts: Sequence[LedgerPost]) -> list[SendResult]:
        """Delete posts from their platforms, concurrently; record each gone one as retracted."""
        self._deadline = self.clock.monotonic() + self.policy.deadline
        results = list(fan_out(posts, lambda post: post.platform, self._retract_one,
                               self.policy.concurrency))
        self._close_clients()
        return results

    def _heartbeat(self) -> _Heartbeat:
        return _Heartbeat(self)

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
            self._release_client(account)

    def _deliver_claimed(self, claim: Claim, account: Account) -> SendResult:
        post = claim.post
        if claim.action == "already":
            if post.state == PostStatus.RETRACTED:
                return self._result(account, post, PostStatus.RETRACTED, error=RETRACTED_HINT)
            return self._result(account, post, PostStatus.ALREADY_SENT)
        if claim.action == "busy":
            return self._result(account, post, PostStatus.BUSY,
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
            return self._result(account, post, state, error=reason)

    def _work(self, claim: Claim, account: Account) -> SendResult:
        post = claim.post
        if self._stopping():
            return self._not_sent(account, post)
        try:
            client = self._client(account)
        except Exception as error:
            reason = REDACT(f"cannot set up the {self._title(post)} client: {error}")
            self.ledger.settle(post.id, PostStatus.FAILED, error=reason)
            return self._result(account, post, PostStatus.FAILED, error=reason)
        request = PostRequest(text=post.text, idempotency_key=post.idempotency_key,
                              first_attempt_at=post.first_attempt_at)
        never_tried = post.first_attempt_at is None and post.attempts == 0
        if post.repost_of:
            source = self._reposted(post)
            if not isinstance(source, LedgerPost):
                # Nothing was sent: a rerun (or metpost retry) reposts once the source is out.
                self.ledger.settle(post.id, PostStatus.FAILED, error=source)
                return self._result(account, post, PostStatus.FAILED, error=source)
            request = replace(request, repost_of=Receipt(remote_id=source.remote_id or "",
                                                         url=source.url))
        if claim.action == "reconcile" and not never_tried and not self._idempotent(
                client, post.first_attempt_at):
            looked = self._look(client, post, request)
            if isinstance(looked, reconcile.Found):
                return self._result(account, post, PostStatus.ALREADY_SENT)
            if isinstance(looked, reconcile.Unreadable):
                return self._unknown(account, post,
                                     f"may have been posted; could not check: {looked.reason}")
        # A post whose earlier outcome is unknown, on a platform that takes a resend for a
        # no-op, is resent without looking: it may exist all along.
        resent_unseen = claim.action == "reconcile" and not never_tried and self._idempotent(
            client, post.first_attempt_at)
        return self._send(client, account, post, request, may_exist=resent_unseen)

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

    def _send(self, client: Platform, account: Account, post: LedgerPost,
              request: PostRequest, *, may_exist: bool = False) -> SendResult:
        attempt = 0
        hold_keys = [f"{account.platform}:{account.name}", *client.throttle_keys()]
        while True:
            if self._stopping():
                return self._not_sent(account, post)
            hold = self.holds.longest(hold_keys, self.clock.time())
            if hold is not None:
                if not hold.retryable or not self._can_wait_until(hold.until):
                    return self._give_up(may_exist, account, post,
                                         self._until(hold.reason, hold.until), attempt)
                if self.clock.wait(hold.until - self.clock.time(), self.stop):
                    return self._not_sent(account, post)
            first_attempt_at = self.ledger.begin_attempt(post.id, self.policy.lease)
            if first_attempt_at is None:
                return self._result(account, post, PostStatus.BUSY,
                                    error="another metpost run took this post over")
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
                    self._log(post, attempt, "maybe-posted" if error.maybe_posted else
                              "duplicate", started, error.status, reason)
                    settled = self._after_maybe_posted(client, account, post, request, error,
                                                       reason, attempt)
                    if settled is not None:
                        return settled
                    # Resent unseen (an idempotent platform) rather than found absent.
                    may_exist = may_exist or (error.maybe_posted and self._idempotent(
                        client, request.first_attempt_at))
                    continue
                if error.retry_safe:
                    if wait is None:
                        return self._give_up(may_exist, account, post,
                                             self._gave_up(error, account, reason), attempt,
                                             started, error.status, error)
                    self._log(post, attempt, "retry", started, error.status, reason)
                    if self.clock.wait(wait, self.stop):
                        if may_exist:
                            return self._unknown(account, post, _then(
                                reason, "may have been posted (interrupted before the resend)"))
                        return self._not_sent(account, post, tried=True)
                    continue
                return self._give_up(may_exist, account, post,
                                     self._until(reason, error.retry_at), attempt, started,
                                     error.status, error)
            self.ledger.settle(post.id, PostStatus.SENT, remote_id=receipt.remote_id,
                               url=receipt.url)
            self._log(post, attempt, "sent", started)
            return self._result(account, post, PostStatus.SENT)

    def _after_maybe_posted(self, client: Platform, account: Account, post: LedgerPost,
                            request: PostRequest, error: PublishError, reason: str,
                            attempt: int) -> SendResult | None:
        """The post may exist: find it, or say why not. None means: absent, send again."""
        capabilities = client.capabilities
        if error.maybe_posted and self._idempotent(client, request.first_attempt_at):
            wait = self._retry_wait(error, attempt)
            if wait is None:
                return self._unknown(account, post, _then(
                    reason, "may have been posted (a rerun resends it with the same "
                    "idempotency key, which cannot post twice)"))
            if self.clock.wait(wait, self.stop):
                return self._unknown(account, post, _then(
                    reason, "may have been posted (interrupted before the resend)"))
            return None
        if not capabilities.can_list_recent:
            return self._unknown(account, post, _then(
                reason, f"may have been posted, and {self._title(post)} cannot list posts to "
                "check"))
        # Give the platform a moment to list what it made, then look.
        wait = self._retry_wait(error, attempt)
        if wait is not None and self.clock.wait(wait, self.stop):
            return self._unknown(account, post, _then(
                reason, "may have been posted (interrupted before it could be checked)"))
        looked = self._look(client, post, request, further_back=error.duplicate)
        if isinstance(looked, reconcile.Found):
            return self._result(account, post, PostStatus.SENT)
        if isinstance(looked, reconcile.Unreadable):
            return self._unknown(account, post, _then(
                reason, f"may have been posted; could not check: {looked.reason}"))
        if error.duplicate and looked.lookalike is not None:
            where = looked.lookalike.url or looked.lookalike.remote_id
            return self._fail(account, post, _then(
                reason, f"the same text is already live there as {where}"), attempt,
                cause=error)
        if error.duplicate:
            return self._unknown(account, post, _then(
                reason, "no post with this text was found on the account to confirm it; look "
                "at the account"))
        if wait is None:
            return self._unknown(account, post, _then(
                reason, "may have been posted; not found yet, and the deadline leaves no time "
                "to resend; a rerun checks again"))
        return None

    def _look(self, client: Platform, post: LedgerPost, request: PostRequest, *,
              further_back: bool = False) -> reconcile.Search:
        """Search the platform for ``post`` and adopt it when found. ``further_back``: list a
        day before the first attempt too, to name the post a duplicate refusal was about."""
        current = self.ledger.post(post.id)
        first = current.first_attempt_at or datetime.fromisoformat(
            current.created_at).timestamp()
        since = reconcile.search_from(first, self.policy.clock_allowance)
        list_from = reconcile.search_from(first, DUPLICATE_LOOKBACK) if further_back else None
        started = self.clock.monotonic()

        def adopt(found: RemotePost) -> bool:
            return self.ledger.adopt(post.id, found.remote_id, found.url)

        def owned(remote_ids: list[str]) -> set[str]:
            mine = {current.remote_id} if current.remote_id else set()
            return self.ledger.owned_remote_ids(post.platform, remote_ids) - mine

        looked = reconcile.search(client, request, since, self.policy.reconcile_depth,
                                  owned, adopt, list_from=list_from)
        outcome = {reconcile.Found: "reconciled-found", reconcile.Absent: "reconciled-absent",
                   reconcile.Unreadable: "reconcile-failed"}[type(looked)]
        reason = REDACT(looked.reason) if isinstance(looked, reconcile.Unreadable) else None
        self._log(post, 0, outcome, started, error=reason)
        return looked

    # -- retract ------------------------------------------------------------------------------

    def _retract_one(self, post: LedgerPost) -> SendResult:
        account = self.accounts[post.account]
        if post.state == PostStatus.RETRACTED:
            return self._result(account, post, PostStatus.RETRACTED)
        started = self.clock.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                client = self._client(account)
                self._guarded(partial(client.delete, post.remote_id or ""), maybe_posted=False)
            except PublishError as error:
                reason = REDACT(error.reason)
                wait = self._retry_wait(error, attempt) if error.retry_safe else None
                if wait is not None and not self.clock.wait(wait, self.stop):
                    continue
                self._log(post, attempt, "retract-failed", started, error.status, reason)
                self.ledger.settle(post.id, PostStatus.SENT, error=f"retract failed: {reason}")
                return self._result(account, post, PostStatus.FAILED,
                                    error=f"not deleted: {reason}")
            self.ledger.settle(post.id, PostStatus.RETRACTED)
            self._log(post, attempt, "retracted", started)
            return self._result(account, post, PostStatus.RETRACTED)

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

    def _client(self, account: Account) -> Platform:
        """The one client of ``account`` for this run."""
        with self._clients_lock:
            client = self._clients.get(account.name)
            if client is None:
                credentials, _ = resolve_credentials(account, self.environ)
                destination = Destination(account=account.name, handle=account.handle,
                                          settings=account.settings, credentials=credentials,
                                          api_url=account.api_url,
                                          timeouts=self.policy.timeouts)
                client = self.platforms[account.platform](destination)
                self._clients[account.name] = client
            return client

    def _release_client(self, account: Account) -> None:
        with self._clients_lock:
            client = self._clients.pop(account.name, None)
        if client is not None:
            with contextlib.suppress(Exception):  # best effort: the post is settled
                client.close()

    def _close_clients(self) -> None:
        for client in self._clients.values():
            with contextlib.suppress(Exception):  # best effort: the run is over either way
                client.close()

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

    def _retry_wait(self, error: PublishError, attempt: int) -> float | None:
        """Seconds to wait before the next try, or None when the deadline does not allow it."""
        if error.retry_at is not None:
            wait = max(0.0, error.retry_at - self.clock.time())
        else:
            wait = self.policy.backoff(attempt)
        if self.clock.monotonic() + wait >= self._deadline:
            return None
        return wait

    def _gave_up(self, error: PublishError, account: Account, reason: str) -> str:
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

    def _fail(self, account: Account, post: LedgerPost, reason: str, attempt: int,
              started: float | None = None, status: int | None = None,
              cause: PublishError | None = None) -> SendResult:
        self.ledger.settle(post.id, PostStatus.FAILED, error=reason)
        self._log(post, attempt, "failed", started, status, reason)
        result = self._result(account, post, PostStatus.FAILED)
        if cause is None:
            return result
        return replace(result, problem=cause.problem, permission=cause.permission)

    def _give_up(self, may_exist: bool, account: Account, post: LedgerPost, reason: str,
                 attempt: int, started: float | None = None, status: int | None = None,
                 cause: PublishError | None = None) -> SendResult:
        """The post could not be sent now: failed, or unknown when an earlier attempt may have
        made it (an idempotent resend was under way), so that a rerun checks before sending."""
        if may_exist:
            return self._unknown(account, post, _then(
                reason, "an earlier attempt may have posted it (a rerun resends it with the same "
                "idempotency key, which cannot post twice)"))
        return self._fail(account, post, reason, attempt, started, status, cause)

    def _unknown(self, account: Account, post: LedgerPost, reason: str) -> SendResult:
        self.ledger.settle(post.id, PostStatus.UNKNOWN, error=reason)
        self._log(post, 0, "unknown", None, None, reason)
        return self._result(account, post, PostStatus.UNKNOWN)

    def _not_sent(self, account: Account, post: LedgerPost, *, tried: bool = False) -> SendResult:
        """Interrupted before this post's request: give it back for the next run."""
        if tried:  # this run's requests failed in ways that posted nothing
            back = PostStatus.FAILED
        elif post.state == PostStatus.SENDING:  # a dead run's claim: unknown if it tried
            back = PostStatus.UNKNOWN if post.attempts else PostStatus.PENDING
        else:
            back = post.state
        self.ledger.release(post.id, back)
        return self._result(account, post, PostStatus.NOT_SENT,
                            error="not sent: the run was interrupted; a rerun sends it")

    def _log(self, post: LedgerPost, attempt: int, outcome: str, started: float | None,
             status: int | None = None, error: str | None = None) -> None:
        latency = None if started is None else round((self.clock.monotonic() - started) * 1000)
        self.log.write(broadcast=self.broadcast_id, account=post.account,
                       platform=post.platform, attempt=attempt, outcome=outcome,
                       status=status, latency_ms=latency, error=error)

    def _result(self, account: Account, post: LedgerPost, status: PostStatus,
                error: str | None = None) -> SendResult:
        current = self.ledger.post(post.id)
        shown_error = error if error is not None else (
            None if status.delivered else current.error)
        return SendResult(account=account, text=current.text, status=status,
                          remote_id=current.remote_id, url=current.url, error=shown_error,
                          attempts=current.attempts)


def _clause(reason: str) -> str:
    """A platform's sentence made ready to be continued after a semicolon."""
    return reason.rstrip(" .")


def _then(reason: str, more: str) -> str:
    return f"{_clause(reason)}; {more}"


def _clock_time(moment: float) -> str:
    """A time people read in a message: local HH:MM:SS."""
    return datetime.fromtimestamp(moment, UTC).astimezone().strftime("%H:%M:%S")


class _Heartbeat:
    """Renews a delivery's claims in the background while the run lives."""

    def __init__(self, delivery: Delivery) -> None:
        self.delivery = delivery
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="metpost-heartbeat",
                                        daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._done.wait(self.delivery.policy.heartbeat):
            try:
                self.delivery.renew_claims()
            except Exception:  # a missed beat is caught by the check before publish
                continue

