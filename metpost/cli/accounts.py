"""``metpost accounts``."""

from __future__ import annotations

from typing import Any

import click

from metpost.cli.options import config_option, json_option, load, selection_from, selection_options


@click.group()
def accounts() -> None:
    """Inspect the accounts in accounts.yaml."""


@accounts.command("list")
@selection_options
@json_option
@config_option
def list_accounts(as_json: bool, config_file: str, **options: Any) -> None:
    """List accounts: every one, or those the selection options choose."""
    from dataclasses import replace

    from metpost import output
    from metpost.plugins import platform_classes
    from metpost.selection import select_accounts

    selection = selection_from(options)
    if selection.empty:
        selection = replace(selection, all=True)
    chosen = select_accounts(load(config_file), selection, platform_classes())
    output.show_accounts(chosen, output.output_mode(as_json))
