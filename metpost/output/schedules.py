"""Schedules: ``metpost due``'s report, ``schedule list``, a slot's preview and the cron line.

``due`` is quiet for cron: nothing at all when nothing was due or every slot went out (unless
``--verbose``); when something failed or was missed, a summary on stderr, which cron mails.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from metpost.output.base import Mode, echo, emit_json, note, table

if TYPE_CHECKING:
    from metpost.due import SlotOutcome
    from metpost.schedule import Slot


def slot_record(outcome: SlotOutcome) -> dict[str, Any]:
    """The JSON form of what ``due`` did about one slot."""
    return {"schedule": outcome.slot.schedule.name, "slot": outcome.slot.key,
            "status": outcome.status, "broadcast": outcome.broadcast, "error": outcome.error}


def show_due(outcomes: Sequence[SlotOutcome], mode: Mode, *, verbose: bool,
             notes: Sequence[str] = ()) -> None:
    """The slots looked at: JSON when asked; one line each with ``verbose`` (and, for a dry
    run's slot, each post it would send); and, when any failed or was missed, or ``notes``
    say what the run could not record, a summary on stderr."""
    if mode == "json":
        document: dict[str, Any] = {"slots": [slot_record(outcome) for outcome in outcomes]}
        if notes:
            document["notes"] = list(notes)
        emit_json(document)
    elif verbose:
        if not outcomes:
            echo("no slot was due")
        for outcome in outcomes:
            echo(_line(outcome))
            if outcome.preview is not None:
                for post in outcome.preview.posts:
                    text = post.text.replace("\n", "\n      ")
                    echo(f"    {post.account.name}: {text}")
    problems = [outcome for outcome in outcomes if outcome.problem]
    if not problems and not notes:
        return
    if problems:
        note(f"metpost due: {len(problems)} of {len(outcomes)} slot"
             f"{'s' if len(outcomes) != 1 else ''} need{'s' if len(problems) == 1 else ''} "
             "attention:")
    for line in _summary_lines(problems):
        note("  " + line)
    # A slot still inside the window is tried again by the next run; one outside it says
    # itself that metpost retry finishes it.
    broadcasts = sorted({o.broadcast for o in problems
                         if o.broadcast and o.status != "missed" and not o.expired})
    for broadcast in broadcasts:
        note(f"  the next metpost due within the catch-up window tries again; or run: "
             f"metpost retry {broadcast}")
    for line in notes:
        note(f"metpost due: {line}")


# Missed slots of one schedule in a row, beyond which the summary gives them as one range: after
# a long outage a five-minute schedule misses hundreds, and cron's mail is for people.
MISSED_IN_FULL = 3


def _summary_lines(problems: Sequence[SlotOutcome]) -> list[str]:
    """One line per slot that needs attention, except that a run of more than
    ``MISSED_IN_FULL`` missed slots of one schedule, one after another, is one line."""
    lines: list[str] = []
    index = 0
    while index < len(problems):
        outcome = problems[index]
        run = index + 1
        while (outcome.status == "missed" and run < len(problems)
               and problems[run].status == "missed"
               and problems[run].slot.schedule.name == outcome.slot.schedule.name):
            run += 1
        if run - index > MISSED_IN_FULL:
            last = problems[run - 1]
            lines.append(f"{'missed':<12} {outcome.slot.schedule.name} {outcome.slot.key} to "
                         f"{last.slot.key}: {run - index} slots not sent within the catch-up "
                         "window")
            index = run
            continue
        lines.append(_line(outcome))
        index += 1
    return lines


def _line(outcome: SlotOutcome) -> str:
    slot = outcome.slot
    where = f" broadcast {outcome.broadcast}" if outcome.broadcast else ""
    why = f": {outcome.error}" if outcome.error else ""
    return f"{outcome.status:<12} {slot.schedule.name} {slot.key}{where}{why}"


def show_schedules(rows: Sequence[Mapping[str, Any]], mode: Mode) -> None:
    """Each schedule with its cron expression (and in words), zone and next slot."""
    if mode == "json":
        emit_json({"schedules": [{key: row[key] for key in ("name", "cron", "timezone", "next")}
                                 for row in rows]})
        return
    table(("Name", "Cron", "When", "Time zone", "Next slot"),
          [(row["name"], row["cron"], row["when"], row["timezone"], row["next"] or "never")
           for row in rows], mode)


def show_slot_heading(slot: Slot, entry: tuple[int, Mapping[str, str]] | None,
                      mode: Mode) -> None:
    """Which slot a preview shows, and the rota entry that fills it (not in JSON)."""
    if mode == "json":
        return
    schedule = slot.schedule
    note(f"schedule {schedule.name}, slot {slot.key} ({schedule.timezone}, "
         f"{slot.at.isoformat()})")
    if entry is not None:
        index, values = entry
        filled = ", ".join(f"{name}={value}" for name, value in values.items())
        note(f"rota entry {index + 1} of {len(schedule.rota)}: {filled}")


def slot_document(slot: Slot, entry: tuple[int, Mapping[str, str]] | None) -> dict[str, Any]:
    """The keys a slot's preview adds to the preview's JSON document."""
    return {"schedule": slot.schedule.name, "slot": slot.key, "at": slot.at.isoformat(),
            "rota_entry": None if entry is None else {"index": entry[0], "vars": dict(entry[1])}}


def show_cron_line(line: str, notes: Sequence[str]) -> None:
    """The crontab line on stdout (so it can be piped), what to know about it on stderr."""
    echo(line)
    for text in notes:
        note(text)
