"""A platform's clock against ours, read from its answers' ``Date`` headers.

Platforms name times on their own clocks: when a rate limit lifts, when a post was made. Either
clock may be set wrong, so those times are moved onto ours by as much as an answer's ``Date``
was from our time when it arrived.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

# A platform's clock and ours may differ by this much (its Date header has whole seconds, and
# the answer took time to arrive) before a time it names is moved onto our clock.
CLOCK_TOLERANCE = 5.0
# A Date further than this from our time is no clock set wrong but a broken header: ignored.
BELIEVABLE_DIFFERENCE = 366 * 86400.0


def seconds_ahead(date: str | None, received_at: float) -> float | None:
    """How many seconds the platform's clock was ahead of ours (negative: behind) when it
    answered with ``Date: date`` at ``received_at`` (our Unix time): 0 within
    ``CLOCK_TOLERANCE``, None without a readable, believable ``Date``."""
    if not date:
        return None
    from email.utils import parsedate_to_datetime

    try:
        theirs = parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    ahead = theirs - received_at
    if abs(ahead) > BELIEVABLE_DIFFERENCE:
        return None
    return ahead if abs(ahead) > CLOCK_TOLERANCE else 0.0


def on_our_clock(moment: float | None, headers: Mapping[str, str] | None) -> float | None:
    """A time a platform named on its own clock (when a rate limit lifts, as Unix time), on
    ours, by the answer's ``Date`` header (see ``seconds_ahead``): a clock set wrong on either
    side would otherwise make a run wait far too long, or retry again and again before the
    limit lifts. As named, without a readable ``Date``."""
    if moment is None or headers is None:
        return moment
    ahead = seconds_ahead(headers.get("Date") or headers.get("date"), time.time())
    return moment - ahead if ahead else moment
