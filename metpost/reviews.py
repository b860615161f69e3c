"""Reviewed broadcasts, step by step: plan it, approve it, apply it.

- ``write_plan``: a broadcast rendered and checked as a send would be becomes a plan file, and
  its making (author, digest) is recorded in the ledger once the file is written; its
  ``--key`` must be one the ledger holds no broadcast under;
- ``approve``: a person's approval of the plan's content digest is recorded in the ledger (and
  shown in the file);
- ``ready_to_apply``: everything that must hold before an approved plan is posted: the file is
  the plan recorded (not edited), the approvals the config requires are there, it has not
  expired, every account is still in the config, live and posting where it did when the plan
  was made (platform, handle, api_url, page, instance, receiver, file), every image is the
  file checked, and a broadcast already under its key is its own earlier apply;
- ``send_authority``: whether a send without a plan may go out (approval not required, a
  standing approval, or a permitted emergency), and how it is recorded.

Each refusal is one line a person can act on, and is itself recorded in the audit trail.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metpost.approvals import Verdict, judge, same_person, urgent_allowed
from metpost.audit import Actor, AuditContext, EventKind, Outcome
from metpost.destinations import destination_changes
from metpost.errors import CheckFailed, MetpostError
from metpost.plans import (
    MAX_PLAN_BYTES,
    Plan,
    PlanError,
    PlanPost,
    approval_entry,
    dump_plan,
    expiry,
    integrity_problems,
    parse_plan,
    plan_content,
    plan_document,
    plan_text,
    recorded_approvals,
    recorded_plan,
    with_approval,
)

if TYPE_CHECKING:
    from metpost.broadcast import Broadcast
    from metpost.ledger import AuditEvent, BroadcastRecord, Ledger, PlannedPost
    from metpost.models import Account, Config, Post
    from metpost.platforms.api import Media
    from metpost.runner import RecordedProgress


# -- plan files -------------------------------------------------------------------------------

def read_plan_file(path: Path) -> Plan:
    """The plan in ``path``, or a PlanError saying why it cannot be read as one. No more than
    ``MAX_PLAN_BYTES`` (and one) is read: a larger file is not a plan. Only a regular file is
    read: a named pipe, a device or a socket is refused without waiting on it."""
    from metpost.files import NotAFileError, read_regular_file

    try:
        data = read_regular_file(path, MAX_PLAN_BYTES + 1)
    except FileNotFoundError:
        raise PlanError(f"{path}: no such plan file") from None
    except NotAFileError as error:
        raise PlanError(f"{path}: not a plan file: it is {error.kind}; give the path of the "
                        "file metpost send --plan FILE wrote") from None
    except OSError as error:
        raise PlanError(f"{path}: cannot read it: {error.strerror}") from None
    return parse_plan(plan_text(data, str(path)), str(path))


def write_plan_file(path: Path, document: Mapping[str, Any]) -> None:
    """Write a plan whole: a reader never sees half of one."""
    from metpost.files import write_whole

    _plan_target(path)
    try:
        write_whole(path, dump_plan(document))
    except OSError as error:
        raise MetpostError(f"{path}: cannot write the plan: {error.strerror}; choose a "
                           "writable path") from None


def _plan_target(path: Path) -> None:
    """Refuse a plan path where something other than a file is (a device, a pipe, a folder)."""
    from metpost.files import NotAFileError, file_target

    try:
        file_target(path)
    except NotAFileError as error:
        raise MetpostError(f"{path}: it is {error.kind}; give the path of a file for the "
                           "plan") from None


# -- planning ---------------------------------------------------------------------------------

def write_plan(path: Path, broadcast: Broadcast, config: Config, ledger: Ledger, *,
               author: Actor, request: Mapping[str, Any], key: str | None,
               now: datetime) -> Plan:
    """Record a plan of ``broadcast`` (checked, every text fit) in the ledger and write it to
    ``path``. ``request`` is what the author asked for (selection, template, vars ...)."""
    content = plan_content(broadcast.posts, plan_id=uuid.uuid4().hex, author=author,
                           created_at=now, expires_after=config.approvals.expires_after,
                           template=broadcast.template.name, request=request, key=key,
                           public_safety=broadcast.public_safety)
    document = plan_document(content)
    plan = parse_plan(dump_plan(document), str(path))  # exactly what the file will hold
    _refuse_a_key_taken(plan, ledger)
    # Written first: the trail records no plan whose file could not be written.
    write_plan_file(path, document)
    context = _context(EventKind.PLAN, author, plan)
    ledger.record_event(context.event(Outcome.PLANNED, accounts=plan.accounts,
                                      detail=f"expires {plan.expires_at.isoformat()}"))
    return plan


def _refuse_a_key_taken(plan: Plan, ledger: Ledger) -> None:
    """A plan's ``--key`` must be new to the ledger: applied under the key of a broadcast
    already recorded, it would finish that broadcast with the texts recorded for it, which
    nobody approved."""
    from metpost.runner import plan_keys

    if plan.key is None:
        return
    held = ledger.broadcast_by_key(plan_keys(plan)[0])
    if held is not None:
        raise MetpostError(f"--key {plan.key}: {ledger.location} already holds broadcast "
                           f"{held.id} under this key, and a plan is a broadcast of its own; "
                           "choose another --key")


def _context(kind: EventKind, actor: Actor, plan: Plan, **more: Any) -> AuditContext:
    return AuditContext(kind=kind, actor=actor, plan_id=plan.id, plan_digest=plan.digest,
                        source=plan.template, **more)


def _refuse(ledger: Ledger, context: AuditContext, problems: Sequence[str],
            accounts: Sequence[str], outcome: str) -> CheckFailed:
    """Record a refusal in the audit trail; the error to raise. ``outcome`` completes
    "nothing was ..."."""
    ledger.record_event(context.event(Outcome.REFUSED, accounts=accounts,
                                      detail="; ".join(problems)))
    return CheckFailed(*problems, f"nothing was {outcome}")


# -- what a plan's posts look like now ----------------------------------------------------------

@dataclass(frozen=True)
class PlanReview:
    """A plan as it stands against the config now: its posts (for the preview, with their
    problems), the approval verdict, and when it stops being applicable."""

    plan: Plan
    author: str  # as the ledger recorded it when the plan was made
    posts: tuple[Post, ...]
    verdict: Verdict
    expires_at: datetime
    problems: tuple[str, ...]  # every reason it cannot be applied now, approval aside
    approvals: tuple[AuditEvent, ...]
    two_person: bool = False  # its author cannot approve it

    @property
    def accounts(self) -> list[str]:
        """The accounts the plan posts to."""
        return self.plan.accounts


def review(plan: Plan, name: str, config: Config, ledger: Ledger, environ: Mapping[str, str],
           *, refused: tuple[EventKind, Actor] | None = None) -> PlanReview:
    """Compare a plan with the ledger and the config as they are now (nothing is changed).
    Raises if the file is not the plan that was recorded: a refusal of the step ``refused``
    names (what, and by whom), recorded in the audit trail."""
    from metpost.plugins import platform_classes

    events = ledger.events(plan_id=plan.id)
    problems = integrity_problems(plan, events, name, ledger.location)
    if problems:
        if refused is None:
            raise CheckFailed(*problems)
        kind, actor = refused
        raise _refuse(ledger, _context(kind, actor, plan), problems, plan.accounts,
                      "sent" if kind == EventKind.APPLY else "approved")
    made = recorded_plan(plan, events)
    assert made is not None  # integrity_problems says so otherwise
    platforms = platform_classes()
    by_name = {account.name: account for account in config.accounts}
    posts: list[Post] = []
    blocking: list[str] = []
    for planned in plan.posts:
        post, post_problems = _post_now(planned, by_name, platforms, config, environ)
        posts.append(post)
        blocking.extend(f"{planned.account}: {problem}" for problem in post_problems)
    missing = sorted({var for post in posts for var in post.missing_credentials})
    if missing:
        blocking.append(f"credentials not set in the environment: {', '.join(missing)}")
    approvals = recorded_approvals(plan, events)
    verdict = judge(config.approvals, author=made.actor,
                    approvers=[event.actor for event in approvals],
                    accounts=[by_name[name] for name in plan.accounts if name in by_name],
                    template=plan.template, plan=plan.short_id, config=config.path.name)
    return PlanReview(plan=plan, author=made.actor, posts=tuple(posts), verdict=verdict,
                      expires_at=expiry(plan, config.approvals.expires_after),
                      problems=tuple(blocking), approvals=tuple(approvals),
                      two_person=config.approvals.two_person)


def _post_now(planned: PlanPost, by_name: Mapping[str, Account], platforms: Mapping[str, Any],
              config: Config, environ: Mapping[str, str]) -> tuple[Post, list[str]]:
    """A planned post as a checked ``Post`` against today's config, and what stops it."""
    from metpost.destinations import local_problems
    from metpost.media import still_the_same
    from metpost.models import Account, Post, ThreadPart
    from metpost.secrets import credential_problems, resolve_credentials

    account = by_name.get(planned.account)
    problems: list[str] = []
    if account is None:
        problems.append(f"account '{planned.account}' is no longer in {config.path}; restore it, "
                        "or make a new plan")
        account = Account(name=planned.account, platform=planned.platform,
                          handle=planned.handle)
    # A plan made before metpost recorded destinations is compared on its platform and handle:
    # it lives no longer than approvals.expires_after, and refusing it would strand an apply
    # it had begun (a new plan is a new broadcast, which would post again where it did).
    elif changes := destination_changes(planned.platform, planned.handle, planned.destination,
                                        account):
        problems.append(f"account '{account.name}' posts elsewhere now than when the plan was "
                        f"made ({config.path}:{account.line}): {', '.join(changes)}; plan and "
                        "approve it again")
    elif not account.live:
        problems.append(f"account '{account.name}' is {account.status} ({config.path}:"
                        f"{account.line}); set its status: live to post from it, or make a "
                        "new plan without it")
    platform = platforms.get(planned.platform)
    media = tuple(image.media() for image in planned.images)
    length = limit = 0
    parts: tuple[ThreadPart, ...] = ()
    missing: tuple[str, ...] = ()
    if platform is None:
        problems.append(f"platform '{planned.platform}' is not installed here")
    else:
        length = platform.length(planned.text)
        limit = platform.limits_for(account.settings).max_length
        parts = tuple(ThreadPart(text, platform.length(text)) for text in planned.parts)
        if not planned.repost_of:  # a repost carries the other post, not a text of its own
            for text in planned.parts or (planned.text,):
                problems.extend(platform.check(text, account.settings))
            problems.extend(platform.media_problems(media))
        if account.name in by_name:
            missing = tuple(resolve_credentials(account, environ)[1])
            problems.extend(credential_problems(account, environ))
            problems.extend(local_problems(account))
    for item in media:
        changed = still_the_same(item)
        if changed:
            problems.append(changed.replace("since the broadcast was recorded",
                                            "since the plan was made"))
    post = Post(account=account, text=planned.text, length=length, limit=limit,
                problems=tuple(problems), missing_credentials=missing,
                repost_of=planned.repost_of, parts=parts, media=media)
    return post, problems


