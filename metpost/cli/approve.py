"""``metpost approve``: a person's approval of a plan's content, recorded in the ledger."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import click

from metpost.cli.options import (
    as_option,
    config_option,
    file_to_write,
    json_option,
    ledger_option,
    load,
)

if TYPE_CHECKING:
    from metpost.models import Config
    from metpost.reviews import PlanReview


@click.command()
@click.argument("plan_file", metavar="FILE")
@as_option
@click.option("--yes", "-y", is_flag=True,
              help="Approve without asking (needed when not on a terminal).")
@click.option("--html", "html_file", metavar="PAGE", callback=file_to_write,
              help="Also write the plan's posts as one self-contained web page to look at, as "
                   "send --dry-run --html does.")
@click.option("--full", is_flag=True,
              help="Show every post in full, instead of each distinct text once with the "
                   "accounts that get it.")
@json_option
@ledger_option
@config_option
def approve(plan_file: str, as_name: str | None, yes: bool, html_file: str | None, full: bool,
            as_json: bool, ledger_file: str | None, config_file: str) -> None:
    """Approve a plan: record that it may be posted exactly as it is.

    Shows the plan's posts as a dry run does, with who made it and when it expires, and asks
    for confirmation on a terminal (--yes without one). The approval is of the plan's content
    digest: it is recorded in the ledger, which apply believes, and added to FILE for people
    to see; editing the plan's content afterwards voids it. Where accounts.yaml sets
    approvals.two_person, the plan's author cannot approve it. FILE comes from
    metpost send --plan FILE, made with the same ledger.
    """
    from datetime import UTC, datetime
    from pathlib import Path

    from metpost import output
    from metpost.audit import Actor, EventKind
    from metpost.cli.options import open_ledger
    from metpost.errors import MetpostError
    from metpost.reviews import (
        already_approved,
        check_approvable,
        plan_needs,
        read_plan_file,
        review,
    )
    from metpost.reviews import approve as record_approval

    actor = Actor.current(as_name)
    config = load(config_file)
    plan = read_plan_file(Path(plan_file))
    ledger = open_ledger(ledger_file, create=False)
    mode = output.output_mode(as_json)
    checked = review(plan, plan_file, config, ledger, os.environ,
                     refused=(EventKind.APPROVE, actor))
    earlier = already_approved(checked, actor)
    if earlier is not None:
        output.show_approved(plan, plan_file, checked, plan_needs(checked, config), earlier,
                             mode, earlier=True)
        return
    check_approvable(checked, ledger, actor, config.approvals.two_person, datetime.now(UTC))
    if html_file:
        _write_page(html_file, checked, config)
        output.note(f"Wrote the plan's page to {html_file}")
    if not yes:
        if not sys.stdin.isatty():
            raise MetpostError("not on a terminal: add --yes to approve without confirmation")
        output.show_plan(plan, plan_file, checked, plan_needs(checked, config), mode, full=full)
        if not click.confirm(f"Approve plan {plan.short_id} as {actor.name}?"):
            output.note("Not approved.")
            raise click.exceptions.Exit(0)
    event = record_approval(Path(plan_file), plan, ledger, actor)
    checked = review(plan, plan_file, config, ledger, os.environ)
    output.show_approved(plan, plan_file, checked, plan_needs(checked, config), event, mode)


def _write_page(path: str, checked: PlanReview, config: Config) -> None:
    """The plan's posts as the dry run's page."""
    from pathlib import Path

    from metpost.broadcast import local_now
    from metpost.page import render_page, write_page
    from metpost.plugins import platform_classes

    titles = {name: platform.title for name, platform in platform_classes().items()}
    page = render_page(checked.posts, config, titles,
                       source=f"plan {checked.plan.short_id} ({checked.plan.template})",
                       now=local_now(config))
    write_page(Path(path), page)
