"""The ledger: recent broadcasts and one broadcast's posts, readable at 80 columns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from metpost.output.attachments import image_lines, media_record, part_record, part_rows
from metpost.output.base import (
    Mode,
    console,
    echo,
    emit_json,
    escape,
    first_words,
    local_time,
    plural,
    table,
)

if TYPE_CHECKING:
    from metpost.ledger import BroadcastRecord, LedgerPart, LedgerPost
    from metpost.platforms.api import Media

# How each ledger state is counted for people: a run that stopped mid-way leaves posts
# "sending"; until a rerun checks them they are in doubt. A retracted post that never went out
# (a retract withdrew it first) is counted apart, as "withdrawn".
STATE_WORDS = {"sending": "in doubt", "pending": "not sent yet",
               "withdrawn": "withdrawn before being sent"}
WITHDRAWN_UNSENT = "withdrawn before it was sent"


def _standing(record: BroadcastRecord) -> str:
    """How a broadcast's posts stand, in words: "3 sent, 1 failed, 2 in doubt"."""
    counts = {**record.counts, "withdrawn": record.withdrawn}
    counts["retracted"] = counts.get("retracted", 0) - record.withdrawn
    order = ("sent", "retracted", "withdrawn", "failed", "unknown", "sending", "pending")
    return _in_words({state: counts[state] for state in order if counts.get(state)})


def _in_words(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{count} {STATE_WORDS.get(state, state)}"
                     for state, count in counts.items()) or "no posts"


def unfinished(record: BroadcastRecord) -> bool:
    """Some posts are not on their platform and not given up on: a retry may finish them
    (never those a retract took back)."""
    return record.owed > 0


def retract_unfinished(record: BroadcastRecord) -> bool:
    """A retract took back posts that are not known to be gone yet: a retract finishes it."""
    return any(record.retracting.values())


def show_history(records: Sequence[BroadcastRecord], mode: Mode) -> None:
    """Recent broadcasts: when, what, how their posts stand, and which are unfinished."""
    if mode == "json":
        emit_json({"broadcasts": [{
            "id": r.id, "key": r.label, "created_at": r.created_at, "source": r.source,
            "text": r.sample_text, "posts": r.total, "states": r.counts,
            "in_doubt": r.in_doubt, "unfinished": unfinished(r), "withdrawn": r.withdrawn,
            "retract_unfinished": retract_unfinished(r)} for r in records]})
        return
    rows = [(r.id, local_time(r.created_at), r.label or "", r.source,
             ("unfinished: " if unfinished(r) or retract_unfinished(r) else "") + _standing(r),
             first_words(r.sample_text)) for r in records]
    table(("Broadcast", "When", "Key", "Source", "Posts", "Message"), rows, mode, flexible=5)
    for record in records:
        if unfinished(record):
            echo(f"Unfinished: {record.id} ({_standing(record)})")
            echo(f"  to finish it: metpost retry {record.id}")
        if retract_unfinished(record):
            echo(f"Retract unfinished: {record.id} ({_standing(record)})")
            echo(f"  to finish it: metpost retract {record.id}")


def show_broadcast(record: BroadcastRecord, posts: Sequence[LedgerPost], mode: Mode, *,
                   parts: Mapping[str, Sequence[LedgerPart]] | None = None,
                   media: Mapping[str, Sequence[Media]] | None = None) -> None:
    """One broadcast: its text(s) once each with the accounts that got them (and their
    images), then each post's state and address (a thread's, part by part), then the
    errors. ``parts`` and ``media`` are the threads' parts and the posts' images, by post
    idempotency key."""
    parts, media = parts or {}, media or {}
    if mode == "json":
        emit_json({"id": record.id, "key": record.label, "created_at": record.created_at,
                   "source": record.source, "public_safety": record.public_safety,
                   "posts": [{**_post_json(p), **({"repost_of": p.repost_of} if p.repost_of
                                                   else {}),
                              **_attached_json(parts.get(p.idempotency_key, ()),
                                               media.get(p.idempotency_key, ()))}
                             for p in posts]})
        return
    title = " · ".join(part for part in (
        f"Broadcast {record.id}", record.source, local_time(record.created_at),
        f"key {record.label}" if record.label else "") if part)
    echo(title)
    if record.public_safety:
        echo("Sent as a public-safety announcement (--public-safety): X's exception to its rule "
             "against the same text on several accounts")
    echo(f"{plural(len(posts), 'post')}: {_standing_of(posts)}")
    by_text: dict[str, list[LedgerPost]] = {}
    for post in posts:
        by_text.setdefault(post.text, []).append(post)
    styled = mode == "rich"
    for text, group in by_text.items():
        echo()
        names = ", ".join(post.account for post in group)
        heading = f"Text for {names}:" if len(group) <= 4 else (
            f"Text for {plural(len(group), 'account')} ({names[:60]}…):")
        shown = [text, *image_lines(media.get(group[0].idempotency_key, ()))]
        if styled:
            console().print(f"[bold]{escape(heading)}[/]", soft_wrap=True)
            for line in shown:
                console().print(escape(line))
        else:
            echo(heading)
            for line in shown:
                echo(line)
    echo()
    rows: list[tuple[str, str, str]] = []
    for p in posts:
        rows.append((p.account, str(p.state),
                     WITHDRAWN_UNSENT if p.withdrawn_unsent else p.url or p.remote_id or ""))
        rows.extend(part_rows(p.account, parts.get(p.idempotency_key, ()),
                              retracted=str(p.state) == "retracted"))
    table(("Account", "State", "Post"), rows, mode)
    errors = [p for p in posts if p.error]
    if errors:
        echo()
        for post in errors:
            line = f"{post.account} ({post.state}): {post.error}"
            if styled:
                console().print(escape(line))
            else:
                echo(line)


def _standing_of(posts: Sequence[LedgerPost]) -> str:
    counts: dict[str, int] = {}
    for post in posts:
        state = "withdrawn" if post.withdrawn_unsent else str(post.state)
        counts[state] = counts.get(state, 0) + 1
    return _in_words(counts)


def _attached_json(parts: Sequence[LedgerPart], media: Sequence[Media]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    if parts:
        record["parts"] = [part_record(part) for part in parts]
    if media:
        record["images"] = [media_record(item) for item in media]
    return record


def _post_json(post: LedgerPost) -> dict[str, Any]:
    return {"account": post.account, "platform": post.platform, "handle": post.handle,
            "text": post.text, "state": str(post.state), "attempts": post.attempts,
            "remote_id": post.remote_id, "url": post.url, "error": post.error,
            "updated_at": post.updated_at, "withdrawn_at": post.withdrawn_at}
