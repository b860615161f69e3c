"""``metpost send``."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from metpost.audit import Actor
    from metpost.broadcast import Broadcast
    from metpost.errors import MetpostError
    from metpost.models import Config
    from metpost.runner import RecordedProgress

from metpost.cli.options import (
    as_option,
    checked_key,
    config_option,
    delivery_from,
    delivery_options,
    file_to_write,
    json_option,
    load,
    open_ledger,
    selection_from,
    selection_options,
    text_argument,
)


def parse_vars(_ctx: click.Context, _param: click.Parameter,
               values: tuple[str, ...]) -> dict[str, str]:
    """``--var name=value`` pairs to a dict; a name given again overrides it, as a script's
    override of its own default does."""
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
              help="A template variable (repeatable; a name given again takes the last "
                   "value, so a script can override its own default).")
@click.option("--dry-run", "-n", is_flag=True,
              help="Render and check every post and show it; send nothing, make no network call.")
@click.option("--yes", "-y", is_flag=True,
              help="Post without asking (needed when not on a terminal, e.g. from cron).")
@click.option("--key", metavar="KEY", callback=checked_key,
              help="Name this broadcast (e.g. a scheduler's slot): a rerun with the same key "
                   "posts nothing twice, even if the text renders differently.")
@click.option("--again", is_flag=True,
              help="Post even if this identical broadcast was sent before.")
@click.option("--html", "html_file", metavar="FILE", callback=file_to_write,
              help="With --dry-run: also write the posts as one self-contained web page to "
                   "look at (each distinct text as a card, problems in red).")
@click.option("--full", is_flag=True,
              help="Show every post in full, instead of each distinct text once with the "
                   "accounts that get it.")
@click.option("--public-safety", is_flag=True,
              help="Declare this a public-safety announcement (emergency, weather): X's one "
                   "exception to its rule against the same text on several accounts. "
                   "Recorded in the ledger.")
@click.option("--x-repost-from", "x_repost_from", metavar="ACCOUNT",
              help="Post once from this X account and repost it from the other selected X "
                   "accounts, as X recommends instead of identical posts.")
@click.option("--image", "image_paths", multiple=True, metavar="PATH",
              help="Attach this image to every post, after the template's own (repeatable, up "
                   "to each platform's maximum); follow each with its --alt.")
@click.option("--alt", "alts", multiple=True, metavar="TEXT",
              help="What the --image before it shows, for people who cannot see it "
                   "(repeatable: one per --image, in the same order).")
@click.option("--no-alt", is_flag=True,
              help="Send images without alt text (refused otherwise).")
@click.option("--thread", is_flag=True,
              help="Post a text too long for one post as a thread of numbered parts (1/3), "
                   "each a reply to the one before, on platforms that take threads (X, "
                   "Mastodon, Bluesky; elsewhere a text too long is still refused).")
@click.option("--plan", "plan_file", metavar="FILE", callback=file_to_write,
              help="Render and check every post as a send would, write them to FILE as a plan "
                   "to review, and send nothing; then metpost approve FILE and metpost apply "
                   "FILE.")
@as_option
@click.option("--urgent", is_flag=True,
              help="An emergency: send now without the approval accounts.yaml requires, where "
                   "its approvals.urgent allows it. Needs --reason; recorded, and listed first "
                   "by metpost audit.")
@click.option("--reason", metavar="TEXT",
              help="With --urgent: why this cannot wait for approval (recorded).")
@delivery_options
@json_option
@config_option
def send(template_name: str | None, message: str | None, variables: dict[str, str],
         dry_run: bool, yes: bool, key: str | None, again: bool, html_file: str | None,
         full: bool, public_safety: bool, x_repost_from: str | None,
         image_paths: tuple[str, ...], alts: tuple[str, ...], no_alt: bool, thread: bool,
         plan_file: str | None, as_name: str | None, urgent: bool, reason: str | None,
         as_json: bool, config_file: str, **options: Any) -> None:
    """Render a message for each selected account and post it.

    Every post is rendered and checked (length counted the platform's way, credentials set)
    before the first is sent; if any fails, nothing is sent and the exit code is 2. Posts are
    recorded in the ledger, so re-running the identical send posts nothing twice: each post is
    reported as already sent. Failed or unknown posts can be finished with metpost retry.
    X posts with the same text on several accounts (the same once each account's borough,
    handle and vars are masked) break X's rules and are refused unless the broadcast is a
    public-safety announcement (--public-safety) or is reposted (--x-repost-from ACCOUNT).
    Accounts whose status is planned or paused are skipped. Images (--image with its --alt,
    and any a template declares) are checked against each platform's types, sizes and count
    before anything is sent. A text too long for a platform is refused unless --thread posts
    it as numbered replies. Where accounts.yaml requires approval (approvals:), send --plan
    FILE writes the posts as a plan instead, to be approved (metpost approve) and posted
    exactly as planned (metpost apply); a send without a plan is refused there.

    \b
    Examples:
      metpost send --borough Hackney --template rumour-control \\
          --var rumour="a stabbing at Mare Street" \\
          --var truth="officers were called to a fight" --dry-run
      metpost send --tag bcu-ce --message "Roads around {{ borough }} are reopening." \\
          --public-safety --yes
    """
    from dataclasses import replace

    from metpost import output
    from metpost.broadcast import prepare
    from metpost.cli.interrupt import EXIT_INTERRUPTED, stop_on_ctrl_c
    from metpost.errors import EXIT_BAD_INPUT, MetpostError
    from metpost.media import pair_images
    from metpost.render import inline_template, load_template

    if message is not None and not message.strip() and not template_name:
        raise click.UsageError("--message is empty: give the text to post (a script's unset "
                               "variable?)")
    if bool(template_name) == bool(message):
        raise click.UsageError("give exactly one of --template NAME or --message TEXT")
    if html_file and not (dry_run or plan_file):
        raise click.UsageError("--html writes the page of a dry run: add --dry-run")
    _check_review_options(plan_file, dry_run, again, urgent, reason)
    if message is not None:
        text_argument(message, "--message")
    for name, value in variables.items():
        text_argument(value, f"--var {name}")
    for value in alts:
        text_argument(value, "--alt")
    images = pair_images(image_paths, alts, no_alt=no_alt)
    selection = selection_from(options)
    config = load(config_file)
    for option, path in (("--html", html_file), ("--plan", plan_file)):
        if path:
            _refuse_an_input(option, path, config)
    template = (load_template(config.templates_dir, template_name) if template_name
                else inline_template(message or ""))
    from metpost.template_check import unused_variables

    if unused := unused_variables(template, variables):
        raise MetpostError(*unused)
    broadcast = prepare(config, selection, template, variables, os.environ,
                        public_safety=public_safety, repost_from=x_repost_from,
                        images=images, require_alt=not no_alt, thread=thread)
    mode = output.output_mode(as_json)
    extra = output.extra_for(broadcast, config, mode)
    if as_name is not None:
        from metpost.audit import person_name

        person_name(as_name)  # a bad --as is refused even where nobody is named

    if plan_file:
        from metpost.reviews import request_record

        _write_plan(plan_file, html_file, broadcast, config, _actor(as_name), mode, full,
                    extra, options,
                    request_record(selection, template=template_name, message=message,
                                   variables=variables, thread=thread,
                                   x_repost_from=x_repost_from, public_safety=public_safety,
                                   no_alt=no_alt), key)
        return
    if dry_run:
        if html_file:  # first: a file it cannot write is the one answer, even with --json
            _write_page(html_file, broadcast, config)
        output.show_preview(broadcast.posts, mode, dry_run=True, full=full, extra=extra)
        output.show_broadcast_notes(broadcast, config, mode)
        if html_file:
            output.note(f"Wrote the dry run's page to {html_file}")
        progress = _progress_without_side_effects(broadcast, options.get("ledger_file"), key,
                                                  again)
        if progress is not None:
            output.note(_rerun_note(progress, broadcast, dry_run=True))
        if config.approvals_configured and not urgent:
            from metpost.reviews import approval_note

            needs = approval_note(broadcast, config, _actor(as_name))
            if needs:
                output.note(needs)
        if not broadcast.ok:
            raise click.exceptions.Exit(EXIT_BAD_INPUT)
        return
    if not broadcast.ready:
        raise _check_failed(broadcast, mode, full, extra, *broadcast.blocking_problems(),
                            "nothing was sent")
    output.show_broadcast_notes(broadcast, config, mode, preview=False)
    from metpost.reviews import send_authority
    from metpost.runner import exit_code_for, recorded_progress, refuse_a_plans_key
    from metpost.runner import send as send_broadcast

    audit = send_authority(broadcast, config, _actor(as_name), urgent=urgent, reason=reason,
                           ledger_for_refusal=lambda: open_ledger(options.get("ledger_file")))
    if not yes and not sys.stdin.isatty():
        raise MetpostError("not on a terminal: add --yes to post without confirmation "
                           "(or --dry-run to preview)")
    ledger, control = delivery_from(options)
    if key:
        refuse_a_plans_key(ledger, key)
    progress = recorded_progress(broadcast, ledger, key, again)
    names = [post.account.name for post in broadcast.posts]
    owed = progress.owed(names) if progress else names
    if progress is not None:
        output.note(_rerun_note(progress, broadcast, dry_run=False))
    if not yes and owed:
        output.show_preview([p for p in broadcast.posts if p.account.name in owed], mode,
                            dry_run=False, full=full)
        if not click.confirm(f"Post to {len(owed)} account{'s' if len(owed) != 1 else ''}?"):
            output.note("Nothing was sent.")
            raise click.exceptions.Exit(0)
    with stop_on_ctrl_c() as stop:
        outcome = send_broadcast(
            broadcast, ledger, os.environ, key=key, again=again, audit=audit,
            control=replace(control, stop=stop,
                            on_result=lambda result: output.show_result(result, mode)))
    output.show_outcome(outcome, mode, broadcast.posts, extra=extra)
    raise click.exceptions.Exit(EXIT_INTERRUPTED if outcome.interrupted
                                else exit_code_for(outcome.results))


def _actor(as_name: str | None) -> Actor:
    """Who is sending: --as NAME, else the OS user (the audit trail loads only when asked)."""
    from metpost.audit import Actor

    return Actor.current(as_name)


def _check_review_options(plan_file: str | None, dry_run: bool, again: bool, urgent: bool,
                          reason: str | None) -> None:
    """--plan, --urgent and --reason make sense only in some company."""
    if plan_file and dry_run:
        raise click.UsageError("--plan writes a plan and sends nothing already: leave out "
                               "--dry-run")
    if plan_file and again:
        raise click.UsageError("--again has no meaning with --plan: every plan is a broadcast "
                               "of its own")
    if urgent and plan_file:
        raise click.UsageError("--urgent sends now instead of planning: leave out --plan")
    if urgent and not (reason or "").strip():
        raise click.UsageError('--urgent needs --reason "...": say why this cannot wait for '
                               "approval")
    if reason is not None and not urgent:
        raise click.UsageError("--reason goes with --urgent")
    if reason is not None:
        from metpost.audit import urgent_reason

        urgent_reason(text_argument(reason, "--reason"))


def _write_plan(path: str, html_file: str | None, broadcast: Broadcast, config: Config,
                actor: Any, mode: Any, full: bool, extra: Any, options: dict[str, Any],
                request: dict[str, Any], key: str | None) -> None:
    """``--plan FILE``: check the broadcast as a send would, record and write the plan, and
    show what it holds. Nothing is sent."""
    from datetime import UTC, datetime
    from pathlib import Path

    from metpost import output
    from metpost.reviews import plan_needs, review, write_plan

    content_problems = [line for line in broadcast.blocking_problems()
                        if not line.startswith("credentials not set")]
    if content_problems:
        raise _check_failed(broadcast, mode, full, extra, *content_problems,
                            "no plan was written")
    ledger = open_ledger(options.get("ledger_file"))
    plan = write_plan(Path(path), broadcast, config, ledger, author=actor, request=request,
                      key=key, now=datetime.now(UTC))
    if html_file:
        _write_page(html_file, broadcast, config)
    checked = review(plan, path, config, ledger, os.environ)
    output.show_plan_written(plan, path, checked, plan_needs(checked, config), mode,
                             full=full, extra=extra, html_file=html_file)
    output.show_broadcast_notes(broadcast, config, mode)


def _check_failed(broadcast: Broadcast, mode: Any, full: bool, extra: Any,
                  *problems: str) -> MetpostError:
    """The refusal of a broadcast that failed its checks: the posts are shown first (on a
    terminal or piped), or, asked for JSON, they go in the refusal's one document."""
    from metpost import output
    from metpost.errors import CheckFailed

    if mode == "json":
        return CheckFailed(*problems, details={
            "dry_run": False, "posts": [output.post_record(post) for post in broadcast.posts],
            **(extra or {})})
    output.show_preview(broadcast.posts, mode, dry_run=False, full=full, extra=extra)
    return CheckFailed(*problems)


def _refuse_an_input(option: str, path: str, config: Config) -> None:
    """Refuse to write ``option``'s file over what metpost reads: the accounts file, a
    template, or the schedules beside them (a typo away, and gone)."""
    from pathlib import Path

    from metpost.errors import MetpostError
    from metpost.schedules_config import SCHEDULES_ENV, schedules_path

    target = Path(path).resolve()
    inputs = {config.path.resolve(),
              schedules_path(config, os.environ.get(SCHEDULES_ENV)).resolve()}
    templates = config.templates_dir.resolve()
    if target in inputs or target.is_relative_to(templates):
        raise MetpostError(f"{option} {path}: that is one of metpost's own files (the accounts, "
                           "a template or the schedules); write it somewhere else")


def _write_page(path: str, broadcast: Broadcast, config: Config) -> None:
    from pathlib import Path

    from metpost.broadcast import local_now
    from metpost.page import render_page, write_page
    from metpost.plugins import platform_classes

    titles = {name: platform.title for name, platform in platform_classes().items()}
    page = render_page(broadcast.posts, config, titles, source=broadcast.template.name,
                       now=local_now(config))
    write_page(Path(path), page)


def _progress_without_side_effects(broadcast: Broadcast, ledger_file: str | None,
                                   key: str | None, again: bool) -> RecordedProgress | None:
    """For a dry run: what a local ledger already holds of this broadcast. A dry run creates
    no ledger and makes no connection, so a missing file or a database URL is not looked at."""
    from metpost.ledger import is_database_url, ledger_target, open_ledger

    target = str(ledger_target(ledger_file))  # a target no send could use is refused here too
    if is_database_url(target) or not os.path.isfile(target):
        return None
    from metpost.runner import recorded_progress

    return recorded_progress(broadcast, open_ledger(target, create=False), key, again)


def _rerun_note(progress: RecordedProgress, broadcast: Broadcast, *, dry_run: bool) -> str:
    """What a rerun of an earlier broadcast will do, said before anything happens."""
    names = [post.account.name for post in broadcast.posts]
    owed = progress.owed(names)
    retracted = progress.retracted(names)
    record = progress.record.id
    if not owed:
        done = f"already sent as broadcast {record}, nothing to post"
        if retracted:
            done += f" ({len(retracted)} of its posts were retracted)"
        return f"{done} (use --again to post it again)"
    would = "would post" if dry_run else "posting"
    return (f"broadcast {record} has {len(names) - len(owed)} of {len(names)} posts out "
            f"already; {would} the other {len(owed)}")
