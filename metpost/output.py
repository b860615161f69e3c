"""All printing: rich tables on a terminal, plain text when piped, JSON with --json.

Commands hand results here and never print themselves, so the three forms stay in step.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

import click

from metpost.models import Account, Post, SendResult
from metpost.secrets import REDACT
from metpost.status import PostStatus

if TYPE_CHECKING:  # for annotations only: importing these would slow every command's start
    from rich.console import Console

    from metpost.ledger import BroadcastRecord, LedgerPost
    from metpost.render import MessageTemplate
    from metpost.runner import RunOutcome
    from metpost.setup_check import SetupReport

Mode = Literal["json", "rich", "plain"]


def output_mode(as_json: bool) -> Mode:
    """JSON when asked; a rich table on a terminal; plain text otherwise."""
    if as_json:
        return "json"
    return "rich" if sys.stdout.isatty() else "plain"


def _echo(text: str = "", *, err: bool = False) -> None:
    """Every line metpost prints goes through here, and no known secret gets past it."""
    click.echo(REDACT(text), err=err)


def error(message: str) -> None:
    """One problem, one line, on stderr."""
    _echo(f"metpost: error: {message}", err=True)


def note(message: str) -> None:
    """A remark for the person at the terminal, on stderr so it never pollutes piped output."""
    _echo(message, err=True)


def _json(document: object) -> None:
    _echo(json.dumps(document, indent=2, ensure_ascii=False))


def escape(text: str) -> str:
    """Text safe to print through rich markup (a post may contain [brackets])."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


@cache
def _console() -> Console:
    from rich.console import Console

    class RedactingConsole(Console):
        """A console whose rendered output is redacted, like every other line."""

        def _render_buffer(self, buffer: Any) -> str:
            return REDACT(super()._render_buffer(buffer))

    return RedactingConsole(highlight=False)


def post_record(post: Post) -> dict[str, Any]:
    """The JSON form of a post."""
    return {
        "account": post.account.name,
        "platform": post.account.platform,
        "handle": post.account.handle,
        "text": post.text,
        "length": post.length,
        "limit": post.limit,
        "ok": post.ok,
        "problems": list(post.problems),
        "missing_credentials": list(post.missing_credentials),
    }


def _summary(posts: Sequence[Post], dry_run: bool) -> str:
    bad = sum(not post.ok for post in posts)
    unready = sum(post.ok and not post.ready for post in posts)
    parts = [f"{len(posts)} post{'s' if len(posts) != 1 else ''}",
             f"{len(posts) - bad} fit" if not bad else f"{bad} with problems"]
    if unready:
        parts.append(f"{unready} waiting for credentials")
    tail = "dry run: nothing was sent" if dry_run else "nothing has been sent yet"
    return ", ".join(parts) + f"; {tail}."


def show_preview(posts: Sequence[Post], mode: Mode, *, dry_run: bool) -> None:
    """What would go out, account by account."""
    if mode == "json":
        _json({"dry_run": dry_run, "posts": [post_record(post) for post in posts]})
        return
    if mode == "rich":
        from rich.table import Table

        table = Table(title="Dry run" if dry_run else "About to post", show_lines=True,
                      expand=True)
        table.add_column("Account", overflow="fold", ratio=1, min_width=16)
        table.add_column("Platform", no_wrap=True)
        table.add_column("Text", overflow="fold", ratio=3)
        table.add_column("Length", no_wrap=True, justify="right")
        table.add_column("Problems", overflow="fold", ratio=1, min_width=14)
        for post in posts:
            notes = list(post.problems)
            if post.missing_credentials:
                count = len(post.missing_credentials)
                notes.append(f"{count} secret{'s' if count != 1 else ''} not set "
                             "(metpost check lists them)")
            style = "red" if not post.ok else ("yellow" if notes else "green")
            table.add_row(escape(post.account.label), post.account.platform, escape(post.text),
                          f"[{style}]{post.length}/{post.limit}[/]",
                          f"[{style}]" + escape("\n".join(notes) or "ok") + "[/]")
        console = _console()
        console.print(table)
        console.print(_summary(posts, dry_run))
        return
    for post in posts:
        verdict = "ok" if post.ready else ("needs credentials" if post.ok else "PROBLEM")
        _echo(f"== {post.account.label} [{post.account.platform}] "
                   f"{post.length}/{post.limit} {verdict}")
        _echo(post.text)
        for problem in post.problems:
            _echo(f"!! {problem}")
        if post.missing_credentials:
            _echo("-- credentials not set: " + ", ".join(post.missing_credentials))
        _echo()
    _echo(_summary(posts, dry_run))


