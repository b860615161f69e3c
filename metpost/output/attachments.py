"""What a post carries besides its text: a thread's parts and its images, as JSON keys and
as lines for people (the dry run, the send preview, ``metpost show``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from metpost.ledger import LedgerPart
    from metpost.models import Post
    from metpost.platforms.api import Media

ALT_SHOWN = 120  # characters of alt text shown on one line; JSON has it all


def media_record(item: Media) -> dict[str, Any]:
    """One image as JSON: where, what type and size, and its alt text."""
    return {"path": str(item.path), "mime_type": item.mime_type, "size": item.size,
            "alt": item.alt_text, "sha256": item.sha256}


def attachments_record(post: Post) -> dict[str, Any]:
    """The keys a post's JSON gains: ``parts`` for a thread, ``images`` when it has some."""
    record: dict[str, Any] = {}
    if post.parts:
        record["parts"] = [{"text": part.text, "length": part.length}
                           for part in post.parts]
    if post.media:
        record["images"] = [media_record(item) for item in post.media]
    return record


def text_lines(post: Post) -> list[str]:
    """The post's text as it will go out: whole, or part by part with each one's length."""
    if not post.parts:
        return [post.text]
    lines: list[str] = []
    for number, part in enumerate(post.parts, start=1):
        lines.append(f"-- part {number} of {len(post.parts)}, {part.length}/{post.limit}")
        lines.append(part.text)
    return lines


def length_text(post: Post) -> str:
    """How long the post is against its limit; for a thread, its parts' count and longest."""
    if not post.parts:
        return f"{post.length}/{post.limit}"
    longest = max(part.length for part in post.parts)
    return f"thread of {len(post.parts)}, longest {longest}/{post.limit}"


def image_lines(media: Sequence[Media]) -> list[str]:
    """One line per image: its file, type, size and alt text (or that it has none)."""
    lines = []
    for number, item in enumerate(media, start=1):
        alt = item.alt_text
        shown = (alt if len(alt) <= ALT_SHOWN else alt[:ALT_SHOWN - 1] + "…") if alt else ""
        described = f'alt "{shown}"' if alt else "no alt text (--no-alt)"
        lines.append(f"image {number}: {item.path.name} ({item.mime_type}, {size_text(item.size)})"
                     f": {described}")
    return lines


def size_text(size: int) -> str:
    """Bytes for people: 980 bytes, 12.3 KB, 4.2 MB."""
    if size < 1000:
        return f"{size} bytes"
    if size < 1_000_000:
        return f"{size / 1000:.1f} KB"
    return f"{size / 1_000_000:.1f} MB"


def part_rows(account: str, parts: Sequence[LedgerPart], *,
              retracted: bool = False) -> list[tuple[str, str, str]]:
    """A thread's parts as rows of ``metpost show``'s table: which part, its state, where.
    Of a ``retracted`` thread, a part that never went out (pending, failed) never will: it is
    shown as withdrawn, not as waiting to be sent."""
    never_out = ("pending", "failed")
    return [(f"{account} {part.position}/{len(parts)}",
             "withdrawn" if retracted and str(part.state) in never_out else str(part.state),
             part.url or part.remote_id or "") for part in parts]


def part_record(part: LedgerPart) -> dict[str, Any]:
    """One part of a recorded thread as JSON."""
    return {"position": part.position, "text": part.text, "state": str(part.state),
            "attempts": part.attempts, "remote_id": part.remote_id, "url": part.url,
            "error": part.error}
