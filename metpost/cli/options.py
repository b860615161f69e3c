"""Options shared by several commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from metpost.models import Config
    from metpost.selection import Selection

F = TypeVar("F", bound=Callable[..., Any])


def config_option(function: F) -> F:
    """``--config PATH`` (or $METPOST_CONFIG), defaulting to ./accounts.yaml."""
    return click.option(
        "--config", "config_file", metavar="PATH", envvar="METPOST_CONFIG",
        default="accounts.yaml", show_default=True,
        help="Accounts file (also $METPOST_CONFIG). Templates are read from templates/ beside it.",
    )(function)


def json_option(function: F) -> F:
    """``--json``."""
    return click.option("--json", "as_json", is_flag=True,
                        help="Print a JSON document instead of a table.")(function)


def selection_options(function: F) -> F:
    """The options that choose accounts."""
    decorators = [
        click.option("--borough", "-b", multiple=True, metavar="NAME",
                     help="Accounts for this borough (repeatable, any case)."),
        click.option("--personality", "-p", multiple=True, metavar="KEY",
                     help="Accounts speaking as this personality (repeatable)."),
        click.option("--tag", "-t", multiple=True, metavar="TAG",
                     help="Accounts with this tag, e.g. bcu-ce or central (repeatable)."),
        click.option("--account", "-a", "account_names", multiple=True, metavar="NAME",
                     help="This account by name (repeatable)."),
        click.option("--all", "all_accounts", is_flag=True, help="Every account."),
        click.option("--platform", multiple=True, metavar="NAME",
                     help="Keep only accounts on this platform, e.g. x or facebook (repeatable)."),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def selection_from(options: dict[str, Any]) -> Selection:
    """Build a Selection from the keyword arguments ``selection_options`` adds."""
    from metpost.selection import Selection

    return Selection(
        boroughs=tuple(options.pop("borough")),
        personalities=tuple(options.pop("personality")),
        tags=tuple(options.pop("tag")),
        accounts=tuple(options.pop("account_names")),
        all=options.pop("all_accounts"),
        platforms=tuple(options.pop("platform")),
    )


def load(config_file: str) -> Config:
    """Load and validate the config named on the command line."""
    from pathlib import Path

    from metpost.config import load_config

    return load_config(Path(config_file))
