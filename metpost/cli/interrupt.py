"""Ctrl-C during delivery: the first asks the run to stop, the second ends it at once."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


@contextmanager
def stop_on_ctrl_c() -> Iterator[threading.Event]:
    """An event set by the first Ctrl-C: the run starts no new post, lets those in flight finish
    and records them. A second Ctrl-C exits at once; the ledger still knows which posts were in
    flight, and the next run reconciles them."""
    from metpost import output

    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop  # signals reach the main thread only
        return

    def handle(_signal: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            os._exit(EXIT_INTERRUPTED)
        stop.set()
        output.note("Stopping: no new posts will start; waiting for those in flight "
                    "(Ctrl-C again to quit now).")

    previous = signal.signal(signal.SIGINT, handle)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)
