"""A cap on how much more memory the process may take while untrusted work runs.

Template renders are bounded value by value (``metpost.render``), but some single steps, all C
code that the render clock cannot interrupt, build their result before anything can measure
it: printing a list of long strings, a ``translate`` or ``tojson`` of something large, a
``list`` of a million copies. ``MemoryCap`` is the backstop for all of them at once: while it is
held, the process's address space (``RLIMIT_AS``) may grow by ``headroom`` bytes beyond its size
when the cap was set, so such a step fails at once with ``MemoryError`` instead of taking the
machine's memory. A render that honestly needs more than a few megabytes does not exist.

Held across a run of renders, the cap moves up with the process every ``REBASE_EVERY`` entries,
so that a broadcast to a great many accounts, whose posts add up, never meets it.

It works where Linux enforces ``RLIMIT_AS`` and ``/proc/self/statm`` tells the process's size;
elsewhere it does nothing.
"""

from __future__ import annotations

import contextlib
import os
from types import TracebackType

try:
    import resource
except ImportError:  # not on Windows
    resource = None  # type: ignore[assignment]

REBASE_EVERY = 256  # renders between two readings of the process's size


class MemoryCap:
    """``with cap:`` lets the address space grow by at most ``headroom`` bytes; re-entrant."""

    def __init__(self, headroom: int) -> None:
        self.headroom = headroom
        self._depth = 0
        self._entries = 0
        self._previous: tuple[int, int] | None = None  # the limits found, restored on exit

    def __enter__(self) -> MemoryCap:
        self._depth += 1
        if self._depth == 1:
            self._previous = _limits()
            self._entries = 0
            self._set()
        else:
            self._entries += 1
            if self._entries % REBASE_EVERY == 0:
                self._set()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._depth -= 1
        if self._depth == 0 and self._previous is not None:
            _restore(self._previous)
            self._previous = None

    def _set(self) -> None:
        if self._previous is None:
            return
        size = _address_space()
        if size is None:
            return
        soft, hard = self._previous
        cap = size + self.headroom
        if hard != resource.RLIM_INFINITY:
            cap = min(cap, hard)
        if soft != resource.RLIM_INFINITY:
            cap = min(cap, soft)  # never looser than a limit someone else set
        # A cap is a safeguard: where it cannot be set, the per-value limits still hold.
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


def _limits() -> tuple[int, int] | None:
    if resource is None or not hasattr(resource, "RLIMIT_AS"):
        return None
    try:
        return resource.getrlimit(resource.RLIMIT_AS)
    except (ValueError, OSError):
        return None


def _restore(limits: tuple[int, int]) -> None:
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, limits)


def _address_space() -> int | None:
    """The process's virtual size in bytes, or None where it cannot be told."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            pages = int(statm.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")