# -- approving --------------------------------------------------------------------------------

def check_approvable(plan_review: PlanReview, ledger: Ledger, approver: Actor,
                     two_person: bool, now: datetime) -> None:
    """Refuse (and record the refusal) if ``approver`` may not approve the plan now: it has
    expired, or it is their own and approvals.two_person is set."""
    plan = plan_review.plan
    problems = []
    if now >= plan_review.expires_at:
        problems.append(_expired(plan, plan_review.expires_at))
    if two_person and same_person(approver.name, plan_review.author):
        problems.append(f"you ({approver.name}) made plan {plan.short_id}; approvals.two_person "
                        "requires another person to approve it")
    if problems:
        raise _refuse(ledger, _context(EventKind.APPROVE, approver, plan), problems,
                      plan.accounts, "approved")


def already_approved(plan_review: PlanReview, approver: Actor) -> AuditEvent | None:
    """``approver``'s earlier approval of this very content, if any."""
    return next((event for event in plan_review.approvals
                 if same_person(event.actor, approver.name)), None)


def approve(path: Path, plan: Plan, ledger: Ledger, approver: Actor) -> AuditEvent:
    """Record ``approver``'s approval of the plan's content digest, and show it in the file."""
    event = ledger.record_event(_context(EventKind.APPROVE, approver, plan).event(
        Outcome.APPROVED, accounts=plan.accounts))
    write_plan_file(path, with_approval(plan, approval_entry(event)))
    return event


