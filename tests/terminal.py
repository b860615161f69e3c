"""Running metpost on a real pseudo-terminal of a given width, as a person at a laptop would,
answering its first question."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Mapping

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def on_terminal(args: list[str], env: Mapping[str, str] | None = None, *,
                answer: str | None = None, columns: int = 80,
                seconds: float = 30) -> tuple[int, str]:
    """Run ``metpost ARGS`` on a pseudo-terminal ``columns`` wide; answer the first [y/N]
    question with ``answer``. Returns the exit code and the screen as text, colours removed."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    process = subprocess.Popen([sys.executable, "-m", "metpost", *args], stdin=terminal,
                               stdout=terminal, stderr=terminal, close_fds=True,
                               env={**os.environ, **(env or {}), "COLUMNS": str(columns)})
    os.close(terminal)
    screen = b""
    give_up = time.monotonic() + seconds
    while time.monotonic() < give_up:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal closed: the process has finished
            break
        if not chunk:
            break
        screen += chunk
        if answer is not None and b"[y/N]" in screen:
            os.write(controller, answer.encode() + b"\r")
            answer = None
    os.close(controller)
    text = ANSI.sub("", screen.decode(errors="replace")).replace("\r", "")
    return process.wait(timeout=seconds), text


def fleet_args(fleet, args: list[str]) -> list[str]:
    """``args`` with the fleet's config and ledger after the command's name."""
    return [args[0], "--config", str(fleet.config), "--ledger", fleet.ledger, *args[1:]]
