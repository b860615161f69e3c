"""Finding a post that may exist: among the account's recent posts, the one that is *this* post.

A listed post is this post when the platform says it is the same (``Platform.same_post``: the
same text as the platform lists it, links compared by where they lead), it was made no earlier
than this post's first request (less a small allowance for clocks), and no other post in the
ledger owns its remote id; a part of a thread must also answer the part before it, when the
platform says what a listed post answers. Listed times are read onto our clock by the platform's
answers (``Platform.clock_ahead``). When several qualify, the oldest is taken: a double
post made before metpost could tell is then the second one, not the one recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from metpost.platforms.api import Platform, PostRequest, PublishError, RemotePost

# With no answer yet to show the platform's clock, a listing reaches this much further back,
# for a platform whose clock runs behind ours.
UNKNOWN_CLOCK_REACH = timedelta(minutes=15)


@dataclass(frozen=True)
class Found:
    """The post is on the platform, as ``remote``."""

    remote: RemotePost


@dataclass(frozen=True)
class Absent:
    """The platform's listing does not have it. ``lookalike`` is a listed post with the same
    text that cannot be this one (older, or another ledger post's), when there is one: what a
    duplicate refusal was about."""

    lookalike: RemotePost | None = None


@dataclass(frozen=True)
class Unreadable:
    """The platform could not be asked; ``reason`` says why."""

    reason: str


Search = Found | Absent | Unreadable


def search(client: Platform, request: PostRequest, since: datetime, depth: int,
           owned_elsewhere: Callable[[list[str]], set[str]],
           adopt: Callable[[RemotePost], bool], *, list_from: datetime | None = None) -> Search:
    """Look for ``request`` among posts made since ``since``; adopt the oldest match that no
    other ledger post owns (``adopt`` records it and says whether that worked).

    ``list_from`` lists further back than ``since`` (a duplicate refusal may be about an older
    post, which is then reported as the lookalike but never adopted).
    """
    try:
        listed = _listing(client, list_from or since, depth)
    except PublishError as error:
        return Unreadable(error.reason)
    except Exception as error:  # a client's surprise must not end the run
        return Unreadable(f"{type(error).__name__}: {error}")
    alike = [item for item in listed if client.same_post(request, item)
             and _answers_the_same(request, item)]
    taken = owned_elsewhere([item.remote_id for item in alike])
    candidates = [item for item in alike if item.remote_id not in taken
                  and (item.created_at is None or _aware(item.created_at) >= since)]
    for item in sorted(candidates, key=_made_at):
        if adopt(item):
            return Found(item)
    if _cut_short(listed, since, depth):
        # The account has posted more since then than one listing shows: the post may be
        # further down, and "not listed" must not become "send it again".
        return Unreadable(f"the account has made more than {depth} posts since then, more "
                          "than one listing shows; look for it on the account")
    others = [item for item in alike if item not in candidates]
    return Absent(lookalike=others[0] if others else None)


def _listing(client: Platform, start: datetime, depth: int) -> list[RemotePost]:
    """The account's posts made since ``start``, with their times on our clock.

    The platform lists by its own clock, which may be set minutes away from ours: asked from
    our ``start``, a platform running behind would leave out the very post looked for, and one
    running ahead would date an older post after it. So the listing starts at ``start`` on the
    platform's clock, as its latest answer showed it. When no answer has shown it yet (the
    post's request got none), the listing reaches ``UNKNOWN_CLOCK_REACH`` further back, and is
    asked again from further back still if its own answer shows the platform's clock even
    further behind.
    """
    ahead = client.clock_ahead()
    reach = UNKNOWN_CLOCK_REACH if ahead is None else timedelta(0)
    listed = client.recent_posts(_moved(start, ahead or 0.0) - reach, depth)
    shown = client.clock_ahead()
    if ahead is None and shown is not None and _moved(start, shown) < start - reach:
        listed = client.recent_posts(_moved(start, shown), depth)
        shown = client.clock_ahead()
    if not shown:
        return listed
    return [replace(item, created_at=_moved(_aware(item.created_at), -shown))
            if item.created_at is not None else item for item in listed]


def _moved(moment: datetime, seconds: float) -> datetime:
    """``moment`` moved by ``seconds`` (which ``seconds_ahead`` keeps within a year)."""
    return moment + timedelta(seconds=seconds)


def _cut_short(listed: list[RemotePost], since: datetime, depth: int) -> bool:
    """The listing is full (``depth`` posts) and reaches no post older than ``since``, so
    posts made since may lie beyond it."""
    if len(listed) < depth:
        return False
    made = [_aware(item.created_at) for item in listed if item.created_at is not None]
    return not made or min(made) >= since


def _answers_the_same(request: PostRequest, listed: RemotePost) -> bool:
    """A part of a thread answers the part before it: a listed post that the platform says
    answers another post (or none) is not it."""
    if listed.reply_to is None:  # not a reply, or the platform does not say
        return True
    return request.reply_to is not None and listed.reply_to == request.reply_to.remote_id


def search_from(first_attempt: float, allowance: float) -> datetime:
    """The earliest time a listed post may have been made to be this one."""
    return datetime.fromtimestamp(first_attempt, UTC) - timedelta(seconds=allowance)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _made_at(item: RemotePost) -> datetime:
    return _aware(item.created_at) if item.created_at else datetime.max.replace(tzinfo=UTC)
