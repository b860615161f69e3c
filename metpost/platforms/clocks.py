"""Times a platform names on its own clock (when a rate limit lifts), read onto ours."""

from __future__ import annotations

import time
from collections.abc import Mapping

# A platform's clock and ours may differ by this much (its Date header has whole seconds, and
# the answer took time to arrive) before a time it names is moved onto our clock.
CLOCK_TOLERANCE = 5.0


def on_our_clock(moment: float | None, headers: Mapping[str, str] | None) -> float | None:
    """A time a platform named on its own clock (when a rate limit lifts, as Unix time), on
    ours: moved by as much as the answer's ``Date`` header is from our time, when that is more
    than ``CLOCK_TOLERANCE`` (a clock set wrong on either side would otherwise make a run wait
    far too long, or retry again and again before the limit lifts). As named, without a
    readable ``Date``."""
    if moment is None or headers is None:
        return moment
    from email.utils import parsedate_to_datetime

    value = headers.get("Date") or headers.get("date")
    try:
        theirs = parsedate_to_datetime(value).timestamp() if value else None
    except (TypeError, ValueError, OverflowError):
        theirs = None
    if theirs is None:
        return moment
    ahead = time.time() - theirs
    return moment + ahead if abs(ahead) > CLOCK_TOLERANCE else moment
