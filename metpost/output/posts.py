"""Posts: the preview of a send or dry run, each result as it comes, and the outcome with the
next step that fits each failure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from metpost.models import Post, SendResult
from metpost.output.attachments import attachments_record, image_lines, length_text, text_lines
from metpost.output.base import Mode, console, echo, emit_json, escape, note, plural
from metpost.status import PostStatus

if TYPE_CHECKING:
    from metpost.models import Account
    from metpost.runner import RunOutcome


def post_record(post: Post) -> dict[str, Any]:
    """The JSON form of a post (a repost also names the account whose post it reposts)."""
    repost = {"repost_of": post.repost_of} if post.repost_of else {}
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
        **repost,
        **attachments_record(post),
    }


def _summary(posts: Sequence[Post], dry_run: bool) -> str:
    bad = sum(not post.ok for post in posts)
    unready = sum(post.ok and not post.ready for post in posts)
    texts = len({post.text for post in posts})
    parts = [plural(len(posts), "post") + f" ({plural(texts, 'distinct text')})",
             "all fit" if not bad else f"{bad} with problems"]
    if unready:
        parts.append(f"{unready} waiting for credentials (metpost check lists them)")
    tail = "dry run: nothing was sent" if dry_run else "nothing has been sent yet"
    return ", ".join(parts) + f"; {tail}."


def _groups(posts: Sequence[Post]) -> list[list[Post]]:
    """Posts with the same text together, groups with problems first, then the largest."""
    by_text: dict[tuple[Any, ...], list[Post]] = {}
    for post in posts:  # a thread's parts and the images are what goes out, as the text is
        key = (post.text, tuple(part.text for part in post.parts),
               tuple((item.sha256, item.alt_text) for item in post.media))
        by_text.setdefault(key, []).append(post)
    return sorted(by_text.values(), key=lambda group: (all(p.ok for p in group), -len(group)))


def show_preview(posts: Sequence[Post], mode: Mode, *, dry_run: bool,
                 full: bool = False, extra: Mapping[str, Any] | None = None,
                 heading: str | None = None) -> None:
    """What would go out: one block per distinct text with the accounts that get it (problems
    first), or with ``full`` every post in full. ``extra``: more keys for the JSON document;
    ``heading`` replaces the first line (a plan's, say)."""
    if mode == "json":
        emit_json({"dry_run": dry_run, "posts": [post_record(post) for post in posts],
                   **(extra or {})})
        return
    styled = mode == "rich"
    say = _printer(styled)
    title = heading or ("Dry run" if dry_run else "About to post")
    say(f"[bold]{escape(title)}[/]" if styled else title)
    if full:
        for post in posts:
            _show_full(post, say, styled)
    else:
        groups = _groups(posts)
        for number, group in enumerate(groups, start=1):
            _show_group(group, number, len(groups), say, styled)
    say(escape(_summary(posts, dry_run)) if styled else _summary(posts, dry_run))


def _printer(styled: bool) -> Any:
    if styled:
        screen = console()
        return lambda line="": screen.print(line)
    return echo


def _show_group(group: list[Post], number: int, total: int, say: Any, styled: bool) -> None:
    accounts = plural(len(group), "account")
    heading = f"Text {number} of {total}, for {accounts}"
    if any(not post.ok for post in group):
        heading += " — PROBLEM"
    say()
    say(f"[bold]{escape(heading)}[/]" if styled else f"== {heading}")
    for line in [*text_lines(group[0]), *image_lines(group[0].media)]:
        say(escape(line) if styled else line)
    width = max(len(post.account.label) for post in group)
    for post in group:
        line = (f"  {post.account.label:<{width}}  {post.account.platform:<9} "
                f"{length_text(post)}")
        if styled:
            colour = "red" if not post.ok else "green"
            say(f"[{colour}]{escape(line)}[/]")
        else:
            say(line)
        for problem in post.problems:
            say(f"    [red]! {escape(problem)}[/]" if styled else f"    !! {problem}")


def _show_full(post: Post, say: Any, styled: bool) -> None:
    verdict = "ok" if post.ready else ("needs credentials" if post.ok else "PROBLEM")
    heading = f"{post.account.label} [{post.account.platform}] {length_text(post)} " \
              f"{verdict}"
    say()
    say(f"[bold]{escape(heading)}[/]" if styled else f"== {heading}")
    for line in [*text_lines(post), *image_lines(post.media)]:
        say(escape(line) if styled else line)
    for problem in post.problems:
        say(f"[red]! {escape(problem)}[/]" if styled else f"!! {problem}")
    if post.missing_credentials:
        line = "credentials not set: " + ", ".join(post.missing_credentials)
        say(f"[yellow]{escape(line)}[/]" if styled else f"-- {line}")


def result_record(result: SendResult, post: Post | None = None) -> dict[str, Any]:
    """The JSON form of a send result: the checked post's fields when known, with the text the
    ledger holds (which is what the platform holds)."""
    record: dict[str, Any] = post_record(post) if post else {
        "account": result.account.name, "platform": result.account.platform,
        "handle": result.account.handle}
    record.update(text=result.text, status=str(result.status), remote_id=result.remote_id,
                  url=result.url, error=result.error, attempts=result.attempts,
                  problem=result.problem)
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
    if mode != "rich":
        echo(line)
        return
    color = STATUS_COLORS.get(result.status, "white")
    screen = console()
    if len(line) <= screen.width:
        screen.print(f"[{color}]{escape(line)}[/]", soft_wrap=True)
        return
    # Too wide: the address (or the reason) goes on a line of its own, whole; a reason wraps.
    screen.print(f"[{color}]{escape(f'{result.status:<10} {result.account.label}')}[/]",
                 soft_wrap=True)
    if result.delivered:
        screen.print(f"  {escape(detail)}", soft_wrap=True)
    else:
        from rich.padding import Padding
        from rich.text import Text

        screen.print(Padding(Text(detail), (0, 0, 0, 2)))


def show_outcome(outcome: RunOutcome, mode: Mode, posts: Sequence[Post] = (), *,
                 next_step: str = "metpost retry",
                 extra: Mapping[str, Any] | None = None) -> None:
    """The whole outcome: a JSON document, or a summary after the per-post lines, with the next
    step that fits each kind of failure."""
    results = outcome.results
    if mode == "json":
        by_account = {post.account.name: post for post in posts}
        emit_json({"dry_run": False, "broadcast": outcome.broadcast_id,
                   "interrupted": outcome.interrupted, "notes": list(outcome.notes),
                   "next_steps": next_steps(outcome, next_step), "posts": [
                       result_record(result, by_account.get(result.account.name))
                       for result in results], **(extra or {})})
        for line in outcome.notes:
            note(line)
        return
    for line in outcome.notes:
        note(line)
    counts: dict[str, int] = {}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    summary = ", ".join(f"{count} {status}" for status, count in counts.items())
    echo(f"Broadcast {outcome.broadcast_id}: {plural(len(results), 'post')}: "
         f"{summary or 'nothing to do'}.")
    if outcome.interrupted:
        echo("Interrupted: posts not sent are left for the next run.")
    for step in next_steps(outcome, next_step):
        echo(step)


def next_steps(outcome: RunOutcome, command: str = "metpost retry") -> list[str]:
    """What a person should do next, one line per kind of failure; empty when all is well."""
    finish = f"{command} {outcome.broadcast_id}"
    retryable: list[str] = []  # accounts whose posts a retry can finish
    retracted: list[str] = []
    taken_back: list[str] = []  # withdrawn by a retract that has not finished with them
    steps: list[str] = []
    renew: dict[str, list[str]] = {}
    for result in outcome.results:
        name = result.account.name
        if result.problem == "retract" and command != "metpost retract":
            taken_back.append(name)
        elif result.status in (PostStatus.UNKNOWN, PostStatus.NOT_SENT, PostStatus.BUSY):
            retryable.append(name)
        elif result.status == PostStatus.FAILED:
            if result.problem == "credentials":
                renew.setdefault(_secret_names(result.account), []).append(name)
            elif result.problem == "duplicate":
                steps.append(f"{name}: the same text is already live there; nothing to resend")
            elif result.problem == "permission":
                what = result.permission or "the permission to post"
                steps.append(f"{name}: grant {what} to the app or page, then: {finish}")
            elif result.problem == "destination":
                steps.append(f"{name}: check where the account posts (a Facebook page_id, and "
                             f"that its token is that page's), then: {finish}")
            elif result.problem == "invalid":
                steps.append(f"{name}: the platform refused the post itself; change the text "
                             "and send it as a new broadcast")
            elif result.problem == "credits":
                steps.append(f"{name}: the app's usage cap or credits are used up; once "
                             f"they are renewed: {finish}")
            else:
                retryable.append(name)
        elif result.status == PostStatus.RETRACTED and command == "metpost retry":
            retracted.append(name)
    for variables, names in renew.items():
        steps.insert(0, f"renew {variables} ({', '.join(names)}: the platform refused the "
                        f"credentials), then: {finish}")
    if retryable:
        steps.insert(0, f"To finish it: {finish}")
    if retracted:
        steps.append(f"Retracted earlier ({', '.join(retracted)}): they stay retracted; send "
                     "with --again to post them anew.")
    if taken_back:
        steps.append(f"Withdrawn by a retract not finished yet ({', '.join(taken_back)}): they "
                     f"are never sent; to finish it: metpost retract {outcome.broadcast_id}")
    return steps


def _secret_names(account: Account) -> str:
    """The environment variables holding an account's secrets, as a person would list them."""
    names = list(account.credentials.values())
    return " and ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else (
        names[0] if names else "its credentials")
