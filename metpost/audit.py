"""The audit trail: who planned, approved, applied, sent, retried or retracted what, and when.

Each of those is an event in the ledger (``AuditEvent``), written by the library as it acts, so
that every way of sending (a person's ``send``, cron's ``due``, an ``apply``) leaves the same
trail. A run that delivers writes two: ``started`` before its first request, naming who, which
broadcast and which accounts, and one when it ends with how it went, so that a run killed
mid-way still shows who began it. A refusal of something that needed approval is an event too.

*Who* is the name given with ``--as`` (or ``$METPOST_AS``), else the OS user; the OS user and the
host are recorded beside it whatever name was given. ``--as`` is a name, not a password: the
trail says who typed which name, where.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import TYPE_CHECKING

from metpost.characters import holds_control
from metpost.errors import MetpostError

if TYPE_CHECKING:
    from metpost.ledger.records import AuditEvent
    from metpost.models import SendResult

MAX_NAME = 100  # characters in an --as name


class EventKind(StrEnum):
    """What an audit event records."""

    PLAN = "plan"
    APPROVE = "approve"
    APPLY = "apply"
    SEND = "send"
    RETRY = "retry"
    RETRACT = "retract"


class Outcome(StrEnum):
    """How an audited step ended (``STARTED``: a delivery began; the next event ends it)."""

    PLANNED = "planned"
    APPROVED = "approved"
    REFUSED = "refused"
    STARTED = "started"
    DONE = "done"  # every post is on its platform (or, for a retract, gone)
    INCOMPLETE = "incomplete"  # some posts failed or are unknown; retry finishes it
    INTERRUPTED = "interrupted"  # Ctrl-C: posts not started are left for a rerun


def os_user() -> str:
    """The OS user running metpost (its uid when the system has no name for it)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user without a passwd entry
        return f"uid {os.getuid()}"


def person_name(given: str | None) -> str | None:
    """An ``--as`` name, trimmed; refused when blank, over-long or holding control characters
    (it is printed in listings and CSV files). None when none was given."""
    if given is None:
        return None
    name = " ".join(given.split())
    if not name:
        raise MetpostError("--as needs a name, e.g. --as \"Insp. Ada Khan\"")
    if len(name) > MAX_NAME:
        raise MetpostError(f"--as: a name of at most {MAX_NAME} characters, please")
    if holds_control(name):
        raise MetpostError("--as: the name holds control or invisible characters; type it plainly")
    return name


def urgent_reason(given: str) -> str:
    """An ``--urgent --reason``; refused when it holds control characters (a line
    break or a tab would forge a line or a column of ``metpost audit``'s listing)."""
    if holds_control(given):
        raise MetpostError("--reason: one line of plain text, please (it holds a line break, "
                           "a tab or another control character)")
    return given


@dataclass(frozen=True)
class Actor:
    """Who is acting: the name they go by here, and the OS user and host they act from."""

    name: str
    os_user: str
    host: str

    @classmethod
    def current(cls, given: str | None = None) -> Actor:
        """The person running this command: ``--as`` NAME if given, else the OS user."""
        import socket  # only once someone is named: a dry run without approvals never asks

        user = os_user()
        return cls(name=person_name(given) or user, os_user=user, host=socket.gethostname())

    def describe(self) -> str:
        """How a listing names them: ``ada (ada@cron-1)``, the OS user only when it differs."""
        where = self.host if self.name == self.os_user else f"{self.os_user}@{self.host}"
        return f"{self.name} ({where})"


@dataclass(frozen=True)
class AuditContext:
    """Who a delivery acts for, and under what authority: the kind of step, its actor, the
    plan it applies and who approved it, or the emergency (``urgent``) that bypassed approval.
    """

    kind: EventKind = EventKind.SEND
    actor: Actor | None = None  # None: the OS user, as for cron's `metpost due`
    plan_id: str | None = None
    plan_digest: str | None = None
    approved_by: tuple[str, ...] = ()
    urgent: bool = False
    reason: str | None = None
    source: str | None = None  # the template, or --message

    def event(self, outcome: Outcome, *, broadcast_id: str | None = None,
              accounts: Sequence[str] = (), detail: str | None = None,
              source: str | None = None) -> AuditEvent:
        """This step's event with ``outcome``."""
        from metpost.ledger.records import AuditEvent

        actor = self.actor or Actor.current()
        return AuditEvent(kind=str(self.kind), actor=actor.name, os_user=actor.os_user,
                          host=actor.host, outcome=str(outcome), broadcast_id=broadcast_id,
                          plan_id=self.plan_id, plan_digest=self.plan_digest,
                          source=source or self.source, accounts=tuple(accounts),
                          approved_by=self.approved_by, urgent=self.urgent,
                          reason=self.reason, detail=detail)


def run_outcome(results: Sequence[SendResult], interrupted: bool, *,
                retract: bool = False) -> tuple[Outcome, str]:
    """How a delivery (or a retract) ended, and its counts in words: ``3 sent, 1 failed``."""
    from metpost.status import PostStatus

    counts: dict[str, int] = {}
    for result in results:
        counts[str(result.status)] = counts.get(str(result.status), 0) + 1
    detail = ", ".join(f"{count} {status}" for status, count in counts.items()) or (
        "nothing to do")
    if interrupted:
        return Outcome.INTERRUPTED, detail
    finished = (all(result.status == PostStatus.RETRACTED for result in results) if retract
                else all(result.delivered for result in results))
    return (Outcome.DONE if finished else Outcome.INCOMPLETE), detail


def since_moment(text: str) -> str:
    """``--since``: a date (``2026-11-24``, from local midnight) or an ISO 8601 time (local
    when it has no offset), as the ledger's UTC text to compare event times with."""
    value = text.strip()
    try:
        moment = datetime.combine(date.fromisoformat(value), time())
    except ValueError:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise MetpostError(f"--since '{text}': give a date like 2026-11-24 or a time like "
                               "2026-11-24T14:30") from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # the machine's local time
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def urgent_first(events: Sequence[AuditEvent]) -> list[AuditEvent]:
    """Events with break-glass (``--urgent``) sends first, then the rest, each in the order
    they were written."""
    return [*(event for event in events if event.urgent),
            *(event for event in events if not event.urgent)]
