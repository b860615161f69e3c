"""On a terminal, send shows the posts and asks before posting."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import time


def run_on_terminal(fleet, args: list[str], answer: str) -> tuple[int, str]:
    """Run metpost with a pseudo-terminal as stdin/stdout, answering the first prompt."""
    controller, terminal = pty.openpty()
    command = [sys.executable, "-m", "metpost", "send", "--config", str(fleet.config),
               "--ledger", fleet.ledger, *args]
    process = subprocess.Popen(command, stdin=terminal, stdout=terminal, stderr=terminal,
                               env={**os.environ, **fleet.env, "COLUMNS": "120"}, close_fds=True)
    os.close(terminal)
    screen = b""
    answered = False
    give_up = time.monotonic() + 20
    while time.monotonic() < give_up:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the terminal closed: the process has finished
            break
        screen += chunk
        if not answered and b"[y/N]" in screen:
            os.write(controller, answer.encode() + b"\r")
            answered = True
    os.close(controller)
    return process.wait(timeout=20), screen.decode(errors="replace")


ARGS = ["--borough", "Hackney", "--template", "rumour-control", "--var", "rumour=a riot"]


def test_terminal_preview_then_yes_posts(fleet):
    code, screen = run_on_terminal(fleet, ARGS, "y")
    assert code == 0, screen
    assert "About to post" in screen
    assert "Post to 2 accounts? [y/N]" in screen
    assert "2 posts: 2 sent." in screen
    assert len(fleet.x.live_posts("MPSHackney")) == 1
    assert len(fleet.graph.live_posts("1001")) == 1


def test_terminal_preview_then_no_sends_nothing(fleet):
    code, screen = run_on_terminal(fleet, ARGS, "n")
    assert code == 0, screen
    assert "Nothing was sent." in screen
    assert fleet.x.request_count == 0 and fleet.graph.request_count == 0
