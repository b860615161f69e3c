"""``metpost apply``: post an approved plan exactly as it was planned."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from metpost.cli.options import (
    as_option,
    config_option,
    delivery_from,
    delivery_options,
    json_option,
    load,
)


@click.command()
@click.argument("plan_file", metavar="FILE")
@as_option
@click.option("--yes", "-y", is_flag=True,
              help="Post without asking (needed when not on a terminal, e.g. from cron).")
@click.option("--full", is_flag=True,
              help="Show every post in full, instead of each distinct text once with the "
                   "accounts that get it.")
@delivery_options
@json_option
@config_option
def apply(plan_file: str, as_name: str | None, yes: bool, full: bool, as_json: bool,
          config_file: str, **options: Any) -> None:
    """Post a plan exactly as it was planned and approved.

    The texts, threads and images are the plan's, not rendered again, and go out through the
    ledger as a send's do: a rerun posts nothing twice, and a run that stopped mid-way is
    finished by the next. Nothing is sent (exit 2) when the plan was edited after it was made
    or approved, an approval accounts.yaml requires is missing (or is the author's own under
    approvals.two_person), the plan has expired, an account is no longer in the config, not
    live or posts elsewhere than when the plan was made (its platform, handle, api_url, page,
    instance, webhook url or feed file changed), an image is not the file that was checked, or
    the plan's --key names a broadcast this plan did not begin. FILE must be a regular file.
    """
    from dataclasses import replace
    from datetime import UTC, datetime
    from pathlib import Path

    from metpost import output
    from metpost.audit import Actor, EventKind
    from metpost.cli.interrupt import EXIT_INTERRUPTED, stop_on_ctrl_c
    from metpost.errors import MetpostError
    from metpost.reviews import read_plan_file, ready_to_apply, review
    from metpost.runner import exit_code_for, send_planned

    actor = Actor.current(as_name)
    config = load(config_file)
    plan = read_plan_file(Path(plan_file))
    ledger, control = delivery_from(options, create=False)
    mode = output.output_mode(as_json)
    checked = review(plan, plan_file, config, ledger, os.environ,
                     refused=(EventKind.APPLY, actor))
    ready = ready_to_apply(checked, config, ledger, actor, datetime.now(UTC))
    if not yes and not sys.stdin.isatty():
        raise MetpostError("not on a terminal: add --yes to post without confirmation")
    names = plan.accounts
    owed = ready.progress.owed(names) if ready.progress else names
    if ready.progress is not None:
        output.show_apply_rerun(ready.progress, names)
    if not yes and owed:
        output.show_preview([post for post in checked.posts if post.account.name in owed], mode,
                            dry_run=False, full=full,
                            heading=f"About to post plan {plan.short_id}")
        if not click.confirm(f"Post to {len(owed)} account{'s' if len(owed) != 1 else ''}?"):
            output.note("Nothing was sent.")
            raise click.exceptions.Exit(0)
    with stop_on_ctrl_c() as stop:
        outcome = send_planned(
            ledger, ready.key, ready.planned, ready.accounts, os.environ,
            source=plan.template, label=plan.key, public_safety=plan.public_safety,
            audit=ready.audit,
            control=replace(control, stop=stop,
                            on_result=lambda result: output.show_result(result, mode)))
    output.show_outcome(outcome, mode, checked.posts)
    raise click.exceptions.Exit(EXIT_INTERRUPTED if outcome.interrupted
                                else exit_code_for(outcome.results))
