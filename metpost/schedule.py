"""Schedules and their slots: pure functions of schedules and times, no I/O.

A schedule posts a message at the times of a cron expression, read in the schedule's time zone
by cronsim, which keeps to Debian cron's rules for daylight saving (cronsim's README, "DST
Transitions"): a job whose time is skipped when clocks go forward runs at the moment they do (a
daily 01:30 in Europe/London runs at 02:00 on the March change day), and a job with a fixed time
that happens twice when clocks go back runs once, the first time (01:30 BST, not 01:30 GMT).

A slot is one such time, named by its local wall time (``2026-12-01T08:00``), so that the hour
October repeats is one slot even for an every-30-minutes schedule. Each slot is one broadcast,
keyed ``schedule:NAME:SLOT``; a schedule renamed with ``renamed_from: OLD`` (or a list of
every former name) finds its slots
sent as ``schedule:OLD:SLOT`` too, and goes on from OLD's last run, since a new name alone
would make its last slot look unsent.

``due_slots`` decides what ``metpost due`` looks at: every slot from the previous run's time
less the catch-up window (or, on a schedule's first run, from now less the window) up to now.
Slots inside the window are due; older ones are expired, reported ``missed`` unless they were
sent. A rota fills template variables from its entries in turn, one slot each, starting with the
first slot on or after ``rota_start``; a schedule with a rota has no slots before that date.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from metpost.selection import Selection

# How a slot's broadcast is keyed (schedule:NAME:SLOT); a --key people give may not begin so.
SLOT_KEY_PREFIX = "schedule:"
LOOKBACK = timedelta(days=7)  # the oldest slot `due` reports missed, however long it slept
DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


@dataclass(frozen=True)
class Schedule:
    """A message posted at the times of a cron expression, from schedules.yaml."""

    name: str
    cron: str  # five fields: minute hour day-of-month month day-of-week
    timezone: str  # IANA name; the cron expression is read in it
    selection: Selection
    template: str | None = None  # a template's name, or
    message: str | None = None  # an inline template
    vars: Mapping[str, str] = field(default_factory=dict)
    rota: tuple[Mapping[str, str], ...] = ()  # variables for each slot in turn
    rota_start: date | None = None
    public_safety: bool = False
    x_repost_from: str | None = None
    # its former names, newest first, whose sent slots and last run it keeps
    renamed_from: tuple[str, ...] = ()
    line: int = 0

    @property
    def zone(self) -> ZoneInfo:
        """The schedule's time zone."""
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Slot:
    """One time a schedule fires."""

    schedule: Schedule
    at: datetime  # aware, in the schedule's zone

    @property
    def key(self) -> str:
        """The local wall time, to the minute: the slot's name."""
        return self.at.strftime("%Y-%m-%dT%H:%M")

    @property
    def label(self) -> str:
        """The broadcast key of this slot (``--key``): ``schedule:NAME:SLOT``."""
        return f"{SLOT_KEY_PREFIX}{self.schedule.name}:{self.key}"

    @property
    def labels(self) -> tuple[str, ...]:
        """The keys this slot may have been sent under: its label, then those it had under
        the schedule's former names (``renamed_from``), which find a slot sent before a
        rename."""
        return (self.label, *(f"{SLOT_KEY_PREFIX}{former}:{self.key}"
                              for former in self.schedule.renamed_from))


@dataclass(frozen=True)
class DueSlot:
    """A slot ``metpost due`` looks at: due (inside the catch-up window) or expired."""

    slot: Slot
    expired: bool


def check_cron(expression: str) -> str | None:
    """Why ``expression`` is not a five-field cron expression, or None if it is one."""
    from cronsim import CronSim, CronSimError

    if len(expression.split()) != 5:
        return ("a cron expression has five fields: minute hour day-of-month month "
                "day-of-week, e.g. \"0 8 * * *\"")
    start = datetime(2026, 1, 1, tzinfo=ZoneInfo("UTC"))
    try:
        CronSim(expression, start)
    except CronSimError as error:
        minute, hour, day, month, weekday = expression.split()
        with contextlib.suppress(CronSimError):
            # cronsim refuses a day that no month given has (30 February) as a bad day
            CronSim(" ".join((minute, hour, day, "*", weekday)), start)
            return (f"day-of-month {day} never comes in month {month}, so this would never "
                    "run; give a day that month has")
        return f"not a cron expression: {str(error).lower()}"
    return None


def describe_cron(expression: str) -> str:
    """The cron expression in words ("At 08:00 every day")."""
    from cronsim import CronSim

    return CronSim(expression, datetime(2026, 1, 1, tzinfo=ZoneInfo("UTC"))).explain()


