"""``metpost check``."""

from __future__ import annotations

import os

import click

from metpost.cli.options import config_option, json_option, load


@click.command()
@click.option("--require-credentials", is_flag=True,
              help="Also fail (exit 2) when any account's secrets are not set.")
@json_option
@config_option
def check(require_credentials: bool, as_json: bool, config_file: str) -> None:
    """Validate accounts.yaml and the templates, and show which secrets are set.

    Makes no network call. Exits 2 when the config or a template is invalid.
    """
    from metpost import output
    from metpost.errors import MetpostError
    from metpost.setup_check import check_setup

    report = check_setup(load(config_file), os.environ)
    output.show_setup_report(report, output.output_mode(as_json))
    if report.template_problems:
        raise MetpostError(*report.template_problems)
    if require_credentials and report.missing_credentials:
        raise MetpostError(f"{len(report.missing_credentials)} accounts lack credentials "
                           "(--require-credentials)")
