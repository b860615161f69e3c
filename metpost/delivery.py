"""Getting recorded posts onto their platforms: exactly once, concurrently, within a deadline.

For each post the ledger lets this run claim:
- a post whose earlier outcome is unknown is first looked for among the account's recent posts;
  found, it is marked sent; not found, it is sent; if the platform can't be asked, it stays
  unknown and is reported;
- a send that fails in a way that is safe to retry (5xx, 429, no connection) is retried with
  exponential backoff and jitter while the deadline allows; a 429 waits for the platform's reset;
- a send that may have reached the platform without an answer is marked unknown, never resent
  blindly;
- anything else fails at once with the platform's reason.
"""

from __future__ import annotations

import html
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

from metpost import ledger as states
from metpost.attemptlog import AttemptLog
from metpost.ledger import Claim, Ledger, LedgerPost
from metpost.models import (
    ALREADY_SENT,
    BUSY,
    FAILED,
    RETRACTED,
    SENT,
    UNKNOWN,
    Account,
    SendResult,
)
from metpost.platforms.base import Destination, Platform, PublishError, Timeouts
from metpost.plugins import platform_classes
from metpost.secrets import Redactor, resolve_credentials

URL = re.compile(r"https?://\S+")
T = TypeVar("T")
CLOCK_ALLOWANCE = timedelta(minutes=5)


@dataclass(frozen=True)
class DeliveryPolicy:
    """How hard and how fast to try."""

    deadline: float = 60.0  # seconds for the whole broadcast
    concurrency: int = 48  # requests in flight at once, per platform
    timeouts: Timeouts = field(default_factory=Timeouts)
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    reconcile_depth: int = 20  # how many recent posts to search for an unknown one

    @property
    def lease(self) -> float:
        """How long a claim on a post lasts: long enough for the slowest legitimate run."""
        return self.deadline + self.timeouts.connect + self.timeouts.read + 30


def same_text(ours: str, theirs: str) -> bool:
    """Platforms rewrite links (X's t.co), escape &, < and > (X) and fold whitespace; compare
    what is left."""
    def normal(text: str) -> str:
        return " ".join(URL.sub("<link>", html.unescape(text)).split())
    return normal(ours) == normal(theirs)