def result_record(result: SendResult, post: Post | None = None) -> dict[str, Any]:
    """The JSON form of a send result: the checked post's fields when known, with the text the
    ledger holds (which is what the platform holds)."""
    record: dict[str, Any] = post_record(post) if post else {
        "account": result.account.name, "platform": result.account.platform,
        "handle": result.account.handle}
    record.update(text=result.text, status=str(result.status), remote_id=result.remote_id,
                  url=result.url, error=result.error, attempts=result.attempts)
    return record


STATUS_COLORS = {PostStatus.SENT: "green", PostStatus.ALREADY_SENT: "green",
                 PostStatus.RETRACTED: "green", PostStatus.FAILED: "red",
                 PostStatus.UNKNOWN: "yellow", PostStatus.BUSY: "yellow",
                 PostStatus.NOT_SENT: "yellow"}


def show_result(result: SendResult, mode: Mode) -> None:
    """One line as each post finishes (not in JSON mode, which prints once at the end)."""
    if mode == "json":
        return
    detail = (result.url or result.remote_id or "") if result.delivered else (result.error or "")
    line = f"{result.status:<10} {result.account.label}" + (f": {detail}" if detail else "")
    if mode == "rich":
        color = STATUS_COLORS.get(result.status, "white")
        _console().print(f"[{color}]{escape(line)}[/]", soft_wrap=True)
    else:
        _echo(line)


def show_outcome(outcome: RunOutcome, mode: Mode, posts: Sequence[Post] = (), *,
                 next_step: str = "metpost retry") -> None:
    """The whole outcome: a JSON document, or a summary after the per-post lines."""
    results = outcome.results
    if mode == "json":
        by_account = {post.account.name: post for post in posts}
        _json({"dry_run": False, "broadcast": outcome.broadcast_id,
               "interrupted": outcome.interrupted, "notes": list(outcome.notes), "posts": [
                   result_record(result, by_account.get(result.account.name))
                   for result in results]})
        for line in outcome.notes:
            note(line)
        return
    for line in outcome.notes:
        note(line)
    counts: dict[str, int] = {}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    summary = ", ".join(f"{count} {status}" for status, count in counts.items())
    _echo(f"Broadcast {outcome.broadcast_id}: {len(results)} posts: "
          f"{summary or 'nothing to do'}.")
    if outcome.interrupted:
        _echo("Interrupted: posts not sent are left for the next run.")
    if any(result.status in (PostStatus.FAILED, PostStatus.UNKNOWN, PostStatus.NOT_SENT)
           for result in results):
        _echo(f"To finish it: {next_step} {outcome.broadcast_id}")
    if any(result.status == PostStatus.RETRACTED for result in results) and \
            next_step == "metpost retry":
        _echo("Retracted posts stay retracted; send with --again to post them anew.")


def show_history(records: Sequence[BroadcastRecord], mode: Mode) -> None:
    """Recent broadcasts with counts per state."""
    if mode == "json":
        _json({"broadcasts": [{"id": r.id, "key": r.label, "created_at": r.created_at,
                               "source": r.source, "posts": r.total, "states": r.counts}
                              for r in records]})
        return
    states = ("sent", "failed", "unknown", "retracted")
    rows = [(r.id, r.label or "", r.created_at, r.source, str(r.total),
             *(str(r.counts.get(state, 0)) for state in states)) for r in records]
    _table(("Broadcast", "Key", "Created (UTC)", "Source", "Posts",
            *(s.title() for s in states)), rows, mode)