def _expired(plan: Plan, when: datetime) -> str:
    return (f"plan {plan.short_id} expired at {when.astimezone():%d %b %Y %H:%M} "
            f"(made {plan.created_at.astimezone():%d %b %H:%M}; approvals.expires_after): make a "
            "new plan with metpost send --plan, and have it approved")


# -- applying ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ApplyReady:
    """An approved plan that may be posted now: its broadcast key, its posts exactly as
    planned, the accounts they go to, and what the ledger holds of it already."""

    review: PlanReview
    key: str
    planned: tuple[PlannedPost, ...]
    accounts: Mapping[str, Account]
    progress: RecordedProgress | None
    audit: AuditContext


def ready_to_apply(plan_review: PlanReview, config: Config, ledger: Ledger, actor: Actor,
                   now: datetime) -> ApplyReady:
    """Everything an apply needs, or a refusal (recorded) naming every reason it may not go.

    A broadcast found under the plan's key must be this plan's own (``_other_broadcast``):
    another's would be finished with its own texts. An apply of this plan that already began
    (the audit trail says it started this broadcast) is finished even after the plan's
    expiry: the plan was applicable when it began."""
    from metpost.runner import RecordedProgress, plan_keys

    plan = plan_review.plan
    key, planned = plan_keys(plan)
    record = ledger.broadcast_by_key(key)
    problems = list(plan_review.problems)
    if not plan_review.verdict.approved:
        problems.extend(plan_review.verdict.problems)
    other = None if record is None else _other_broadcast(plan, record, planned, ledger)
    if other is not None:
        problems.append(other)
    began = record is not None and other is None and _apply_began(plan, record, ledger)
    if not began and now >= plan_review.expires_at:
        problems.append(_expired(plan, plan_review.expires_at))
    context = _context(EventKind.APPLY, actor, plan,
                       approved_by=plan_review.verdict.approvers)
    if problems:
        raise _refuse(ledger, context, problems, plan.accounts, "sent")
    progress = None if record is None else RecordedProgress(
        record, {post.account: post.state for post in ledger.posts(record.id)})
    accounts = {post.account.name: post.account for post in plan_review.posts}
    return ApplyReady(review=plan_review, key=key, planned=tuple(planned), accounts=accounts,
                      progress=progress, audit=context)


