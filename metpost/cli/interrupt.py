"""Ctrl-C (or SIGTERM, as systemd, ``timeout`` and ``kill`` send) during delivery: the first
asks the run to stop, the second ends it at once. Outside delivery, while no post is in flight,
either stops the command at once, with exit code 130."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it (SIGTERM too: one meaning, stopped)
# The signals that ask a run to stop. SIGTERM's default would end the process silently, in
# the middle of a post, with no summary for cron to mail.
STOP_SIGNALS = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}


class Terminated(KeyboardInterrupt):
    """SIGTERM while no post is in flight, raised as Python raises Ctrl-C, so that both unwind
    the command the same way."""


def _raise_terminated(_number: int, _frame: FrameType | None) -> None:
    raise Terminated


def stop_on_sigterm_as_on_ctrl_c() -> None:
    """Make SIGTERM stop the process as Ctrl-C does (an exception, so that files are closed,
    transactions rolled back and the refusal said), rather than silently, as its default
    does. Delivery installs its own handlers for both (``stop_on_ctrl_c``)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)


def stopped_by(error: KeyboardInterrupt) -> str:
    """What stopped the command, as ``STOP_SIGNALS`` names it."""
    return STOP_SIGNALS[signal.SIGTERM if isinstance(error, Terminated) else signal.SIGINT]


@contextmanager
def stop_on_ctrl_c() -> Iterator[threading.Event]:
    """An event set by the first Ctrl-C or SIGTERM: the run starts no new post, lets those in
    flight finish and records them. A second one exits at once; the ledger still knows which
    posts were in flight, and the next run reconciles them."""
    from metpost import output

    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop  # signals reach the main thread only
        return

    def handle(number: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            os._exit(EXIT_INTERRUPTED)
        stop.set()
        name = STOP_SIGNALS.get(signal.Signals(number), "the signal")
        output.note(f"Stopping ({name}): no new posts will start; waiting for those in "
                    f"flight ({name} again to quit now).")

    previous = {number: signal.signal(number, handle) for number in STOP_SIGNALS}
    try:
        yield stop
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
