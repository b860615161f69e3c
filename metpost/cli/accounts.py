"""``metpost accounts``."""

from __future__ import annotations

from typing import Any

import click

from metpost.cli.options import (
    Seconds,
    config_option,
    json_option,
    load,
    selection_from,
    selection_options,
)


@click.group()
def accounts() -> None:
    """Inspect the accounts in accounts.yaml."""


@accounts.command("list")
@selection_options
@json_option
@config_option
def list_accounts(as_json: bool, config_file: str, **options: Any) -> None:
    """List accounts: every one, or those the selection options choose.

    Planned and paused accounts are listed too, with their status.
    """
    from dataclasses import replace

    from metpost import output
    from metpost.plugins import platform_classes
    from metpost.selection import choose_accounts

    selection = selection_from(options)
    if selection.empty:
        selection = replace(selection, all=True)
    chosen = choose_accounts(load(config_file), selection, platform_classes(),
                             include_inactive=True).accounts
    output.show_accounts(chosen, output.output_mode(as_json))


@accounts.command()
@selection_options
@click.option("--connect-timeout", type=Seconds(0.1), default=5, show_default=True,
              metavar="SECONDS", help="Wait this long for a platform to accept a connection.")
@click.option("--read-timeout", type=Seconds(0.1), default=20, show_default=True,
              metavar="SECONDS", help="Wait this long for a platform to answer.")
@json_option
@config_option
def verify(connect_timeout: float, read_timeout: float, as_json: bool, config_file: str,
           **options: Any) -> None:
    """Ask each platform whom each account's credentials belong to.

    Every selected account (all of them by default, planned and paused ones too) is asked at
    once, and nothing is posted: X with GET /2/users/me, Facebook with GET /{page-id}. Each is
    ok (with the handle or page name the platform gives), a mismatch with the handle in
    accounts.yaml, or why not: a variable not set, a token refused or expired, a page the token
    cannot reach. Exits 1 if any is not ok.
    """
    import os
    from dataclasses import replace

    from metpost import output
    from metpost.errors import EXIT_OK, EXIT_SOME_FAILED
    from metpost.platforms.api import Timeouts
    from metpost.plugins import platform_classes
    from metpost.selection import choose_accounts
    from metpost.verify import verify_accounts

    selection = selection_from(options)
    if selection.empty:
        selection = replace(selection, all=True)
    chosen = choose_accounts(load(config_file), selection, platform_classes(),
                             include_inactive=True).accounts
    checked = verify_accounts(chosen, os.environ,
                              Timeouts(connect=connect_timeout, read=read_timeout))
    output.show_verifications(checked, output.output_mode(as_json))
    raise click.exceptions.Exit(EXIT_SOME_FAILED if any(v.ok is False for v in checked)
                                else EXIT_OK)
