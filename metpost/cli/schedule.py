"""``metpost schedule``: list schedules, preview a slot, print the crontab line for ``due``."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click

from metpost.cli.due import Moment, schedules_option
from metpost.cli.options import checked_ledger, config_option, json_option, load

if TYPE_CHECKING:
    from metpost.models import Config
    from metpost.schedule import Schedule

DEFAULT_ENV_FILE = "/etc/metpost/env"
# Minutes between due runs that cron's */N keeps even across the hour; 60 is hourly.
EVEN_INTERVALS = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60)


@click.group()
def schedule() -> None:
    """Inspect the schedules in schedules.yaml and set up cron for metpost due."""


def _schedules(config_file: str,
               schedules_file: str | None) -> tuple[Config, tuple[Schedule, ...]]:
    from metpost.schedules_config import load_schedules, schedules_path

    config = load(config_file)
    return config, load_schedules(schedules_path(config, schedules_file), config)


@schedule.command("list")
@click.option("--now", "now", type=Moment(), metavar="TIME",
              help="Give each schedule's next slot at or after this time (ISO 8601 with an "
                   "offset) instead of now.")
@schedules_option
@json_option
@config_option
def list_schedules(now: datetime | None, schedules_file: str | None, as_json: bool,
                   config_file: str) -> None:
    """List the schedules, each with its next slot in its own time zone."""
    from datetime import UTC

    from metpost import output
    from metpost.schedule import describe_cron, next_slot

    _, schedules = _schedules(config_file, schedules_file)
    moment = now or datetime.now(UTC)
    rows = []
    for item in schedules:
        upcoming = next_slot(item, moment)
        rows.append({"name": item.name, "cron": item.cron, "when": describe_cron(item.cron),
                     "timezone": item.timezone,
                     "next": upcoming.at.isoformat() if upcoming else None})
    output.show_schedules(rows, output.output_mode(as_json))


@schedule.command()
@click.argument("name")
@click.option("--at", "at", type=Moment(with_offset=False), metavar="TIME",
              help="Preview the first slot at or after this time (ISO 8601; without an offset, "
                   "in the schedule's time zone), instead of the next one.")
@click.option("--full", is_flag=True, help="Show every post in full.")
@schedules_option
@json_option
@config_option
def preview(name: str, at: datetime | None, full: bool, schedules_file: str | None,
            as_json: bool, config_file: str) -> None:
    """Show a slot's posts as a dry run, with the rota entry that fills it.

    NAME is a schedule's name. Nothing is sent and no network call is made.
    """
    from datetime import UTC

    from metpost import output
    from metpost.due import prepare_slot
    from metpost.errors import EXIT_BAD_INPUT, MetpostError
    from metpost.schedule import next_slot, rota_entry
    from metpost.suggest import did_you_mean

    config, schedules = _schedules(config_file, schedules_file)
    by_name = {item.name: item for item in schedules}
    if name not in by_name:
        raise MetpostError(f"unknown schedule '{name}'{did_you_mean(name, by_name)}; see "
                           "metpost schedule list")
    chosen = by_name[name]
    moment = at or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=chosen.zone)
    slot = next_slot(chosen, moment)
    if slot is None:
        raise MetpostError(f"schedule '{name}' has no slot after {moment.isoformat()}")
    entry = rota_entry(slot)
    broadcast = prepare_slot(config, slot, os.environ)
    mode = output.output_mode(as_json)
    output.show_slot_heading(slot, entry, mode)
    extra = ({**output.slot_document(slot, entry), **output.broadcast_document(broadcast, config)}
             if mode == "json" else None)
    output.show_preview(broadcast.posts, mode, dry_run=True, full=full, extra=extra)
    output.show_broadcast_notes(broadcast, config, mode)
    if not broadcast.ok:
        raise click.exceptions.Exit(EXIT_BAD_INPUT)


def _even_interval(ctx: click.Context, param: click.Parameter, value: int) -> int:
    """--every, when cron's */N runs at even gaps: N divides the hour (*/45 would run at :00
    and :45, a gap of 15 minutes then one of 45), or is 60, once an hour."""
    if value not in EVEN_INTERVALS:
        raise click.BadParameter(f"{value} is not a number of minutes that divides the hour; "
                                 f"use one of {', '.join(map(str, EVEN_INTERVALS[:-1]))}, or 60 "
                                 "(hourly)")
    return value


def _metpost_command(python: str) -> list[str]:
    """This metpost, by absolute path: the console script beside the running Python (the
    venv's bin/, not resolved through its links), else that Python with -m metpost."""
    import shlex

    script = Path(python).absolute().parent / "metpost"
    if script.is_file() and os.access(script, os.X_OK):
        return [shlex.quote(str(script))]
    return [shlex.quote(str(Path(python).absolute())), "-m", "metpost"]


@schedule.command("cron-line")
@click.option("--every", type=int, default=5, show_default=True, callback=_even_interval,
              metavar="MINUTES",
              help="How often cron runs metpost due: a number of minutes that divides the hour "
                   f"({', '.join(map(str, EVEN_INTERVALS[:-1]))}), or 60 for hourly.")
@click.option("--env-file", default=DEFAULT_ENV_FILE, show_default=True, metavar="PATH",
              help="A file of NAME=value lines with the accounts' secrets, read by the shell "
                   "before metpost runs (keep it chmod 600).")
@click.option("--ledger", "ledger_file", metavar="PATH|URL", envvar="METPOST_LEDGER",
              callback=checked_ledger,
              help="The ledger due should use (also $METPOST_LEDGER; default: the one metpost "
                   "due picks in this shell, named in full in the line).")
@schedules_option
@config_option
def cron_line(every: int, env_file: str, ledger_file: str | None, schedules_file: str | None,
              config_file: str) -> None:
    """Print the crontab line that runs metpost due, for crontab -e.

    The line names this metpost by its absolute path, the config, the schedules (when given)
    and the ledger by theirs (without --ledger, the one metpost due would pick in this shell,
    since cron's environment would pick another), and loads the secrets from --env-file, since
    cron starts with an almost empty environment.

    due's --catch-up is the larger of its default, 30m, and twice --every, so that every slot
    is inside the window for at least two runs: --every 20 gives --catch-up 40m.
    """
    import shlex
    import sys

    from metpost import output
    from metpost.ledger import default_ledger_path
    from metpost.ledger.urls import is_database_url, refuse_password

    load(config_file)  # a line for a config that does not load would fail at every run
    if ledger_file and is_database_url(ledger_file):
        refuse_password(ledger_file)  # a crontab is no place for it, nor is the cron mail
    command = _metpost_command(sys.executable)
    arguments = ["due", "--config", str(Path(config_file).absolute())]
    if schedules_file:  # else due finds schedules.yaml beside the config, named absolutely
        arguments += ["--schedules", str(Path(schedules_file).absolute())]
    # Always named: cron's environment has no $XDG_DATA_HOME (nor, in another user's crontab,
    # this user's home), so a line without it could keep a ledger apart from this shell's.
    ledger = ledger_file or str(default_ledger_path())
    arguments += ["--ledger", ledger if is_database_url(ledger) else str(Path(ledger).absolute())]
    if (catch_up := catch_up_for(every)) != due_catch_up():
        minutes = int(catch_up.total_seconds()) // 60
        arguments += ["--catch-up", f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"]
    run = " ".join([*command, *(shlex.quote(argument) for argument in arguments)])
    line = (f"{_cron_times(every)} set -a && . {shlex.quote(str(Path(env_file).absolute()))} "
            f"&& set +a && exec {run}")
    notes = [f"Add it with crontab -e. {env_file} holds one NAME=value line per secret that "
             "metpost check lists; chmod 600 it."]
    if not ledger_file:
        notes.append(f"It names the ledger this shell's metpost uses by default, {ledger}; "
                     "pass --ledger to name another.")
    notes.append("metpost due prints nothing unless a slot failed or was missed, so cron mails "
                 "only then (set MAILTO in the crontab to choose who).")
    output.show_cron_line(line.replace("%", "\\%"), notes)


def catch_up_for(every: int) -> timedelta:
    """The catch-up window for a due run every ``every`` minutes: due's default, or twice the
    gap between runs when that is longer, so that each slot gets two runs (one to send it and
    one to retry) before it counts as missed."""
    return max(due_catch_up(), timedelta(minutes=2 * every))


def due_catch_up() -> timedelta:
    """metpost due's default --catch-up, read from the command itself so the two never differ."""
    from metpost.cli.due import due
    from metpost.schedule import parse_duration

    [option] = [param for param in due.params if param.name == "catch_up"]
    return parse_duration(str(option.default))


def _cron_times(every: int) -> str:
    """The cron schedule of a run every ``every`` minutes (a divisor of 60, or 60)."""
    return "0 * * * *" if every == 60 else f"*/{every} * * * *"
