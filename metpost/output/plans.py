"""Plans: the one just written, the one to approve, and an apply's rerun.

The posts are shown as a dry run shows them (``show_preview``: each distinct text once, with
the accounts that get it); around them, who made the plan, when it expires, its digest, and
what approval it needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from metpost.output.base import Mode, echo, emit_json, local_time, note, plural
from metpost.output.posts import post_record, show_preview

if TYPE_CHECKING:
    from metpost.ledger import AuditEvent
    from metpost.plans import Plan
    from metpost.reviews import PlanReview
    from metpost.runner import RecordedProgress


def plan_record(plan: Plan, path: str, checked: PlanReview, needs: str) -> dict[str, Any]:
    """The JSON form of a plan: where it is, what it is, and where its approval stands."""
    return {"file": path, "id": plan.id, "digest": plan.digest,
            "author": {"name": checked.author, "os_user": plan.author.os_user,
                       "host": plan.author.host},
            "created_at": plan.created_at.isoformat(),
            "expires_at": checked.expires_at.isoformat(), "template": plan.template,
            "key": plan.key, "approval_needed": checked.verdict.needed,
            "approved": checked.verdict.approved,
            "approved_by": list(checked.verdict.approvers), "approval": needs,
            "problems": list(checked.problems)}


def _about(plan: Plan, checked: PlanReview) -> list[str]:
    made_by = plan.author.name if plan.author.name == plan.author.os_user else (
        f"{plan.author.name} ({plan.author.os_user})")
    return [f"Plan {plan.short_id}, by {made_by} on {plan.author.host}, made "
            f"{local_time(plan.created_at.isoformat())}, expires "
            f"{local_time(checked.expires_at.isoformat())}",
            f"Digest {plan.digest}"]


def show_plan_written(plan: Plan, path: str, checked: PlanReview, needs: str, mode: Mode, *,
                      full: bool = False, extra: Mapping[str, Any] | None = None,
                      html_file: str | None = None) -> None:
    """``send --plan``: what the plan holds and what happens next."""
    missing = sorted({var for post in checked.posts for var in post.missing_credentials})
    if mode == "json":
        emit_json({"dry_run": True, "plan": plan_record(plan, path, checked, needs),
                   "posts": [post_record(post) for post in checked.posts], **(extra or {})})
    else:
        show_preview(checked.posts, mode, dry_run=False, full=full,
                     heading=f"Plan {plan.short_id} (nothing is sent)")
        for line in _about(plan, checked):
            echo(line)
        echo(f"Wrote the plan to {path}; {needs}.")
        step = "metpost approve " + path
        if checked.verdict.needed and not checked.verdict.approved:
            who = "someone other than you" if checked.two_person else "an approver"
            echo(f"Next: {who} runs {step}, then: metpost apply {path}")
        else:
            echo(f"Next: metpost apply {path}")
    if html_file:
        note(f"Wrote the plan's page to {html_file}")
    if missing:
        note(f"credentials not set here: {', '.join(missing)}; metpost apply needs them "
             "where it runs")


def show_plan(plan: Plan, path: str, checked: PlanReview, needs: str, mode: Mode, *,
              full: bool = False) -> None:
    """``approve``: the plan as it would go out, for the approver to read (not in JSON, which
    prints once it is approved)."""
    if mode == "json":
        return
    for line in _about(plan, checked):
        echo(line)
    show_preview(checked.posts, mode, dry_run=False, full=full,
                 heading=f"Plan {plan.short_id}: what applying it posts")
    echo(f"It {needs.removeprefix('it ')}.")
    for problem in checked.problems:
        note(f"applying it now would be refused: {problem}")


def show_approved(plan: Plan, path: str, checked: PlanReview, needs: str,
                  approval: AuditEvent | None, mode: Mode, *, earlier: bool = False) -> None:
    """An approval recorded (or found recorded already, ``earlier``)."""
    if mode == "json":
        emit_json({"approved": approval is not None, "already": earlier,
                   "approval": None if approval is None else {
                       "by": approval.actor, "os_user": approval.os_user,
                       "host": approval.host, "at": approval.at,
                       "digest": approval.plan_digest},
                   "plan": plan_record(plan, path, checked, needs),
                   "posts": [post_record(post) for post in checked.posts]})
        return
    if approval is None:
        echo("Not approved.")
        return
    when = local_time(approval.at)
    if earlier:
        echo(f"{approval.actor} approved plan {plan.short_id} already ({when}); nothing to do.")
        return
    echo(f"Approved plan {plan.short_id} ({plan.digest}) as {approval.actor}, {when}; "
         f"recorded in the ledger and shown in {path}.")
    if checked.verdict.approved:
        echo(f"Next: metpost apply {path}")
    else:
        echo(f"It {needs.removeprefix('it ')}.")


def show_apply_rerun(progress: RecordedProgress, accounts: Sequence[str]) -> None:
    """What applying a plan again will do, said before anything happens."""
    owed = progress.owed(accounts)
    record = progress.record.id
    if not owed:
        note(f"this plan was applied already as broadcast {record}; nothing to post")
        return
    out = len(accounts) - len(owed)
    note(f"this plan's broadcast {record} has {plural(out, 'post')} of {len(accounts)} out "
         f"already; posting the other {len(owed)}")