def _apply_began(plan: Plan, record: BroadcastRecord, ledger: Ledger) -> bool:
    """Whether an apply of this plan started delivering ``record`` (the audit trail says so
    before its first request)."""
    return any(event.kind == EventKind.APPLY and event.outcome == Outcome.STARTED
               and event.broadcast_id == record.id
               for event in ledger.events(plan_id=plan.id))


def _other_broadcast(plan: Plan, record: BroadcastRecord, planned: Sequence[PlannedPost],
                     ledger: Ledger) -> str | None:
    """Why ``record``, found under the plan's key, is not this plan's own broadcast; None when
    it is. Only a ``--key`` is shared so (with a send --key, or another plan made with it): the
    broadcast must hold exactly the plan's posts, and no other send or apply may have begun
    it."""
    why = _recorded_otherwise(record, planned, ledger) or _begun_by_another(plan, record, ledger)
    if why is None:
        return None
    key = f"--key {plan.key}" if plan.key else "digest"
    return (f"plan {plan.short_id}'s {key} names broadcast {record.id}, which this plan did not "
            f"begin ({why}); make a new plan with another --key, and have it approved")


def _recorded_otherwise(record: BroadcastRecord, planned: Sequence[PlannedPost],
                        ledger: Ledger) -> str | None:
    """How the posts recorded for ``record`` differ from ``planned``, if they do."""
    recorded = {post.account: post for post in ledger.posts(record.id)}
    unplanned = sorted(set(recorded) - {post.account for post in planned})
    if unplanned:
        return f"it has a post for {unplanned[0]}, which the plan has not"
    parts = ledger.broadcast_parts(record.id)
    media = ledger.broadcast_media(record.id)
    for post in planned:
        held = recorded.get(post.account)
        if held is None:
            return f"it has no post for {post.account}"
        as_recorded = (held.platform, held.handle, held.text, held.repost_of,
                       held.idempotency_key,
                       tuple(part.text for part in parts.get(held.idempotency_key, ())),
                       _images(media.get(held.idempotency_key, ())))
        if as_recorded != (post.platform, post.handle, post.text, post.repost_of,
                           post.idempotency_key, post.parts, _images(post.media)):
            return f"its post for {post.account} is not the plan's"
    return None


def _images(media: Sequence[Media]) -> tuple[tuple[str, str], ...]:
    """What tells a post's images apart: each one's digest and alt text, in order."""
    return tuple((item.sha256, item.alt_text) for item in media)


