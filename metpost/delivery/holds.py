"""Holds on accounts (and whole apps) that a platform has throttled.

Once one request of an account is throttled until a time, its other posts must not hammer the
platform with their own backoffs: they wait for that time, or, when it falls beyond the
deadline (or the refusal lasts the whole broadcast, like a used-up daily cap), fail at once with
the platform's reason and no request.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Hold:
    """Posts behind ``keys`` wait until ``until`` (Unix time; infinity: this whole run)."""

    until: float
    reason: str
    retryable: bool  # false: nothing sent under this hold can succeed before it ends


class Holds:
    """Thread-safe map of hold keys (an account, an app) to the hold on them."""

    def __init__(self) -> None:
        self._holds: dict[str, Hold] = {}
        self._lock = threading.Lock()

    def place(self, keys: Iterable[str], until: float | None, reason: str,
              retryable: bool) -> None:
        """Hold ``keys`` until ``until`` (None and not retryable: for the rest of the run)."""
        end = until if until is not None else (math.inf if not retryable else None)
        if end is None:
            return
        with self._lock:
            for key in keys:
                current = self._holds.get(key)
                if current is None or current.until < end:
                    self._holds[key] = Hold(until=end, reason=reason, retryable=retryable)

    def longest(self, keys: Iterable[str], now: float) -> Hold | None:
        """The hold that lasts longest among ``keys``, if any is still in force."""
        with self._lock:
            holds = [self._holds[key] for key in keys if key in self._holds]
        live = [hold for hold in holds if hold.until > now]
        return max(live, key=lambda hold: hold.until) if live else None