class Delivery:
    """Delivers one broadcast's claimable posts; one instance per run."""

    def __init__(self, ledger: Ledger, broadcast_id: str, accounts: Mapping[str, Account],
                 environ: Mapping[str, str], policy: DeliveryPolicy,
                 log_path: Path | None = None) -> None:
        self.ledger = ledger
        self.broadcast_id = broadcast_id
        self.accounts = accounts
        self.environ = environ
        self.policy = policy
        self.redact = Redactor()
        for account in accounts.values():
            self.redact.add(resolve_credentials(account, environ)[0].values())
        self.log = AttemptLog(log_path, self.redact)
        self.platforms = platform_classes()
        self._limits: dict[str, threading.Semaphore] = {}
        self._deadline = 0.0

    def run(self, on_result: Callable[[SendResult], None] | None = None) -> list[SendResult]:
        """Claim, deliver and report every post, in the broadcast's order."""
        self._deadline = time.monotonic() + self.policy.deadline
        claims = self.ledger.claim(self.broadcast_id, list(self.accounts), self.policy.lease)
        results = []
        for result in self._fan_out(claims, lambda claim: claim.post.platform, self._handle):
            results.append(result)
            if on_result:
                on_result(result)
        return results

    def retract(self, posts: Sequence[LedgerPost]) -> list[SendResult]:
        """Delete posts from their platforms, concurrently; record each as retracted."""
        return list(self._fan_out(posts, lambda post: post.platform, self._retract_one))

    def _fan_out(self, items: Sequence[T], platform_of: Callable[[T], str],
                 work: Callable[[T], SendResult]) -> Iterator[SendResult]:
        """Run ``work`` on every item concurrently, at most ``concurrency`` per platform (the
        work takes its platform's semaphore); yield the results in the items' order."""
        platforms = {platform_of(item) for item in items}
        self._limits = {name: threading.Semaphore(self.policy.concurrency) for name in platforms}
        workers = max(1, min(len(items), self.policy.concurrency * max(1, len(platforms))))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="metpost") as pool:
            futures = [pool.submit(work, item) for item in items]
            for future in futures:  # in order, each as soon as it and those before are done
                yield future.result()

    def _retract_one(self, post: LedgerPost) -> SendResult:
        account = self.accounts[post.account]
        if post.state == states.RETRACTED:
            return self._result(account, post, RETRACTED)
        started = time.monotonic()
        with self._limits[post.platform]:
            try:
                self._client(account).delete(post.remote_id or "")
            except (PublishError, NotImplementedError) as error:
                reason = self.redact(getattr(error, "reason", str(error)))
                self._log(post, 1, "retract-failed", started, getattr(error, "status", None),
                          reason)
                self.ledger.settle(post.id, states.SENT, error=f"retract failed: {reason}")
                return self._result(account, post, FAILED, error=f"not deleted: {reason}")
        self.ledger.settle(post.id, states.RETRACTED)
        self._log(post, 1, "retracted", started)
        return self._result(account, post, RETRACTED)

    # -- one post ---------------------------------------------------------------------------

    def _handle(self, claim: Claim) -> SendResult:
        post = claim.post
        account = self.accounts[post.account]
        if claim.action == "already":
            return self._result(account, post, ALREADY_SENT)
        if claim.action == "busy":
            return self._result(account, post, BUSY,
                                error="another metpost run is sending this post now")
        with self._limits[post.platform]:
            client = self._client(account)
            if claim.action == "reconcile":
                found = self._reconcile(client, account, post)
                if found is not None:
                    return found
            return self._send(client, account, post)

    def _client(self, account: Account) -> Platform:
        credentials, _ = resolve_credentials(account, self.environ)
        destination = Destination(account=account.name, handle=account.handle,
                                  settings=account.settings, credentials=credentials,
                                  api_url=account.api_url, timeouts=self.policy.timeouts)
        return self.platforms[account.platform](destination)

    def _reconcile(self, client: Platform, account: Account,
                   post: LedgerPost) -> SendResult | None:
        """Look for an earlier attempt on the platform. None means: not there, send it."""
        started = time.monotonic()
        try:
            recent = client.recent_posts(self.policy.reconcile_depth)
        except (PublishError, NotImplementedError) as error:
            reason = self.redact(getattr(error, "reason", str(error)))
            message = f"may have been posted; could not check: {reason}"
            self.ledger.settle(post.id, states.UNKNOWN, error=message)
            self._log(post, 0, "reconcile-failed", started, error=reason)
            return self._result(account, post, UNKNOWN, error=message)
        # Only a post made since this one was recorded can be it: the same text may have gone
        # out in an earlier broadcast (clocks may differ a little, hence the allowance).
        since = datetime.fromisoformat(post.created_at) - CLOCK_ALLOWANCE
        match = next((item for item in recent if same_text(post.text, item.text)
                      and (item.created_at is None or item.created_at >= since)), None)
        self._log(post, 0, "reconciled-found" if match else "reconciled-absent", started)
        if match is None:
            return None
        self.ledger.settle(post.id, states.SENT, remote_id=match.remote_id, url=match.url)
        return self._result(account, post, ALREADY_SENT, remote_id=match.remote_id,
                            url=match.url)

    def _send(self, client: Platform, account: Account, post: LedgerPost) -> SendResult:
        attempt = 0
        while True:
            attempt += 1
            self.ledger.count_attempt(post.id)
            started = time.monotonic()
            try:
                receipt = client.publish(post.text)
            except PublishError as error:
                reason = self.redact(error.reason)
                if error.maybe_posted:
                    self.ledger.settle(post.id, states.UNKNOWN, error=reason)
                    self._log(post, attempt, "unknown", started, error.status, reason)
                    return self._result(account, post, UNKNOWN, error=reason)
                wait = self._wait_before_retry(error, attempt) if error.retry_safe else None
                if wait is None:
                    if error.retry_safe:
                        reason = self._gave_up(error, account, reason)
                    self.ledger.settle(post.id, states.FAILED, error=reason)
                    self._log(post, attempt, "failed", started, error.status, reason)
                    return self._result(account, post, FAILED, error=reason)
                self._log(post, attempt, "retry", started, error.status, reason)
                time.sleep(wait)
                continue
            self.ledger.settle(post.id, states.SENT, remote_id=receipt.remote_id,
                               url=receipt.url)
            self._log(post, attempt, "sent", started, None)
            return self._result(account, post, SENT, remote_id=receipt.remote_id,
                                url=receipt.url)

    def _wait_before_retry(self, error: PublishError, attempt: int) -> float | None:
        """Seconds to wait before the next try, or None when the deadline does not allow it."""
        if error.retry_at is not None:
            wait = max(0.0, error.retry_at - time.time())
        else:
            ceiling = min(self.policy.backoff_cap, self.policy.backoff_base * 2 ** (attempt - 1))
            wait = random.uniform(ceiling / 2, ceiling)
        if time.monotonic() + wait >= self._deadline:
            return None
        return wait

    def _gave_up(self, error: PublishError, account: Account, reason: str) -> str:
        platform = self.platforms[account.platform].title
        who = account.handle or account.name
        if error.retry_at is not None and error.retry_at > time.time():
            until = datetime.fromtimestamp(error.retry_at).strftime("%H:%M:%S")
            return f"rate limited until {until} ({platform}, {who})"
        return f"{reason} (gave up after the {self.policy.deadline:g}s deadline)"

    def _log(self, post: LedgerPost, attempt: int, outcome: str, started: float,
             status: int | None = None, error: str | None = None) -> None:
        self.log.write(broadcast=self.broadcast_id, account=post.account,
                       platform=post.platform, attempt=attempt, outcome=outcome,
                       status=status, latency_ms=round((time.monotonic() - started) * 1000),
                       error=error)

    def _result(self, account: Account, post: LedgerPost, status: str,
                **fields: str | None) -> SendResult:
        current = self.ledger.post(post.id)
        values = {"remote_id": current.remote_id, "url": current.url,
                  "error": current.error if status not in (SENT, ALREADY_SENT) else None}
        values.update(fields)
        return SendResult(account=account, text=post.text, status=status,
                          attempts=current.attempts, **values)
