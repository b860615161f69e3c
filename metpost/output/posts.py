"""Posts: the preview of a send or dry run, each result as it comes, and the outcome."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from metpost.models import Post, SendResult
from metpost.output.base import Mode, console, echo, emit_json, escape, note
from metpost.status import PostStatus

if TYPE_CHECKING:
    from metpost.runner import RunOutcome


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
        emit_json({"dry_run": dry_run, "posts": [post_record(post) for post in posts]})
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
        screen = console()
        screen.print(table)
        screen.print(_summary(posts, dry_run))
        return
    for post in posts:
        verdict = "ok" if post.ready else ("needs credentials" if post.ok else "PROBLEM")
        echo(f"== {post.account.label} [{post.account.platform}] "
                   f"{post.length}/{post.limit} {verdict}")
        echo(post.text)
        for problem in post.problems:
            echo(f"!! {problem}")
        if post.missing_credentials:
            echo("-- credentials not set: " + ", ".join(post.missing_credentials))
        echo()
    echo(_summary(posts, dry_run))


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
        console().print(f"[{color}]{escape(line)}[/]", soft_wrap=True)
    else:
        echo(line)


def show_outcome(outcome: RunOutcome, mode: Mode, posts: Sequence[Post] = (), *,
                 next_step: str = "metpost retry") -> None:
    """The whole outcome: a JSON document, or a summary after the per-post lines."""
    results = outcome.results
    if mode == "json":
        by_account = {post.account.name: post for post in posts}
        emit_json({"dry_run": False, "broadcast": outcome.broadcast_id,
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
    echo(f"Broadcast {outcome.broadcast_id}: {len(results)} posts: "
          f"{summary or 'nothing to do'}.")
    if outcome.interrupted:
        echo("Interrupted: posts not sent are left for the next run.")
    if any(result.status in (PostStatus.FAILED, PostStatus.UNKNOWN, PostStatus.NOT_SENT)
           for result in results):
        echo(f"To finish it: {next_step} {outcome.broadcast_id}")
    if any(result.status == PostStatus.RETRACTED for result in results) and \
            next_step == "metpost retry":
        echo("Retracted posts stay retracted; send with --again to post them anew.")
