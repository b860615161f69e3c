"""How hard and how fast to try, and the clock every wait goes through (tests inject their own)."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Protocol

from metpost.platforms.api import Timeouts


@dataclass(frozen=True)
class DeliveryPolicy:
    """The limits a delivery works within."""

    deadline: float = 60.0  # seconds for the whole broadcast, retries and waits included
    concurrency: int = 48  # requests in flight at once, per platform
    timeouts: Timeouts = field(default_factory=Timeouts)
    backoff_base: float = 0.5  # the first retry waits between half this and this
    backoff_cap: float = 8.0
    reconcile_depth: int = 100  # at most this many of an account's recent posts are searched
    lease: float = 30.0  # a claim lapses this long after its run's last heartbeat
    # A listed post made this long before the post's first request may still be it: platforms
    # round their times (X to the second) and clocks differ a little.
    clock_allowance: float = 10.0

    @property
    def heartbeat(self) -> float:
        """How often a run renews its claims: several times per lease."""
        return self.lease / 3

    def backoff(self, attempt: int) -> float:
        """Seconds before retry number ``attempt`` (1-based): exponential, with jitter."""
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)


class Clock(Protocol):
    """Time as delivery sees it."""

    def time(self) -> float:
        """Seconds since the epoch."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        """Wait ``seconds`` unless ``stop`` is set first; true if it was."""


class SystemClock:
    """The real clock; waits wake early when the run is told to stop."""

    def time(self) -> float:
        """Seconds since the epoch."""
        return time.time()

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""
        return time.monotonic()

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        """Wait ``seconds`` unless ``stop`` is set first; true if it was."""
        return stop.wait(max(0.0, seconds))
