"""``metpost due``: send every schedule slot that fell due since the previous run, once.

How ``due`` knows what fell due "since the previous run": the ledger keeps, per schedule, the
time of the last ``due`` that looked at it (``schedule_runs``). A run looks at every slot from
that time less the catch-up window up to now (on a schedule's first run, from now less the
window), so a slot whose send failed is tried again by each run while it is inside the window.
A run whose slot failed or is in doubt marks the schedule only up to that slot, so that the next
run sees it again even with a shorter window. A slot inside the window is sent (or found already
sent); an older one that was never sent is ``missed``, and one begun but unfinished is reported
with the ``metpost retry`` that finishes it, by the first run that finds it too old.

Each slot is one broadcast whose ``--key`` is ``schedule:NAME:SLOT``: a rerun, an overlapping
run, or another machine sharing the ledger finds the same broadcast, and the ledger's claims
let only one of them post each account's post. A run that finds a post in progress elsewhere
waits for it (within the deadline) and reports how it ended.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from metpost.broadcast import Broadcast, prepare
from metpost.errors import MetpostError
from metpost.ledger import BroadcastRecord, Ledger, LedgerError
from metpost.models import Config, SendResult
from metpost.render import MessageTemplate, inline_template, load_template
from metpost.runner import RunControl, send
from metpost.schedule import DueSlot, Schedule, Slot, due_slots, slot_variables
from metpost.status import PostStatus

SENT, ALREADY, RETRACTED, FAILED, UNKNOWN, MISSED, DRY_RUN = (
    "sent", "already sent", "retracted", "failed", "unknown", "missed", "dry run")
# A retracted slot is no problem to mail about: someone took it back on purpose.
SLOT_STATUSES = (SENT, ALREADY, RETRACTED, FAILED, UNKNOWN, MISSED, DRY_RUN)
PROBLEM_STATUSES = frozenset({FAILED, UNKNOWN, MISSED})
BUSY_POLL = 0.25  # seconds between looks at a slot another run is sending


@dataclass(frozen=True)
class SlotOutcome:
    """What ``due`` did about one slot."""

    slot: Slot
    status: str  # one of SLOT_STATUSES
    broadcast: str | None = None  # the broadcast's id, once there is one
    error: str | None = None  # why it failed, was missed, or would not be sent
    results: tuple[SendResult, ...] = ()  # each post's result, when this run sent
    preview: Broadcast | None = None  # what a dry run would send
    expired: bool = False  # outside the catch-up window: no later due looks at it again

    @property
    def problem(self) -> bool:
        """Something a person should hear about (cron mails it)."""
        return self.status in PROBLEM_STATUSES or (self.status == DRY_RUN and bool(self.error))


def template_of(config: Config, schedule: Schedule) -> MessageTemplate:
    """The schedule's template, or its inline message."""
    if schedule.template is not None:
        return load_template(config.templates_dir, schedule.template)
    return inline_template(schedule.message or "")


def prepare_slot(config: Config, slot: Slot, environ: Mapping[str, str]) -> Broadcast:
    """The slot's posts, rendered and checked as at the slot's time (``now`` is the slot)."""
    schedule = slot.schedule
    return prepare(config, schedule.selection, template_of(config, schedule),
                   slot_variables(slot), environ, now=slot.at,
                   public_safety=schedule.public_safety, repost_from=schedule.x_repost_from)


