"""A broadcast recorded and delivered: record → claim → deliver → report, and the runs that
finish or undo one later (retry, retract).

``metpost.broadcast.prepare`` builds and checks what is sent here. The delivery engine and the
audit trail are imported inside the functions that deliver, so that a dry run, which needs
only ``metpost.broadcast``, starts without them.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from metpost.destinations import local_problems
from metpost.errors import EXIT_OK, EXIT_SOME_FAILED, CheckFailed, MetpostError
from metpost.models import Account, Config, SendResult
from metpost.plugins import platform_classes
from metpost.secrets import credential_problems, resolve_credentials
from metpost.status import PostStatus
from metpost.suggest import did_you_mean

if TYPE_CHECKING:
    from metpost.attemptlog import AttemptLog
    from metpost.audit import AuditContext
    from metpost.broadcast import Broadcast
    from metpost.delivery.policy import Clock, DeliveryPolicy
    from metpost.ledger import Ledger
    from metpost.ledger.records import BroadcastRecord, LedgerPost, PlannedPost
    from metpost.plans import Plan


def idempotency_keys(broadcast: Broadcast, explicit_key: str | None,
                     again: bool) -> tuple[str, list[PlannedPost]]:
    """The broadcast's key (see ``broadcast_key``) and its posts, each with its own key."""
    from metpost.destinations import destination_record
    from metpost.ledger.records import PlannedPost

    key = broadcast_key(broadcast, explicit_key, again)
    planned = [
        PlannedPost(account=post.account.name, platform=post.account.platform,
                    handle=post.account.handle, text=post.text,
                    idempotency_key=post_key(key, post.account.name), repost_of=post.repost_of,
                    parts=tuple(part.text for part in post.parts), media=post.media,
                    destination=destination_record(post.account))
        for post in broadcast.posts
    ]
    return key, planned


def broadcast_key(broadcast: Broadcast, explicit_key: str | None, again: bool) -> str:
    """The key that finds this broadcast in the ledger.

    Without ``--key`` the key is derived from the accounts and their texts, so re-running the
    identical send finds the same broadcast and posts nothing new. ``--key`` names the broadcast
    outright (a scheduler passes its slot), so a rerun matches even if ``now`` renders anew.
    ``--again`` makes a fresh key on purpose.
    """
    if explicit_key:
        base = "key:" + explicit_key
    else:
        base = "text:" + json.dumps(sorted((p.account.name, p.text) for p in broadcast.posts))
        if any(post.repost_of for post in broadcast.posts):  # reposting is another broadcast
            base += ":reposts:" + json.dumps(sorted((p.account.name, p.repost_of or "")
                                                    for p in broadcast.posts))
        if any(post.media for post in broadcast.posts):  # other images: another broadcast
            base += ":media:" + json.dumps(sorted(
                (p.account.name, [(m.sha256, m.alt_text) for m in p.media])
                for p in broadcast.posts))
    if again:
        base += ":again:" + uuid.uuid4().hex
    return hashlib.sha256(base.encode()).hexdigest()


def post_key(broadcast_key: str, account: str) -> str:
    """The idempotency key of ``account``'s post in the broadcast keyed ``broadcast_key``."""
    return hashlib.sha256(f"{broadcast_key}\0{account}".encode()).hexdigest()


def plan_keys(plan: Plan) -> tuple[str, list[PlannedPost]]:
    """The broadcast key of an applied plan and its posts, exactly as the plan has them.

    The key comes from the plan's content digest (or the ``--key`` it was planned with), so
    applying it again finds the same broadcast and posts nothing twice."""
    from metpost.ledger.records import PlannedPost

    base = "key:" + plan.key if plan.key else "plan:" + plan.digest
    key = hashlib.sha256(base.encode()).hexdigest()
    return key, [PlannedPost(account=post.account, platform=post.platform, handle=post.handle,
                             text=post.text, idempotency_key=post_key(key, post.account),
                             repost_of=post.repost_of, parts=post.parts,
                             media=tuple(image.media() for image in post.images),
                             destination=post.destination)
                 for post in plan.posts]