def _begun_by_another(plan: Plan, record: BroadcastRecord, ledger: Ledger) -> str | None:
    """Who began delivering ``record``, if a run other than an apply of this plan did."""
    for event in ledger.events(since=record.created_at):
        if (event.broadcast_id == record.id and event.outcome == Outcome.STARTED
                and event.kind in (EventKind.SEND, EventKind.APPLY)
                and not (event.kind == EventKind.APPLY and event.plan_id == plan.id)):
            of_plan = f" of plan {event.plan_id[:12]}" if event.plan_id else ""
            return f"metpost {event.kind}{of_plan} by {event.actor} began it at {event.at}"
    return None


# -- sending without a plan ---------------------------------------------------------------------

def send_authority(broadcast: Broadcast, config: Config, actor: Actor, *, urgent: bool,
                   reason: str | None, ledger_for_refusal: Any) -> AuditContext:
    """Under what authority a send without a plan goes out: approval is not required, a
    standing approval covers it, or ``urgent`` (allowed by the config) bypasses it. Anything
    else is refused, recorded in the ledger ``ledger_for_refusal()`` opens, with the way to
    plan it. The context says how the send is recorded."""
    accounts = [post.account for post in broadcast.posts]
    names = [account.name for account in accounts]
    template = broadcast.template.name
    policy = config.approvals
    verdict = judge(policy, author=actor.name, approvers=[], accounts=accounts,
                    template=template, config=config.path.name)
    context = AuditContext(kind=EventKind.SEND, actor=actor, approved_by=verdict.approvers,
                           source=template)
    if urgent:
        if not urgent_allowed(policy, accounts, template):
            allowed = (", ".join(scope.describe() for scope in policy.urgent)
                       if policy.urgent else "nowhere")
            raise _refuse(ledger_for_refusal(), AuditContext(
                kind=EventKind.SEND, actor=actor, urgent=True, reason=reason, source=template),
                [f"--urgent is not allowed for this broadcast by {config.path.name} "
                 f"(approvals.urgent.allowed: {allowed}); plan it with --plan FILE and have "
                 "it approved"], names, "sent")
        return AuditContext(kind=EventKind.SEND, actor=actor, approved_by=verdict.approvers,
                            urgent=True, reason=reason, source=template)
    if not verdict.approved:
        raise _refuse(ledger_for_refusal(), context, verdict.problems, names, "sent")
    return context


def approval_note(broadcast: Broadcast, config: Config, actor: Actor) -> str | None:
    """For a dry run: that sending this will need a plan and approval, if it will."""
    accounts = [post.account for post in broadcast.posts]
    verdict = judge(config.approvals, author=actor.name, approvers=[], accounts=accounts,
                    template=broadcast.template.name, config=config.path.name)
    if verdict.approved:
        return (f"approved in advance by {', '.join(verdict.standing)} (approvals.standing)"
                if verdict.standing else None)
    return verdict.problems[0]


def plan_needs(plan_review: PlanReview, config: Config) -> str:
    """What approval the plan needs, in words, for the person who made or reads it."""
    verdict = plan_review.verdict
    policy = config.approvals
    if not verdict.needed:
        return "no approval is needed for it"
    who = (f"{policy.approvers} people" if policy.approvers > 1 else "one person")
    if policy.two_person:
        who += " other than its author"
    names = ", ".join(f"{name} (standing approval)" if name in verdict.standing else name
                      for name in verdict.approvers)
    if verdict.approved:
        state = f"approved by {names}"
    else:
        state = "not approved yet" + (f" (so far by {names})" if names else "")
    return f"it needs approval by {who}: {state}"


def request_record(selection: Any, *, template: str | None, message: str | None,
                   variables: Mapping[str, str], thread: bool, x_repost_from: str | None,
                   public_safety: bool, no_alt: bool) -> dict[str, Any]:
    """What the author asked for, as the plan records it beside the posts it made."""
    return {
        "selection": {"borough": list(selection.boroughs),
                      "personality": list(selection.personalities),
                      "tag": list(selection.tags), "account": list(selection.accounts),
                      "all": selection.all, "platform": list(selection.platforms)},
        "template": template,
        "message": message,
        "vars": dict(variables),
        "thread": thread,
        "x_repost_from": x_repost_from,
        "public_safety": public_safety,
        "no_alt": no_alt,
    }