def run_due(config: Config, schedules: Sequence[Schedule], ledger: Ledger | None,
            environ: Mapping[str, str], now: datetime, catch_up: timedelta, *,
            dry_run: bool = False, control: RunControl | None = None) -> list[SlotOutcome]:
    """Send (or, for a dry run, preview) every slot due at ``now``; report every slot looked
    at. ``ledger`` may be None only for a dry run with no ledger yet."""
    control = control or RunControl()
    checked = {name: _checked(ledger, name) for schedule in schedules
               for name in (schedule.name, *schedule.renamed_from)}
    if ledger is not None and not dry_run:
        # A schedule's first run marks where it began looking before it sends anything: killed
        # mid-slot, it would otherwise leave no mark, and the next run, looking back only from
        # its own time, could leave that slot's posts in doubt without a word.
        for schedule in schedules:
            if all(checked[name] is None for name in (schedule.name, *schedule.renamed_from)):
                ledger.mark_schedule_checked(schedule.name, now.timestamp())
    outcomes = [_guarded_one(config, due, ledger, environ, dry_run, control)
                for due in due_slots(schedules, now, catch_up, checked)]
    if ledger is not None and not dry_run:
        try:
            for schedule in schedules:
                ledger.mark_schedule_checked(schedule.name,
                                             _looked_until(schedule, outcomes, now).timestamp())
        except LedgerError as error:
            # The slots' outcomes stand; the next run looks from the previous mark again,
            # finds what this one sent, and so repeats nothing.
            raise DueReportIncomplete(outcomes, f"could not record that this run looked at "
                                                f"the schedules: {error}") from error
    return outcomes


def _looked_until(schedule: Schedule, outcomes: Sequence[SlotOutcome], now: datetime
                  ) -> datetime:
    """How far this run dealt with ``schedule``: ``now``, or the time of its oldest slot that
    failed or is in doubt (and is still inside the window). The next run looks back from that
    mark by its own catch-up window, so it sees that slot again, whatever window it is given:
    it tries it again or, once the slot is too old, reports it (a run with a long --catch-up
    followed by runs with the default would otherwise leave the slot behind without a word)."""
    unfinished = [outcome.slot.at for outcome in outcomes
                  if outcome.slot.schedule is schedule and outcome.problem
                  and not outcome.expired and outcome.status != MISSED]
    return min([now, *unfinished])


class DueReportIncomplete(Exception):
    """The ledger failed after the slots were dealt with: ``outcomes`` is what this run did,
    ``problem`` what it could not record (the report must still be shown)."""

    def __init__(self, outcomes: list[SlotOutcome], problem: str) -> None:
        super().__init__(problem)
        self.outcomes = outcomes
        self.problem = problem


def _guarded_one(config: Config, due: DueSlot, ledger: Ledger | None,
                 environ: Mapping[str, str], dry_run: bool, control: RunControl) -> SlotOutcome:
    """``_one``, or, when the ledger fails while the slot is looked at or sent, an unknown
    slot: posts may have gone out before the failure, and only a run with a working ledger
    can tell (the next ``due`` inside the window checks each on its platform first)."""
    try:
        return _one(config, due, ledger, environ, dry_run, control)
    except LedgerError as error:
        return SlotOutcome(due.slot, UNKNOWN, error=f"{error}; whether its posts went out is "
                           "not recorded: the next metpost due checks them on their platforms "
                           "before sending anything")


def _checked(ledger: Ledger | None, name: str) -> datetime | None:
    until = ledger.schedule_checked_until(name) if ledger is not None else None
    return datetime.fromtimestamp(until, UTC) if until is not None else None


def _one(config: Config, due: DueSlot, ledger: Ledger | None, environ: Mapping[str, str],
         dry_run: bool, control: RunControl) -> SlotOutcome:
    slot = due.slot
    record = _recorded(ledger, slot) if ledger is not None else None
    if record is not None and _finished(record):
        if record.counts.get(str(PostStatus.RETRACTED)):
            return SlotOutcome(slot, RETRACTED, record.id,
                               error=f"metpost retract took back {record.id}; it is not sent "
                                     "again")
        return SlotOutcome(slot, ALREADY, record.id)
    if due.expired:
        if record is None:
            return SlotOutcome(slot, MISSED, error=f"not sent within the catch-up window "
                                                   f"(due at {slot.at.isoformat()})")
        return SlotOutcome(slot, _state_of(record), record.id,
                           error="outside the catch-up window now; metpost retry "
                                 f"{record.id} finishes it", expired=True)
    try:
        broadcast = prepare_slot(config, slot, environ)
    except MetpostError as error:
        return SlotOutcome(slot, FAILED, error="; ".join(error.problems))
    if dry_run:
        problems = [line for line in broadcast.blocking_problems()
                    if not line.startswith("credentials not set")]
        return SlotOutcome(slot, DRY_RUN, error="; ".join(problems) or None,
                           preview=broadcast)
    if not broadcast.ready:
        return SlotOutcome(slot, FAILED, error="; ".join(broadcast.blocking_problems())
                           + "; nothing was sent")
    assert ledger is not None  # a real run always has one
    # A slot begun under the schedule's former name is finished under that name's key.
    key = record.label if record is not None and record.label else slot.label
    return _send_slot(slot, broadcast, ledger, environ, control, key)


