"""On a terminal, send shows the posts and asks before posting."""

from __future__ import annotations

from tests.terminal import fleet_args, on_terminal


def run_on_terminal(fleet, args: list[str], answer: str) -> tuple[int, str]:
    """``metpost send ARGS`` for the fleet on a terminal, answering its question."""
    return on_terminal(fleet_args(fleet, ["send", *args]), fleet.env, answer=answer,
                       columns=120)


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