@dataclass(frozen=True)
class RecordedProgress:
    """How far an identical (or identically keyed) broadcast got before this run."""

    record: BroadcastRecord
    states: Mapping[str, PostStatus]  # account -> its post's state in the ledger
    withdrawn: frozenset[str] = frozenset()  # accounts whose post a retract took back

    def owed(self, accounts: Sequence[str]) -> list[str]:
        """The accounts among ``accounts`` whose post is not on its platform (nor retracted,
        nor withdrawn)."""
        done = (PostStatus.SENT, PostStatus.RETRACTED)
        return [name for name in accounts
                if self.states.get(name) not in done and name not in self.withdrawn]

    def retracted(self, accounts: Sequence[str]) -> list[str]:
        """The accounts among ``accounts`` whose post was retracted (or withdrawn)."""
        return [name for name in accounts if self.states.get(name) == PostStatus.RETRACTED
                or name in self.withdrawn]


def recorded_progress(broadcast: Broadcast, ledger: Ledger, key: str | None,
                      again: bool) -> RecordedProgress | None:
    """What the ledger already holds of this broadcast (None if it is new, or ``again``)."""
    if again:
        return None
    record = ledger.broadcast_by_key(broadcast_key(broadcast, key, again=False))
    if record is None:
        return None
    posts = ledger.posts(record.id)
    return RecordedProgress(record, {post.account: post.state for post in posts},
                            frozenset(post.account for post in posts if post.withdrawn_at))


@dataclass(frozen=True)
class RunOutcome:
    """What a send, retry or retract did: the broadcast, each post's result, and notes for the
    person (such as a keyed rerun finishing its recorded text)."""

    broadcast_id: str
    results: tuple[SendResult, ...]
    notes: tuple[str, ...] = ()
    interrupted: bool = False


def _default_policy() -> DeliveryPolicy:
    from metpost.delivery.policy import DeliveryPolicy

    return DeliveryPolicy()


@dataclass(frozen=True)
class RunControl:
    """How a run is driven: its limits, log, clock, and the event that asks it to stop."""

    policy: DeliveryPolicy = field(default_factory=_default_policy)
    log_path: Path | None = None
    clock: Clock | None = None
    stop: threading.Event | None = None
    on_result: Callable[[SendResult], None] | None = None


def send(broadcast: Broadcast, ledger: Ledger, environ: Mapping[str, str], *,
         control: RunControl | None = None, key: str | None = None,
         again: bool = False, audit: AuditContext | None = None) -> RunOutcome:
    """Record a ready broadcast in the ledger and deliver it.

    A rerun with the same ``key`` finishes the broadcast as it was recorded: an account's post
    keeps its recorded text even if the template now renders differently (a note says so).
    A ``key`` a person gave is checked first with ``refuse_a_plans_key`` (``metpost send``
    does, before it says what a rerun will do); a schedule slot's key is never a plan's.
    ``audit`` says who sends it and under what approval (by default: the OS user).
    """
    from metpost.attemptlog import AttemptLog
    from metpost.audit import AuditContext

    if not broadcast.ready:  # prepare() reports why; publishing half a broadcast is never right
        raise ValueError("send() needs a broadcast whose every post is ready")
    control = control or RunControl()
    log = AttemptLog(control.log_path)  # a bad path stops us before anything is recorded
    recorded_key, planned = idempotency_keys(broadcast, key, again)
    broadcast_id = ledger.record_broadcast(recorded_key, broadcast.template.name, planned,
                                           label=key, public_safety=broadcast.public_safety)
    recorded = {post.account: post.text for post in ledger.posts(broadcast_id)}
    differ = [post.account.name for post in broadcast.posts
              if recorded.get(post.account.name, post.text) != post.text]
    notes = []
    if differ:
        names = ", ".join(differ[:3]) + (f" and {len(differ) - 3} more" if len(differ) > 3
                                         else "")
        notes.append(f"broadcast {broadcast_id} (--key {key}) was recorded with other text for "
                     f"{len(differ)} account{'s' if len(differ) != 1 else ''} ({names}); it is "
                     "finished with the recorded text. To send the new text, use a new --key "
                     "or --again.")
    if key:  # without --key, other images are another broadcast
        notes.extend(_other_images_note(ledger, broadcast_id, broadcast, key))
    accounts = {post.account.name: post.account for post in broadcast.posts}
    audit = replace(audit or AuditContext(), source=broadcast.template.name)
    return _deliver(ledger, broadcast_id, accounts, environ, control, log, tuple(notes),
                    audit=audit)


