"""``metpost due``: run from cron every few minutes; sends the schedule slots that fell due."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

import click

from metpost.cli.options import config_option, delivery_from, delivery_options, json_option, load
from metpost.schedule import LOOKBACK


class Duration(click.ParamType):
    """A duration like 30m, 2h, 1h30m or 90s, at most ``longest`` (``why`` says why) and at
    least ``shortest`` (``why_not_shorter`` says why)."""

    name = "duration"

    def __init__(self, longest: timedelta, why: str, shortest: timedelta = timedelta(0),
                 why_not_shorter: str = "") -> None:
        self.longest = longest
        self.why = why
        self.shortest = shortest
        self.why_not_shorter = why_not_shorter

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> timedelta:
        """``value`` as a timedelta, or a usage error that shows the accepted forms."""
        from metpost.schedule import DurationTooLong, parse_duration

        if isinstance(value, timedelta):
            return value
        try:
            duration = parse_duration(str(value), self.longest)
        except DurationTooLong as error:
            self.fail(f"{error}: {self.why}", param, ctx)
        except ValueError as error:
            self.fail(str(error), param, ctx)
        if duration < self.shortest:
            self.fail(f"'{value}' is too short: {self.why_not_shorter}", param, ctx)
        return duration


class Moment(click.ParamType):
    """An ISO 8601 time; ``with_offset`` refuses one without a UTC offset.

    Only years ``FIRST_YEAR`` to ``LAST_YEAR``: the time has days added and taken away (the
    week ``due`` looks back, a time zone's offset), and the result must still be a date that
    Python and the ledger's timestamps hold (years 1 to 9999, after 1970).
    """

    name = "time"
    FIRST_YEAR = 1971
    LAST_YEAR = 9998

    def __init__(self, with_offset: bool = True) -> None:
        self.with_offset = with_offset

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> datetime:
        """``value`` as a datetime (naive only when ``with_offset`` is false)."""
        if isinstance(value, datetime):
            return value
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError:
            self.fail(f"'{value}' is not an ISO 8601 time like 2026-12-01T08:00:00+00:00",
                      param, ctx)
        if self.with_offset and moment.tzinfo is None:
            self.fail(f"'{value}' has no offset: write it like 2026-12-01T08:00:00+00:00 or "
                      "2026-12-01T08:00:00Z", param, ctx)
        if not self.FIRST_YEAR <= moment.year <= self.LAST_YEAR:
            self.fail(f"'{value}' is out of range: give a time in the years {self.FIRST_YEAR} "
                      f"to {self.LAST_YEAR}", param, ctx)
        return moment


def schedules_option(function: Any) -> Any:
    """``--schedules PATH`` (or $METPOST_SCHEDULES)."""
    return click.option(
        "--schedules", "schedules_file", metavar="PATH", envvar="METPOST_SCHEDULES",
        help="Schedules file (also $METPOST_SCHEDULES; default: schedules.yaml beside the "
             "accounts file).")(function)


@click.command()
@click.option("--catch-up", default="30m", show_default=True, metavar="DURATION",
              type=Duration(LOOKBACK, f"slots more than {LOOKBACK.days} days old are never "
                                      "looked at", shortest=timedelta(minutes=1),
                            why_not_shorter="give at least 1m (cron starts metpost due up to a "
                                            "minute after a slot: every slot would be missed)"),
              help=f"Send a slot up to this long after its time (e.g. 30m, 2h; at most "
                   f"{LOOKBACK.days}d); an older slot that was not sent is reported missed.")
@click.option("--now", "now", type=Moment(), metavar="TIME",
              help="Act as if it were this time (ISO 8601 with an offset, e.g. "
                   "2026-12-01T08:05:00+00:00), to test or to catch up by hand.")
@click.option("--dry-run", "-n", is_flag=True,
              help="Show which slots are due and check their posts; send nothing, write no "
                   "ledger.")
@click.option("--verbose", "-v", is_flag=True,
              help="Print a line for every slot looked at, even when all went well.")
@schedules_option
@delivery_options
@json_option
@config_option
def due(catch_up: timedelta, now: datetime | None, dry_run: bool, verbose: bool,
        schedules_file: str | None, as_json: bool, config_file: str, **options: Any) -> None:
    """Send every schedule slot that fell due since the previous run.

    Meant for cron, every few minutes (metpost schedule cron-line prints the line). Each slot
    is one broadcast keyed schedule:NAME:SLOT, so reruns, overlapping runs and machines
    sharing a ledger never post a slot twice, and a slot whose send failed is tried again by
    the next run within --catch-up. Never asks for confirmation. Prints nothing when nothing
    was due or all went well; otherwise a summary on stderr, and exits 1 (cron mails it).
    """
    from dataclasses import replace
    from datetime import UTC

    from metpost import output
    from metpost.cli.interrupt import EXIT_INTERRUPTED, stop_on_ctrl_c
    from metpost.due import DueReportIncomplete, run_due
    from metpost.errors import EXIT_OK, EXIT_SOME_FAILED
    from metpost.ledger import Ledger, NoLedger, open_ledger
    from metpost.runner import RunControl
    from metpost.schedules_config import load_schedules, schedules_path

    config = load(config_file)
    schedules = load_schedules(schedules_path(config, schedules_file), config)
    moment = now or datetime.now(UTC)
    ledger: Ledger | None
    if dry_run:  # a dry run reads a ledger that exists, and never makes one
        try:
            ledger = open_ledger(options.get("ledger_file"), create=False)
        except NoLedger:
            ledger = None
        control = RunControl()
    else:
        ledger, control = delivery_from(options)
    unrecorded: list[str] = []
    with stop_on_ctrl_c() as stop:
        try:
            outcomes = run_due(config, schedules, ledger, os.environ, moment, catch_up,
                               dry_run=dry_run, control=replace(control, stop=stop))
        except DueReportIncomplete as incomplete:
            outcomes, unrecorded = incomplete.outcomes, [incomplete.problem]
    # A dry run is asked for to be read: it always shows each slot, and what it would send.
    output.show_due(outcomes, output.output_mode(as_json), verbose=verbose or dry_run,
                    notes=unrecorded)
    if stop.is_set():
        raise click.exceptions.Exit(EXIT_INTERRUPTED)
    problem = unrecorded or any(outcome.problem for outcome in outcomes)
    raise click.exceptions.Exit(EXIT_SOME_FAILED if problem else EXIT_OK)
