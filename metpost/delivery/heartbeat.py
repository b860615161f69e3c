"""A run's heartbeat: its claims renewed in the background for as long as it lives, so that a
slow run keeps its posts and an overlapping run never takes them over."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Heartbeat:
    """Calls ``beat`` every ``every`` seconds on a thread of its own, inside a ``with``."""

    def __init__(self, beat: Callable[[], None], every: float) -> None:
        self._beat = beat
        self._every = every
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metpost-heartbeat",
                                        daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._done.wait(self._every):
            try:
                self._beat()
            except Exception:  # a missed beat is caught by the check before each request
                continue