def refuse_a_plans_key(ledger: Ledger, key: str) -> None:
    """Refuse (CheckFailed) a send whose ``key`` names a broadcast that applying an approved
    plan began: it holds exactly the plan's posts, and a send may not add to it."""
    from metpost.audit import EventKind, Outcome

    record = ledger.broadcast_labelled(key)
    if record is None:
        return
    for event in ledger.events(since=record.created_at):
        if (event.broadcast_id == record.id and event.kind == EventKind.APPLY
                and event.outcome == Outcome.STARTED and event.plan_id):
            raise CheckFailed(f"--key {key} names broadcast {record.id}, which the approved "
                              f"plan {event.plan_id[:12]} began; finish it with metpost apply "
                              "and that plan's file, or give this send a new --key",
                              "nothing was sent")


def send_planned(ledger: Ledger, key: str, posts: Sequence[PlannedPost],
                 accounts: Mapping[str, Account], environ: Mapping[str, str], *, source: str,
                 label: str | None, public_safety: bool, control: RunControl | None = None,
                 audit: AuditContext | None = None) -> RunOutcome:
    """Record posts exactly as given (an approved plan's) and deliver them, as ``send`` does
    a rendered broadcast: a rerun with the same ``key`` posts nothing twice."""
    from metpost.attemptlog import AttemptLog
    from metpost.audit import AuditContext, EventKind

    control = control or RunControl()
    log = AttemptLog(control.log_path)
    broadcast_id = ledger.record_broadcast(key, source, posts, label=label,
                                           public_safety=public_safety)
    audit = replace(audit or AuditContext(kind=EventKind.APPLY), source=source)
    return _deliver(ledger, broadcast_id, accounts, environ, control, log, audit=audit)


def _other_images_note(ledger: Ledger, broadcast_id: str, broadcast: Broadcast,
                       key: str) -> list[str]:
    """A keyed rerun whose images are not those recorded: it finishes with the recorded ones,
    and says so."""
    keys = {post.account: post.idempotency_key for post in ledger.posts(broadcast_id)}
    recorded = ledger.broadcast_media(broadcast_id)
    differ = [post.account.name for post in broadcast.posts
              if post.account.name in keys and [(m.sha256, m.alt_text) for m in post.media]
              != [(m.sha256, m.alt_text) for m in recorded.get(keys[post.account.name], ())]]
    if not differ:
        return []
    names = ", ".join(differ[:3]) + (f" and {len(differ) - 3} more" if len(differ) > 3 else "")
    return [f"broadcast {broadcast_id} (--key {key}) was recorded with other images for "
            f"{len(differ)} account{'s' if len(differ) != 1 else ''} ({names}); it is finished "
            "with the recorded images. To send the new ones, use a new --key or --again."]


def _deliver(ledger: Ledger, broadcast_id: str, accounts: Mapping[str, Account],
             environ: Mapping[str, str], control: RunControl, log: AttemptLog,
             notes: tuple[str, ...] = (), *, audit: AuditContext) -> RunOutcome:
    """Deliver what is still owed of a recorded broadcast to ``accounts``; the audit trail
    says who began it before the first request, and how it ended after the last."""
    from metpost.audit import Outcome
    from metpost.delivery.engine import Delivery

    stop = control.stop or threading.Event()
    names = list(accounts)
    try:
        ledger.record_event(audit.event(Outcome.STARTED, broadcast_id=broadcast_id,
                                        accounts=names))
    except BaseException:
        log.close()
        raise
    delivery = Delivery(ledger, broadcast_id, accounts, environ, control.policy, log,
                        control.clock, stop)
    try:
        results = delivery.run(control.on_result)
    finally:
        log.close()
    notes += _audit_end(ledger, audit, broadcast_id, names, results, stop.is_set())
    return RunOutcome(broadcast_id=broadcast_id, results=tuple(results), notes=notes,
                      interrupted=stop.is_set())


