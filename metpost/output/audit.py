"""The audit trail: a table on a terminal, tab-separated lines when piped, ``--json`` and
``--csv``. Break-glass sends (``--urgent``) come first, then every event in the order written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from metpost.output.base import Mode, echo, emit_json, local_time, note, plural, table

if TYPE_CHECKING:
    from metpost.ledger import AuditEvent

# The columns of --csv, and the keys of each --json event, in this order.
AUDIT_FIELDS = ("at", "kind", "outcome", "actor", "os_user", "host", "urgent", "reason",
                "broadcast", "plan", "plan_digest", "source", "accounts", "approved_by",
                "detail")


def event_record(event: AuditEvent) -> dict[str, Any]:
    """One event as JSON: who, what, when, and how it ended."""
    values: dict[str, Any] = {
        "at": event.at, "kind": event.kind, "outcome": event.outcome, "actor": event.actor,
        "os_user": event.os_user, "host": event.host, "urgent": event.urgent,
        "reason": event.reason, "broadcast": event.broadcast_id, "plan": event.plan_id,
        "plan_digest": event.plan_digest, "source": event.source,
        "accounts": list(event.accounts), "approved_by": list(event.approved_by),
        "detail": event.detail}
    return {name: values[name] for name in AUDIT_FIELDS}


def _csv_value(value: Any) -> str:
    if isinstance(value, list):
        return "; ".join(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


def show_audit(events: Sequence[AuditEvent], mode: Mode, *, as_csv: bool = False) -> None:
    """The events (already in the order to show: break glass first)."""
    if as_csv:
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(AUDIT_FIELDS)
        for event in events:
            record = event_record(event)
            writer.writerow([_csv_value(record[name]) for name in AUDIT_FIELDS])
        echo(buffer.getvalue().rstrip("\n"))
        return
    if mode == "json":
        emit_json({"events": [event_record(event) for event in events]})
        return
    if not events:
        note("no audit events")
        return
    urgent = [event for event in events if event.urgent]
    if urgent:
        echo(f"BREAK GLASS: {plural(len(urgent), 'event')} of sends with --urgent, bypassing "
             "approval")
        _table(urgent, mode)
        echo()
        echo("All events")
    _table([event for event in events if not event.urgent] if urgent else events, mode)


def _table(events: Sequence[AuditEvent], mode: Mode) -> None:
    rows = []
    for event in events:
        who = event.actor if event.actor == event.os_user else f"{event.actor} ({event.os_user})"
        what = event.broadcast_id or (f"plan {event.plan_id[:12]}" if event.plan_id else "")
        accounts = ", ".join(event.accounts[:3]) + (
            f" +{len(event.accounts) - 3}" if len(event.accounts) > 3 else "")
        detail = "; ".join(part for part in (
            f"reason: {event.reason}" if event.reason else "",
            f"approved by {', '.join(event.approved_by)}" if event.approved_by else "",
            event.detail or "") if part)
        when = local_time(event.at) if mode == "rich" else event.at
        rows.append([when, who, event.host, event.kind, event.outcome, what, accounts,
                     detail])
    table(["When", "Who", "Host", "Did", "Outcome", "Broadcast", "Accounts", "Detail"], rows,
          mode, flexible=7)