def show_broadcast(record: BroadcastRecord, posts: Sequence[LedgerPost], mode: Mode) -> None:
    """One broadcast's posts as the ledger has them."""
    if mode == "json":
        _json({"id": record.id, "created_at": record.created_at, "source": record.source,
               "posts": [{"account": p.account, "platform": p.platform, "handle": p.handle,
                          "text": p.text, "state": p.state, "attempts": p.attempts,
                          "remote_id": p.remote_id, "url": p.url, "error": p.error,
                          "updated_at": p.updated_at} for p in posts]})
        return
    _echo(f"Broadcast {record.id} ({record.source}, {record.created_at})")
    rows = [(p.account, p.platform, p.state, str(p.attempts), p.url or p.remote_id or "",
             p.error or "") for p in posts]
    _table(("Account", "Platform", "State", "Attempts", "Post", "Error"), rows, mode)


def show_accounts(accounts: Sequence[Account], mode: Mode) -> None:
    """The accounts a selection (or the whole config) covers."""
    if mode == "json":
        _json({"accounts": [{
            "name": a.name, "platform": a.platform, "handle": a.handle, "borough": a.borough,
            "personality": a.personality, "tags": list(a.tags), "api_url": a.api_url,
            "credentials": dict(a.credentials), **dict(a.settings),
        } for a in accounts]})
        return
    rows = [(a.name, a.platform, a.handle or "", a.borough or "", a.personality or "",
             ", ".join(a.tags)) for a in accounts]
    _table(("Name", "Platform", "Handle", "Borough", "Personality", "Tags"), rows, mode)
    if mode == "rich":
        _console().print(f"{len(accounts)} accounts")


def show_templates(templates: Sequence[MessageTemplate], mode: Mode) -> None:
    """Templates with their descriptions, variables and platform variants."""
    if mode == "json":
        _json({"templates": [{
            "name": t.name, "description": t.description,
            "variants": sorted(t.variants),
            "vars": {v.name: {"help": v.help, "required": v.required, "default": v.default}
                     for v in t.vars.values()},
        } for t in templates]})
        return
    rows = [(t.name, t.description,
             ", ".join(v.name + ("" if v.required else "?") for v in t.vars.values()),
             ", ".join(sorted(t.variants))) for t in templates]
    _table(("Name", "Description", "Vars (? = optional)", "Variants"), rows, mode)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], mode: Mode) -> None:
    if mode == "rich":
        from rich.table import Table

        table = Table()
        for header in headers:
            table.add_column(header, overflow="fold")
        for row in rows:
            table.add_row(*(escape(cell) for cell in row))
        _console().print(table)
        return
    _echo("\t".join(headers))
    for row in rows:
        _echo("\t".join(row))


def show_setup_report(report: SetupReport, mode: Mode) -> None:
    """The result of ``metpost check``."""
    config = report.config
    if mode == "json":
        _json({
            "config": str(config.path), "accounts": len(config.accounts),
            "boroughs": len(config.boroughs), "personalities": len(config.personalities),
            "templates": list(report.template_names),
            "template_problems": list(report.template_problems),
            "missing_credentials": {k: list(v) for k, v in report.missing_credentials.items()},
        })
        return
    ready = len(report.accounts_ready)
    lines = [
        f"{config.path}: valid — {len(config.accounts)} accounts, {len(config.boroughs)} "
        f"boroughs, {len(config.personalities)} personalities",
        f"{config.templates_dir}: {len(report.template_names)} templates"
        + (f", {len(report.template_problems)} with problems" if report.template_problems
           else ", all parse"),
        f"credentials: {ready}/{len(config.accounts)} accounts have every secret set",
    ]
    for name, variables in report.missing_credentials.items():
        lines.append(f"  {name}: not set: {', '.join(variables)}")
    for line in lines:
        _echo(line)
