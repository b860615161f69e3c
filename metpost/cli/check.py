"""``metpost check``."""

from __future__ import annotations

import os

import click

from metpost.cli.due import schedules_option
from metpost.cli.options import config_option, json_option, load


@click.command()
@click.option("--require-credentials", is_flag=True,
              help="Also fail (exit 2) when any account's secrets are not set.")
@schedules_option
@json_option
@config_option
def check(require_credentials: bool, schedules_file: str | None, as_json: bool,
          config_file: str) -> None:
    """Validate accounts.yaml and the templates, and show which secrets are set.

    Also validates schedules.yaml beside the config, when there is one (or --schedules), and
    counts live, planned and paused accounts when some are not live. Makes no network call.
    Exits 2 when the config, a template or the schedules are invalid.
    """
    from metpost import output
    from metpost.errors import EXIT_BAD_INPUT
    from metpost.schedules_config import schedules_path
    from metpost.setup_check import check_setup

    config = load(config_file)
    report = check_setup(config, os.environ, schedules_path(config, schedules_file),
                         schedules_given=schedules_file is not None)
    problems = [*report.template_problems, *report.credential_problems,
                *report.account_problems]
    if require_credentials and report.missing_credentials:
        lacking = list(report.missing_credentials)
        names = ", ".join(lacking[:5]) + (f" and {len(lacking) - 5} more"
                                          if len(lacking) > 5 else "")
        count = f"{len(lacking)} account lacks its" if len(lacking) == 1 else (
            f"{len(lacking)} accounts lack their")
        problems.append(f"{count} secrets ({names}); set them in the environment "
                        "(--require-credentials)")
    output.show_setup_report(report, output.output_mode(as_json), problems=problems)
    if problems:
        # The report (the JSON document, with --json) has been shown: the problems go to
        # stderr, one a line, and no second document follows it on stdout.
        for problem in problems:
            output.error(problem)
        raise click.exceptions.Exit(EXIT_BAD_INPUT)
