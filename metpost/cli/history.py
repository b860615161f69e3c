"""``metpost history``, ``show``, ``retry`` and ``retract``: working with the ledger."""

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
    ledger_option,
    load,
    open_ledger,
)


def named_broadcast(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """BROADCAST, refused when blank: an empty prefix matches every broadcast, and a script's
    unset variable (``metpost retract "$ID" --yes``) would retract a ledger's only one."""
    if not value.strip():
        raise click.BadParameter("it is empty; give an id from metpost history (a unique prefix "
                                 "will do), the --key it was sent with, or 'last'", ctx, param)
    return value


# The most broadcasts --limit lists: far more than a terminal shows, and far inside the
# 64-bit integer SQLite and PostgreSQL take for a LIMIT.
MOST_LISTED = 1_000_000


@click.command()
@click.option("--limit", type=click.IntRange(1, MOST_LISTED), default=20, show_default=True,
              help="How many broadcasts to list, newest first.")
@json_option
@ledger_option
def history(limit: int, as_json: bool, ledger_file: str | None) -> None:
    """List recent broadcasts with how their posts stand.

    Each shows when it went out, its first words, and how its posts stand. An unfinished one
    (posts failed, unknown, or left in doubt by a run that stopped) is marked, with the retry
    that finishes it; posts a retract took back are never retried, and a retract that has
    not finished is marked with the retract that does. Reads the ledger only: a ledger that
    does not exist is not created.
    """
    from metpost import output
    from metpost.ledger import NoLedger

    mode = output.output_mode(as_json)
    try:
        ledger = open_ledger(ledger_file, create=False)
    except NoLedger as missing:
        output.note(missing.problems[0])
        output.show_history([], mode)
        return
    output.show_history(ledger.broadcasts(limit), mode)


@click.command()
@click.argument("broadcast", callback=named_broadcast)
@json_option
@ledger_option
def show(broadcast: str, as_json: bool, ledger_file: str | None) -> None:
    """Show one broadcast's posts: state, attempts, ids, URLs and errors.

    BROADCAST is an id from metpost history (a unique prefix will do), the --key it was
    sent with, or 'last'.
    """
    from metpost import output

    ledger = open_ledger(ledger_file, create=False)
    record = ledger.find_broadcast(broadcast)
    output.show_broadcast(record, ledger.posts(record.id), output.output_mode(as_json),
                          parts=ledger.broadcast_parts(record.id),
                          media=ledger.broadcast_media(record.id))


@click.command()
@click.argument("broadcast", callback=named_broadcast)
@click.option("--yes", "-y", is_flag=True,
              help="Retry without asking (needed when not on a terminal, e.g. from cron).")
@as_option
@delivery_options
@json_option
@config_option
def retry(broadcast: str, yes: bool, as_name: str | None, as_json: bool, config_file: str,
          **options: Any) -> None:
    """Finish a broadcast: re-send its failed posts, and check unknown ones first.

    A post whose outcome was unknown (the platform may have taken it without answering) is
    looked for among the account's recent posts: found, it is marked sent; not found, it is
    sent. Posts already sent are left alone, and posts retract took back are never sent.
    Each account must still be live and post where it did when the broadcast was recorded.
    BROADCAST is an id, a unique prefix, the --key it was sent with, or 'last'.
    """
    from dataclasses import replace

    from metpost import output
    from metpost.audit import Actor, AuditContext, EventKind
    from metpost.cli.interrupt import EXIT_INTERRUPTED, stop_on_ctrl_c
    from metpost.errors import MetpostError
    from metpost.runner import exit_code_for, still_owed
    from metpost.runner import retry as retry_broadcast

    audit = AuditContext(kind=EventKind.RETRY, actor=Actor.current(as_name))
    config = load(config_file)
    if not yes and not sys.stdin.isatty():
        raise MetpostError("not on a terminal: add --yes to retry without confirmation")
    ledger, control = delivery_from(options, create=False)
    mode = output.output_mode(as_json)
    if not yes:
        record = ledger.find_broadcast(broadcast)
        owed = still_owed(ledger.posts(record.id))
        if not owed:
            output.note(f"Nothing to retry: every post of broadcast {record.id} is on its "
                        "platform (or was retracted or withdrawn).")
            raise click.exceptions.Exit(0)
        output.show_broadcast(record, owed, mode, parts=ledger.broadcast_parts(record.id),
                              media=ledger.broadcast_media(record.id))
        if not click.confirm(f"Retry {len(owed)} post{'s' if len(owed) != 1 else ''}?"):
            output.note("Nothing was sent.")
            raise click.exceptions.Exit(0)
    with stop_on_ctrl_c() as stop:
        outcome = retry_broadcast(
            config, ledger, broadcast, os.environ, audit=audit,
            control=replace(control, stop=stop,
                            on_result=lambda result: output.show_result(result, mode)))
    output.show_outcome(outcome, mode)
    raise click.exceptions.Exit(EXIT_INTERRUPTED if outcome.interrupted
                                else exit_code_for(outcome.results))


@click.command()
@click.argument("broadcast", callback=named_broadcast)
@click.option("--account", "-a", "account_names", multiple=True, metavar="NAME",
              help="Only this account's post (repeatable).")
@click.option("--yes", "-y", is_flag=True,
              help="Delete without asking (needed when not on a terminal).")
@as_option
@delivery_options
@json_option
@config_option
def retract(broadcast: str, account_names: tuple[str, ...], yes: bool, as_name: str | None,
            as_json: bool, config_file: str, **options: Any) -> None:
    """Delete a broadcast's posts from every platform.

    A post that is already gone counts as retracted. One whose outcome is unknown is looked
    for first: found, it is deleted; not found, it is withdrawn. Posts not sent (failed,
    pending) are withdrawn: no retry, rerun or schedule sends them. A post whose outcome
    cannot be told stays unknown, and is never sent either. BROADCAST is an id, a unique
    prefix, the --key it was sent with, or 'last'.
    """
    from dataclasses import replace

    from metpost import output
    from metpost.audit import Actor, AuditContext, EventKind
    from metpost.cli.interrupt import EXIT_INTERRUPTED, stop_on_ctrl_c
    from metpost.errors import EXIT_OK, EXIT_SOME_FAILED, MetpostError
    from metpost.ledger.records import retract_action
    from metpost.runner import retract_posts, retractable
    from metpost.status import PostStatus

    audit = AuditContext(kind=EventKind.RETRACT, actor=Actor.current(as_name))
    config = load(config_file)
    ledger, control = delivery_from(options, create=False)
    record, posts, accounts = retractable(config, ledger, broadcast, account_names, os.environ)
    mode = output.output_mode(as_json)
    if posts and not yes:
        if not sys.stdin.isatty():
            raise MetpostError("not on a terminal: add --yes to delete without confirmation")
        threads = ledger.broadcast_parts(record.id)
        output.show_broadcast(record, posts, mode, parts=threads,
                              media=ledger.broadcast_media(record.id))
        actions = [retract_action(post, threads.get(post.idempotency_key, ())) for post in posts]
        unsent = actions.count("withdrawn")
        out = len(actions) - unsent - actions.count("already")
        if not out and not unsent:
            output.note(f"Nothing to retract: every post of broadcast {record.id} chosen is "
                        "retracted already.")
            raise click.exceptions.Exit(0)
        where = "its platform" if out == 1 else "their platforms"
        question = (f"Delete {_posts(out)} from {where}?" if not unsent else
                    f"Never send the {_posts(unsent)} not sent yet?" if not out else
                    f"Delete {_posts(out)} from {where}, and never send the other {unsent}?")
        if not click.confirm(question):
            output.note("Nothing was deleted.")
            raise click.exceptions.Exit(0)
    with stop_on_ctrl_c() as stop:
        outcome = retract_posts(ledger, record.id, posts, accounts, os.environ,
                                control=replace(control, stop=stop),
                                audit=replace(audit, source=record.source))
    for result in outcome.results:
        output.show_result(result, mode)
    output.show_outcome(outcome, mode, next_step="metpost retract")
    if outcome.interrupted:
        raise click.exceptions.Exit(EXIT_INTERRUPTED)
    raise click.exceptions.Exit(EXIT_OK if all(r.status == PostStatus.RETRACTED
                                               for r in outcome.results) else EXIT_SOME_FAILED)


def _posts(count: int) -> str:
    return f"{count} post{'s' if count != 1 else ''}"