def _times_after(schedule: Schedule, moment: datetime) -> Iterator[datetime]:
    """The schedule's times after ``moment`` (to the second), each once per wall time: in the
    hour that October repeats, only the first 01:30 is a time, even when ``moment`` falls
    between the two, for the second is the same slot."""
    from cronsim import CronSim

    times = CronSim(schedule.cron, moment.astimezone(schedule.zone))
    while True:
        try:
            at = next(times)
        except OverflowError:  # the next time would fall after the year 9999: there is none
            return
        if at.fold and at.replace(fold=0).utcoffset() != at.utcoffset():
            continue  # the wall time's second coming (01:30 GMT after 01:30 BST)
        yield at


def _first_moment(schedule: Schedule) -> datetime | None:
    """Where the schedule's slots begin: local midnight of ``rota_start``, if it has a rota."""
    if schedule.rota_start is None:
        return None
    return datetime.combine(schedule.rota_start, time(0), schedule.zone)


def slots_between(schedule: Schedule, start: datetime, end: datetime) -> list[Slot]:
    """The slots with ``start <= at <= end``."""
    first = _first_moment(schedule)
    if first is not None and first > start:
        start = first
    if end < start:
        return []
    slots = []
    for at in _times_after(schedule, start - timedelta(seconds=1)):
        if at > end:
            break
        if at >= start:
            slots.append(Slot(schedule, at))
    return slots


def next_slot(schedule: Schedule, moment: datetime) -> Slot | None:
    """The first slot at or after ``moment`` (None if the cron expression never fires)."""
    first = _first_moment(schedule)
    start = max(moment, first) if first is not None else moment
    for at in _times_after(schedule, start - timedelta(seconds=1)):
        if at >= start:
            return Slot(schedule, at)
    return None


# The turns counted so far, per schedule times (cron, zone, rota_start): for each slot counted,
# its time and how many slots came before it, in time order. Counting for another slot goes on
# from the latest of these before it, so that the slots one run looks at cost one pass since
# rota_start rather than one each.
_TURNS_COUNTED: dict[tuple[str, str, date], list[tuple[datetime, int]]] = {}


def rota_entry(slot: Slot) -> tuple[int, Mapping[str, str]] | None:
    """The rota entry that fills ``slot`` (its index and values), or None without a rota: the
    one after as many turns as the schedule had slots from ``rota_start`` until this one."""
    schedule = slot.schedule
    first = _first_moment(schedule)
    if not schedule.rota or first is None or schedule.rota_start is None:
        return None
    times = (schedule.cron, str(schedule.zone), schedule.rota_start)
    counted = _TURNS_COUNTED.setdefault(times, [])
    before = bisect.bisect_right(counted, slot.at, key=lambda point: point[0])
    start, turns = counted[before - 1] if before else (first, 0)
    turns += times_within(schedule, start, slot.at)
    if not (before and counted[before - 1][0] == slot.at):
        counted.insert(before, (slot.at, turns))
    index = turns % len(schedule.rota)
    return index, schedule.rota[index]


def times_within(schedule: Schedule, start: datetime, end: datetime) -> int:
    """How many of the schedule's times fall in ``start <= at < end``.

    Counted a local day at a time: a whole day on which the clocks do not change has either
    none of the schedule's times or as many as any other (its minutes times its hours), so
    only the part days at either end, and days the clocks change, are walked time by time.
    Years of a schedule every five minutes cost a few thousand steps, not a hundred thousand.
    """
    from cronsim import CronSim

    zone = schedule.zone

    def midnight(day: date) -> datetime:
        return datetime.combine(day, time(0), zone)

    first_day = start.astimezone(zone).date() + timedelta(days=1)  # the first whole day
    end_day = end.astimezone(zone).date()  # whole days end where this one begins
    if first_day >= end_day:
        return _walk(schedule, start, end)
    count = _walk(schedule, start, midnight(first_day)) + _walk(schedule, midnight(end_day), end)
    _, _, day_of_month, month, day_of_week = schedule.cron.split()
    if (day_of_month, month, day_of_week) == ("*", "*", "*"):  # every day: count them
        changes = _clock_change_days(zone, first_day, end_day)
        plain_days = (end_day - first_day).days - len(changes)
        return (count + plain_days * _times_in_a_day(schedule.cron)
                + sum(_walk(schedule, midnight(day), midnight(day + timedelta(days=1)))
                      for day in changes))
    days = CronSim(f"0 0 {day_of_month} {month} {day_of_week}",
                   datetime.combine(first_day, time(0), UTC) - timedelta(seconds=1))
    for moment in days:  # (in UTC, which has no clock changes: the days the fields take)
        day = moment.date()
        if day >= end_day:
            break
        after = day + timedelta(days=1)
        if midnight(day).utcoffset() == midnight(after).utcoffset():
            count += _times_in_a_day(schedule.cron)
        else:
            count += _walk(schedule, midnight(day), midnight(after))
    return count


