"""A third-party platform registers through the entry-point group, and then works as the
built-ins do."""

from __future__ import annotations

import json
import textwrap

import pytest

from metpost.plugins import platform_classes

PLUGIN = '''
from pathlib import Path

from metpost.platforms.api import Receipt
from metpost.platforms.api import Platform, TextLimits


class NoticeboardPlatform(Platform):
    """Appends posts to a file: stands in for a platform someone else wrote."""

    name = "noticeboard"
    title = "Noticeboard"
    credential_keys = ("token",)
    account_fields = {"board_file": True}
    limits = TextLimits(max_length=40)

    def publish(self, request):
        text = request.text
        board = Path(self.destination.settings["board_file"])
        lines = board.read_text().splitlines() if board.exists() else []
        board.write_text("\\n".join([*lines, text]) + "\\n")
        return Receipt(remote_id=str(len(lines) + 1), url=None)
'''


@pytest.fixture
def noticeboard_plugin(install_plugin):
    install_plugin("noticeboard", "metpost_noticeboard", "NoticeboardPlatform", PLUGIN)


def test_the_builtins_are_found_by_name():
    platforms = platform_classes()
    assert {"x", "facebook"} <= set(platforms)
    assert platforms["x"].credential_keys == (
        "consumer_key", "consumer_secret", "access_token", "access_token_secret")
    assert platforms["facebook"].account_fields == {"page_id": True, "graph_version": False}


def test_third_party_platform_validates_checks_and_publishes(noticeboard_plugin, project,
                                                              cli_run, tmp_path):
    board = tmp_path / "board.txt"
    config = project(f"""
        boroughs: [{{name: Hackney, bcu: CE}}]
        accounts:
          - name: hackney-board
            platform: noticeboard
            borough: Hackney
            board_file: "{board}"
            credentials: {{token: "${{BOARD_TOKEN}}"}}
        """)
    args = ["send", "--config", str(config), "--all", "--message", "{{ borough }}: all clear"]
    outcome = cli_run([*args, "--yes"], env={"BOARD_TOKEN": "s3cret-token"})
    assert outcome.exit_code == 0, outcome.stderr
    assert board.read_text() == "Hackney: all clear\n"

    too_long = cli_run(["send", "--config", str(config), "--all", "--json", "--dry-run",
                        "--message", "{{ borough }}" + "!" * 40])
    assert too_long.exit_code == 2
    post = json.loads(too_long.stdout)["posts"][0]
    assert post["problems"] == ["too long for Noticeboard: 47/40 characters (7 over)"]


def test_plugin_fields_are_validated(noticeboard_plugin, project, cli_run):
    config = project(textwrap.dedent("""
        accounts:
          - name: board
            platform: noticeboard
            credentials: {token: "${T}"}
        """))
    outcome = cli_run(["check", "--config", str(config)])
    assert outcome.exit_code == 2
    assert outcome.error_lines == [
        f"metpost: error: {config}:2: accounts[0]: missing required key 'board_file' for "
        "platform 'noticeboard'"]
