"""``metpost send``."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from metpost.cli.options import (
    config_option,
    delivery_from,
    delivery_options,
    json_option,
    load,
    selection_from,
    selection_options,
    text_argument,
)


def parse_vars(_ctx: click.Context, _param: click.Parameter,
               values: tuple[str, ...]) -> dict[str, str]:
    """``--var name=value`` pairs to a dict."""
    parsed: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"'{item}' is not NAME=VALUE, e.g. --var rumour=\"a fire\"")
        parsed[name.strip()] = value
    return parsed


@click.command()
@selection_options
@click.option("--template", "template_name", metavar="NAME",
              help="Template from templates/ (see metpost templates list).")
@click.option("--message", "-m", metavar="TEXT",
              help="Inline template text instead of --template, e.g. \"Roads around "
                   "{{ borough }} are reopening.\"")
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE", callback=parse_vars,
              help="A template variable (repeatable).")
@click.option("--dry-run", "-n", is_flag=True,
              help="Render and check every post and show it; send nothing, make no network call.")
@click.option("--yes", "-y", is_flag=True,
              help="Post without asking (needed when not on a terminal, e.g. from cron).")
@click.option("--key", metavar="KEY",
              help="Name this broadcast (e.g. a scheduler's slot): a rerun with the same key "
                   "posts nothing twice, even if the text renders differently.")
@click.option("--again", is_flag=True,
              help="Post even if this identical broadcast was sent before.")
@delivery_options
@json_option
@config_option
def send(template_name: str | None, message: str | None, variables: dict[str, str],
         dry_run: bool, yes: bool, key: str | None, again: bool, as_json: bool,
         config_file: str, **options: Any) -> None:
    """Render a message for each selected account and post it.

    Every post is rendered and checked (length counted the platform's way, credentials set)
    before the first is sent; if any fails, nothing is sent and the exit code is 2. Posts are
    recorded in the ledger, so re-running the identical send posts nothing twice: each post is
    reported as already sent. Failed or unknown posts can be finished with metpost retry.

    \b
    Examples:
      metpost send --borough Hackney --template rumour-control \\
          --var rumour="a stabbing at Mare Street" --dry-run
      metpost send --tag bcu-ce --message "Roads around {{ borough }} are reopening." --yes
    """
    from dataclasses import replace

    from metpost import output
    from metpost.cli.interrupt import EXIT_INTERRUPTED, stop_on_ctrl_c
    from metpost.errors import EXIT_BAD_INPUT, CheckFailed, MetpostError
    from metpost.render import inline_template, load_template
    from metpost.runner import exit_code_for, prepare
    from metpost.runner import send as send_broadcast

    if bool(template_name) == bool(message):
        raise click.UsageError("give exactly one of --template NAME or --message TEXT")
    if message is not None:
        text_argument(message, "--message")
    for name, value in variables.items():
        text_argument(value, f"--var {name}")
    selection = selection_from(options)
    config = load(config_file)
    template = (load_template(config.templates_dir, template_name) if template_name
                else inline_template(message or ""))
    broadcast = prepare(config, selection, template, variables, os.environ)
    mode = output.output_mode(as_json)

    if dry_run:
        output.show_preview(broadcast.posts, mode, dry_run=True)
        if not broadcast.ok:
            raise click.exceptions.Exit(EXIT_BAD_INPUT)
        return
    if not broadcast.ready:
        output.show_preview(broadcast.posts, mode, dry_run=False)
        raise CheckFailed(*broadcast.blocking_problems(), "nothing was sent")
    if not yes:
        if not sys.stdin.isatty():
            raise MetpostError("not on a terminal: add --yes to post without confirmation "
                               "(or --dry-run to preview)")
        output.show_preview(broadcast.posts, mode, dry_run=False)
        count = len(broadcast.posts)
        if not click.confirm(f"Post to {count} account{'s' if count != 1 else ''}?"):
            output.note("Nothing was sent.")
            raise click.exceptions.Exit(0)
    ledger, control = delivery_from(options)
    with stop_on_ctrl_c() as stop:
        outcome = send_broadcast(
            broadcast, ledger, os.environ, key=key, again=again,
            control=replace(control, stop=stop,
                            on_result=lambda result: output.show_result(result, mode)))
    output.show_outcome(outcome, mode, broadcast.posts)
    raise click.exceptions.Exit(EXIT_INTERRUPTED if outcome.interrupted
                                else exit_code_for(outcome.results))