def _clock_change_days(zone: ZoneInfo, first: date, end: date) -> list[date]:
    """The days from ``first`` up to ``end`` at whose next midnight the clocks are on another
    offset than at their own, looked for a week at a time (no zone has changed its clocks
    twice within a week)."""
    def offset(day: date) -> timedelta | None:
        return datetime.combine(day, time(0), zone).utcoffset()

    changes = []
    week = first
    while week < end:
        week_end = min(week + timedelta(days=7), end)
        if offset(week) != offset(week_end):
            changes += [week + timedelta(days=n) for n in range((week_end - week).days)
                        if offset(week + timedelta(days=n)) != offset(week + timedelta(days=n + 1))]
        week = week_end
    return changes


def _walk(schedule: Schedule, start: datetime, end: datetime) -> int:
    """``times_within``, time by time."""
    count = 0
    for at in _times_after(schedule, start - timedelta(seconds=1)):
        if at >= end:
            break
        count += at >= start
    return count


@cache
def _times_in_a_day(cron: str) -> int:
    """How many times the cron expression's minutes and hours give one day."""
    from cronsim import CronSim

    minute, hour, *_ = cron.split()
    day = datetime(2026, 1, 1, tzinfo=UTC)
    times = CronSim(f"{minute} {hour} * * *", day - timedelta(seconds=1))
    return sum(1 for _ in itertools.takewhile(lambda at: at < day + timedelta(days=1), times))


def slot_variables(slot: Slot) -> dict[str, str]:
    """The template variables of ``slot``: the schedule's vars, then its rota entry's."""
    values = dict(slot.schedule.vars)
    entry = rota_entry(slot)
    if entry is not None:
        values.update(entry[1])
    return values


def due_slots(schedules: Sequence[Schedule], now: datetime, catch_up: timedelta,
              checked_until: Mapping[str, datetime | None]) -> list[DueSlot]:
    """The slots ``metpost due`` looks at ``now``, oldest first.

    ``checked_until`` is, per schedule name, the ``now`` of the previous run (None: never
    run); a renamed schedule's first run goes on from its former name's. The slots looked at
    begin at that time (or now, on a first run, or if it lies ahead) less the catch-up window,
    and at most ``LOOKBACK`` before now; a slot more than ``catch_up`` old is expired.
    """
    looked: list[DueSlot] = []
    for schedule in schedules:
        previous = checked_until.get(schedule.name)
        for former in schedule.renamed_from:
            if previous is None:
                previous = checked_until.get(former)
        since = previous if previous is not None and previous <= now else now
        start = max(since - catch_up, now - LOOKBACK)
        for slot in slots_between(schedule, start, now):
            looked.append(DueSlot(slot=slot, expired=now - slot.at > catch_up))
    return sorted(looked, key=lambda due: (due.slot.at, due.slot.schedule.name))


class DurationTooLong(ValueError):
    """A duration written correctly, but longer than where it is used allows."""


def parse_duration(text: str, longest: timedelta = timedelta.max) -> timedelta:
    """``30m``, ``2h``, ``1h30m``, ``90s``, ``1d`` as a timedelta; ValueError otherwise.

    One longer than ``longest`` is refused too (DurationTooLong): a duration is added to or
    taken from a date, and a date plus 99999999999999d is no date at all (timedelta itself
    stops at 999999999d).
    """
    match = DURATION.fullmatch(text.strip())
    if not text.strip() or match is None or not any(match.groups()):
        raise ValueError(f"'{text}' is not a duration like 30m, 2h, 1h30m or 90s")
    try:
        days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
        duration = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    except (ValueError, OverflowError):  # more digits than int() reads, or timedelta holds
        duration = None
    if duration is None or duration > longest:
        raise DurationTooLong(f"'{text.strip()}' is longer than {compact_duration(longest)}, the "
                         "most it may be")
    return duration


def compact_duration(duration: timedelta) -> str:
    """``duration`` as parse_duration reads it: ``7d``, ``1h30m``, ``90s`` as ``1m30s``."""
    hours, rest = divmod(duration.seconds, 3600)  # whole numbers: total_seconds() rounds
    parts = zip((duration.days, hours, *divmod(rest, 60)), "dhms", strict=True)
    return "".join(f"{amount}{unit}" for amount, unit in parts if amount) or "0s"


def parse_moment(text: str, zone: ZoneInfo | None = None) -> datetime:
    """An ISO 8601 time (``2026-12-01T08:00:00+00:00``, ``...Z``). Without an offset it is read
    in ``zone``, or refused when there is none; ValueError otherwise."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"'{text}' is not an ISO 8601 time like 2026-12-01T08:00:00+00:00"
                         ) from None
    if moment.tzinfo is None:
        if zone is None:
            raise ValueError(f"'{text}' has no offset: write it like 2026-12-01T08:00:00+00:00 "
                             "or 2026-12-01T08:00:00Z")
        moment = moment.replace(tzinfo=zone)
    return moment