def _audit_end(ledger: Ledger, audit: AuditContext, broadcast_id: str, accounts: list[str],
               results: Sequence[SendResult], interrupted: bool, *,
               retract: bool = False) -> tuple[str, ...]:
    """Record how a run ended; if the ledger cannot take it, say so (what was sent is
    reported all the same, and the trail still shows who began the run)."""
    from metpost.audit import run_outcome
    from metpost.ledger.records import LedgerError

    outcome, detail = run_outcome(results, interrupted, retract=retract)
    try:
        ledger.record_event(audit.event(outcome, broadcast_id=broadcast_id, accounts=accounts,
                                        detail=detail))
    except LedgerError as error:
        return (f"the audit trail could not record how this run ended: {error}",)
    return ()


@dataclass(frozen=True)
class _Purpose:
    """What a retry or retract would do with an account's post, for the refusals that stop
    it: ``to`` completes "... to", ``otherwise`` is the other way out, ``outcome`` completes
    "nothing was ..."; ``{account}`` in them is the account's name."""

    to: str
    otherwise: str
    outcome: str


RETRY = _Purpose(to="finish its post", outcome="sent",
                 otherwise="or send the message to it alone as a new broadcast (metpost send "
                           "--account {account} ... --again)")
RETRACT = _Purpose(to="delete its post", outcome="deleted",
                   otherwise="or leave it out with --account (its post stays where it is)")


def _accounts_for(config: Config, record: BroadcastRecord, posts: Sequence[LedgerPost],
                  environ: Mapping[str, str], *, to_touch: Sequence[LedgerPost],
                  purpose: _Purpose) -> dict[str, Account]:
    """The config's accounts behind recorded posts; every one must still exist, and those of
    ``to_touch`` (the posts a request will be made about) must be live, post where they
    posted when the broadcast was recorded, and have their secrets set."""
    by_name = {account.name: account for account in config.accounts}
    gone = sorted({post.account for post in posts} - set(by_name))
    problems = [f"account '{name}' is no longer in {config.path}; restore it first"
                for name in gone]
    touched = [post for post in to_touch if post.account in by_name]
    problems.extend(problem for post in touched if (problem := _not_as_recorded(
        config, record, post, by_name[post.account], purpose)))
    unset = sorted({var for post in touched
                    for var in resolve_credentials(by_name[post.account], environ)[1]})
    if unset:
        problems.append(f"credentials not set in the environment: {', '.join(unset)}")
    problems.extend(f"{post.account}: {problem}" for post in touched
                    for problem in (*credential_problems(by_name[post.account], environ),
                                    *local_problems(by_name[post.account])))
    if problems:
        raise CheckFailed(*problems, f"nothing was {purpose.outcome}")
    return {post.account: by_name[post.account] for post in posts}


def _not_as_recorded(config: Config, record: BroadcastRecord, post: LedgerPost,
                     account: Account, purpose: _Purpose) -> str | None:
    """Why ``account`` may not be used for its recorded ``post`` now: it posts elsewhere than
    when the broadcast was recorded (another platform, handle, api_url, page, receiver or
    file; a post recorded before metpost kept its destination is compared on its platform
    and handle), or it is not live. None when it may."""
    from metpost.destinations import destination_changes

    where = f"{config.path}:{account.line}"
    changes = destination_changes(post.platform, post.handle, post.destination, account)
    if changes:
        return (f"account '{account.name}' posts elsewhere now than when broadcast {record.id} "
                f"was recorded ({where}): {', '.join(changes)}; put it back as it was to "
                f"{purpose.to}, {purpose.otherwise.format(account=account.name)}")
    if not account.live:
        return (f"account '{account.name}' is {account.status} ({where}); set its status: "
                f"live to {purpose.to}, {purpose.otherwise.format(account=account.name)}")
    return None


def still_owed(posts: Sequence[LedgerPost]) -> list[LedgerPost]:
    """The posts a retry sends (or looks for first): not on their platform, not retracted,
    and not withdrawn by a retract."""
    return [post for post in posts if post.state not in (PostStatus.SENT, PostStatus.RETRACTED)
            and not post.withdrawn_at]