def _recorded(ledger: Ledger, slot: Slot) -> BroadcastRecord | None:
    """The slot's broadcast: by its label, else by its label under the former name."""
    for label in slot.labels:
        if (record := ledger.broadcast_labelled(label)) is not None:
            return record
    return None


def _send_slot(slot: Slot, broadcast: Broadcast, ledger: Ledger, environ: Mapping[str, str],
               control: RunControl, key: str) -> SlotOutcome:
    """Send the slot's broadcast; while another run holds some of its posts, wait and look
    again (claims left by a run that died are taken over and reconciled)."""
    give_up = time.monotonic() + control.policy.deadline
    while True:
        outcome = send(broadcast, ledger, environ, control=control, key=key)
        busy = {result.account.name for result in outcome.results
                if result.status == PostStatus.BUSY}
        if not busy or time.monotonic() >= give_up:
            break
        if not _wait_while_sent_elsewhere(ledger, outcome.broadcast_id, busy, control,
                                          until=min(give_up, time.monotonic()
                                                    + control.policy.lease)):
            break
    results = tuple(outcome.results)
    statuses = {result.status for result in results}
    if statuses <= {PostStatus.ALREADY_SENT, PostStatus.RETRACTED}:
        status = ALREADY
    elif all(result.delivered or result.status == PostStatus.RETRACTED for result in results):
        status = SENT
    elif statuses & {PostStatus.FAILED, PostStatus.NOT_SENT}:
        status = FAILED
    else:
        status = UNKNOWN
    errors = [f"{result.account.name}: {result.error}" for result in results
              if not result.delivered and result.status != PostStatus.RETRACTED]
    return SlotOutcome(slot, status, outcome.broadcast_id, error="; ".join(errors) or None,
                       results=results)


def _wait_while_sent_elsewhere(ledger: Ledger, broadcast_id: str, accounts: set[str],
                               control: RunControl, *, until: float) -> bool:
    """Wait, looking at the ledger only, while another run is sending the posts of
    ``accounts`` (at most until ``until``: by then a claim left by a run that died has lapsed,
    and the next send takes it over). Each send records its start and end in the audit trail,
    so the run does not send again at every look. False when asked to stop."""
    while time.monotonic() < until:
        if control.stop is not None:
            if control.stop.wait(BUSY_POLL):
                return False
        else:
            time.sleep(BUSY_POLL)
        if not any(post.account in accounts and post.state == PostStatus.SENDING
                   for post in ledger.posts(broadcast_id)):
            return True
    return True


def _finished(record: BroadcastRecord) -> bool:
    """Every post of the slot's broadcast is on its platform (or was retracted on purpose)."""
    return record.total > 0 and set(record.counts) <= {str(PostStatus.SENT),
                                                       str(PostStatus.RETRACTED)}


def _state_of(record: BroadcastRecord) -> str:
    """A slot's status from its broadcast's recorded posts (not sent by this run)."""
    if record.counts.get(str(PostStatus.FAILED)) or record.counts.get(str(PostStatus.PENDING)):
        return FAILED
    return UNKNOWN

