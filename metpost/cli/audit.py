"""``metpost audit``: who planned, approved, applied, sent, retried and retracted what."""

from __future__ import annotations

import click

from metpost.cli.options import json_option, ledger_option

# The years --since may name. Its time is moved to UTC, up to a day either way, and compared
# with the ledger's times, all after 1970 ("--since 1970-01-01" means all of them).
FIRST_YEAR = 1970
LAST_YEAR = 9998


def since_option_value(ctx: click.Context, param: click.Parameter,
                       value: str | None) -> str | None:
    """``--since`` as the ledger's UTC text, refused out of range: the year 1's first midnight
    east of Greenwich is in the year 0 in UTC, a year no date holds."""
    from datetime import UTC, datetime, timedelta

    from metpost.audit import since_moment

    if value is None:
        return None
    try:
        start = datetime.fromisoformat(since_moment(value))
    except (ValueError, OverflowError):
        start = None
    # A time written in the years allowed is, in UTC, at most a day outside them.
    day = timedelta(days=1)
    earliest = datetime(FIRST_YEAR, 1, 1, tzinfo=UTC) - day
    latest = datetime(LAST_YEAR + 1, 1, 1, tzinfo=UTC) + day
    if start is None or not earliest <= start < latest:
        raise click.BadParameter(f"'{value}' is out of range: give a date or time in the years "
                                 f"{FIRST_YEAR} to {LAST_YEAR}", ctx, param)
    return start.isoformat(timespec="seconds")


@click.command()
@click.option("--since", metavar="DATE", callback=since_option_value,
              help="Only events from this date (2026-11-24, from local midnight) or time "
                   "(2026-11-24T14:30, local unless it has an offset) on.")
@click.option("--csv", "as_csv", is_flag=True,
              help="Print CSV: a header, then one row per event (lists joined with '; ').")
@json_option
@ledger_option
def audit(since: str | None, as_csv: bool, as_json: bool, ledger_file: str | None) -> None:
    """List the audit trail: who planned, approved, sent and retracted what, and when.

    Every plan, approval, apply, send (cron's included), retry and retract is an event in the
    ledger: who (the --as name, else the OS user, with the OS user and host), what (the
    broadcast, the plan and its digest, the accounts), when, and how it ended, refusals
    included. Sends made with --urgent, bypassing approval, are listed first. Events are
    append-only: the database refuses to change or delete them. Reads the ledger only.
    """
    from metpost import output
    from metpost.audit import urgent_first
    from metpost.cli.options import open_ledger
    from metpost.ledger import NoLedger

    if as_csv and as_json:
        raise click.UsageError("give one of --csv or --json")
    mode = output.output_mode(as_json)
    try:
        ledger = open_ledger(ledger_file, create=False)
    except NoLedger as missing:
        output.note(missing.problems[0])
        if as_csv or as_json:  # an empty document, so a script reading it need not care
            output.show_audit([], mode, as_csv=as_csv)
        return
    output.show_audit(urgent_first(ledger.events(since=since)), mode, as_csv=as_csv)
