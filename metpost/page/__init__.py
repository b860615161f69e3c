"""A dry run as one self-contained HTML page people can look at (``--html FILE``).

Each distinct text is a card looking like a post on its platform, with links, hashtags and
mentions highlighted, its length against the limit, problems in red, and the accounts that get
it grouped by command unit and borough; a summary per platform sits on top. The page has no
scripts, styles or fonts from elsewhere, and is rendered with Jinja2 autoescaping: post text is
untrusted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from metpost.errors import MetpostError
from metpost.models import Config, Post
from metpost.platforms.api import Media

PAGE_TEMPLATE = Path(__file__).with_name("dry_run.html.j2")
HIGHLIGHTS = re.compile(r"(?<![\w#@])([#@][A-Za-z0-9_]{1,50})")
# Images up to this size are carried in the page itself, so that it stays one file.
INLINE_IMAGE_BYTES = 2_000_000


@dataclass(frozen=True)
class Piece:
    """A run of a post's text, and how to show it: plain, link, tag (hashtag or mention)."""

    kind: str
    text: str


@dataclass(frozen=True)
class PagePart:
    """One part of a thread as the card shows it."""

    number: int
    length: int
    pieces: tuple[Piece, ...]


@dataclass(frozen=True)
class PageImage:
    """An image as the card shows it: the file, its alt text, and the picture itself when it
    is small enough to carry in the page (``source``, a ``data:`` address)."""

    name: str
    mime_type: str
    size: str
    alt: str
    source: str | None


@dataclass(frozen=True)
class Card:
    """One distinct text on one platform, and the accounts that get it."""

    platform: str
    title: str  # the platform's name for people
    text: str
    pieces: tuple[Piece, ...]
    posts: tuple[Post, ...]
    groups: tuple[tuple[str, tuple[Post, ...]], ...]  # ("CE · Hackney", posts), ...
    parts: tuple[PagePart, ...] = ()  # a thread's, each shown as a post of its own
    images: tuple[PageImage, ...] = ()

    @property
    def problems(self) -> list[str]:
        """Every problem of every post on the card."""
        return [problem for post in self.posts for problem in post.problems]


def pieces(text: str) -> tuple[Piece, ...]:
    """``text`` cut into plain runs, links (as X finds them) and hashtags or mentions."""
    import unicodedata

    from metpost.textrules import link_spans

    text = unicodedata.normalize("NFC", text)
    found: list[Piece] = []
    last = 0
    for span in link_spans(text):
        found += _tagged(text[last:span.start])
        found.append(Piece("link", span.url))
        last = span.end
    found += _tagged(text[last:])
    return tuple(piece for piece in found if piece.text)


def _tagged(text: str) -> list[Piece]:
    parts = HIGHLIGHTS.split(text)
    return [Piece("tag" if index % 2 else "plain", part) for index, part in enumerate(parts)]


def cards(posts: Sequence[Post], config: Config, titles: dict[str, str]) -> list[Card]:
    """Posts with the same text on the same platform as one card; cards with problems first."""
    by_key: dict[tuple[Any, ...], list[Post]] = {}
    for post in posts:
        key = (post.account.platform, post.text, tuple(part.text for part in post.parts),
               tuple((item.sha256, item.alt_text) for item in post.media))
        by_key.setdefault(key, []).append(post)
    made = []
    for (platform, text, *_), group in by_key.items():
        first = group[0]
        made.append(Card(platform=platform, title=titles.get(platform, platform), text=text,
                         pieces=pieces(text), posts=tuple(group),
                         groups=_by_place(group, config),
                         parts=tuple(PagePart(number, part.length, pieces(part.text))
                                     for number, part in enumerate(first.parts, start=1)),
                         images=tuple(_page_image(item) for item in first.media)))
    return sorted(made, key=lambda card: (not card.problems, card.platform, -len(card.posts)))


def _page_image(item: Media) -> PageImage:
    """An image for the page, carried in it when it is no bigger than ``INLINE_IMAGE_BYTES``."""
    import base64

    from metpost.output.attachments import size_text

    source = None
    if item.size <= INLINE_IMAGE_BYTES:
        try:
            encoded = base64.b64encode(item.path.read_bytes()).decode("ascii")
            source = f"data:{item.mime_type};base64,{encoded}"
        except OSError:
            source = None
    return PageImage(name=item.path.name, mime_type=item.mime_type, size=size_text(item.size),
                     alt=item.alt_text, source=source)


def _by_place(posts: Sequence[Post], config: Config) -> tuple[tuple[str, tuple[Post, ...]], ...]:
    """Posts grouped by command unit and borough (personalities and central ones apart)."""
    places: dict[str, list[Post]] = {}
    for post in posts:
        borough = config.boroughs.get(post.account.borough or "")
        if borough is not None:
            place = f"{borough.bcu} · {borough.name}"
        elif post.account.personality:
            personality = config.personalities.get(post.account.personality)
            place = f"Personality · {personality.display if personality else ''}"
        else:
            place = "Force-wide"
        places.setdefault(place, []).append(post)
    return tuple((place, tuple(group)) for place, group in sorted(places.items()))


def render_page(posts: Sequence[Post], config: Config, titles: dict[str, str], *,
                source: str, now: datetime) -> str:
    """The whole page as text."""
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    template = env.from_string(PAGE_TEMPLATE.read_text(encoding="utf-8"))
    made = cards(posts, config, titles)
    platforms = []
    for platform in dict.fromkeys(post.account.platform for post in posts):
        mine = [post for post in posts if post.account.platform == platform]
        platforms.append({
            "title": titles.get(platform, platform), "posts": len(mine),
            "texts": len({post.text for post in mine}),
            "problems": sum(not post.ok for post in mine),
            "waiting": sum(post.ok and not post.ready for post in mine)})
    return template.render(cards=made, platforms=platforms, source=source,
                           when=now.strftime("%d %b %Y %H:%M"), total=len(posts),
                           problems=sum(not post.ok for post in posts))


def write_page(path: Path, page: str) -> None:
    """Write ``page`` to ``path`` whole (a reader never sees half a page)."""
    from metpost.files import NotAFileError, write_whole

    try:
        write_whole(path, page)
    except NotAFileError as error:
        raise MetpostError(f"--html {path}: it is {error.kind}; give the path of a file for "
                           "the page") from None
    except OSError as error:
        raise MetpostError(f"--html {path}: cannot write it: {error.strerror}; choose a "
                           "writable path") from None