def retry(config: Config, ledger: Ledger, reference: str, environ: Mapping[str, str], *,
          control: RunControl | None = None, audit: AuditContext | None = None) -> RunOutcome:
    """Re-deliver a broadcast's failed and unknown posts (reconciling unknown ones first);
    posts a retract withdrew are reported, never sent."""
    from metpost.attemptlog import AttemptLog
    from metpost.audit import AuditContext, EventKind

    control = control or RunControl()
    log = AttemptLog(control.log_path)
    record = ledger.find_broadcast(reference)
    posts = ledger.posts(record.id)
    accounts = _accounts_for(config, record, posts, environ, to_touch=still_owed(posts),
                             purpose=RETRY)
    audit = replace(audit or AuditContext(), kind=EventKind.RETRY, source=record.source)
    return _deliver(ledger, record.id, accounts, environ, control, log, audit=audit)


def exit_code_for(results: Sequence[SendResult]) -> int:
    """0 when every post is on its platform, else 1."""
    return EXIT_OK if all(result.delivered for result in results) else EXIT_SOME_FAILED


def retractable(config: Config, ledger: Ledger, reference: str, account_names: Sequence[str],
                environ: Mapping[str, str]
                ) -> tuple[BroadcastRecord, list[LedgerPost], dict[str, Account]]:
    """The broadcast, its posts (optionally only some accounts'), and their accounts; raises
    if any post that is out, or may be, cannot be deleted. Posts not sent are withdrawn by
    ``retract_posts`` without a request, so their accounts need not be usable."""
    from metpost.ledger.records import retract_action

    record = ledger.find_broadcast(reference)
    posts = ledger.posts(record.id)
    if account_names:
        known = {post.account for post in posts}
        unknown = [name for name in account_names if name not in known]
        if unknown:
            raise MetpostError(*(f"broadcast {record.id} has no post for account '{name}'"
                                 f"{did_you_mean(name, known)}" for name in unknown))
        posts = [post for post in posts if post.account in account_names]
    threads = ledger.broadcast_parts(record.id)
    actions = {post.id: retract_action(post, threads.get(post.idempotency_key, ()))
               for post in posts}
    out = [post for post in posts if actions[post.id] in ("delete", "reconcile")]
    by_name = {account.name: account for account in config.accounts}
    untouched = [post for post in posts if actions[post.id] not in ("delete", "reconcile")]
    accounts = _accounts_for(config, record, out, environ, to_touch=out, purpose=RETRACT)
    # Nothing is asked of a platform about a post not sent: its account may have gone since.
    accounts.update({post.account: by_name.get(post.account) or Account(
        name=post.account, platform=post.platform, handle=post.handle) for post in untouched})
    platforms = platform_classes()
    cannot = sorted({platforms[post.platform].title for post in out
                     if actions[post.id] == "delete"
                     and not platforms[post.platform].capabilities.can_delete})
    if cannot:
        raise CheckFailed(*(f"{title} posts cannot be deleted by metpost; leave them out with "
                            "--account, or delete them on the platform" for title in cannot),
                          "nothing was deleted")
    return record, posts, accounts


def retract_posts(ledger: Ledger, broadcast_id: str, posts: Sequence[LedgerPost],
                  accounts: Mapping[str, Account], environ: Mapping[str, str], *,
                  control: RunControl | None = None,
                  audit: AuditContext | None = None) -> RunOutcome:
    """Take posts back for good: withdraw them in the ledger (none is sent from this
    broadcast again), then delete those that are out, look for those that may be (found,
    deleted; not found, retracted), and record each gone one as retracted (and, in the
    audit trail, who asked, before and after)."""
    from metpost.attemptlog import AttemptLog
    from metpost.audit import AuditContext, EventKind, Outcome
    from metpost.delivery.engine import Delivery

    control = control or RunControl()
    log = AttemptLog(control.log_path)  # a bad path stops us before anything is recorded
    audit = replace(audit or AuditContext(), kind=EventKind.RETRACT)
    names = [post.account for post in posts]
    try:
        ledger.record_event(audit.event(Outcome.STARTED, broadcast_id=broadcast_id,
                                        accounts=names))
        delivery = Delivery(ledger, broadcast_id, accounts, environ, control.policy, log,
                            clock=control.clock, stop=control.stop)
        results = tuple(delivery.retract(posts))
    finally:
        log.close()
    interrupted = control.stop is not None and control.stop.is_set()
    notes = _audit_end(ledger, audit, broadcast_id, names, results, interrupted, retract=True)
    return RunOutcome(broadcast_id=broadcast_id, results=results, notes=notes,
                      interrupted=interrupted)
