"""The README's examples work as written after the quick start: every `metpost …` line of its
shell examples runs on a copy of the shipped example, with each account's API pointed at the
local fakes and its secrets set, and succeeds; every line that publishes is marked as such and
comes after a preview."""

from __future__ import annotations

import re
import shlex
import shutil

import pytest
import yaml

from tests.conftest import PROJECT, run

README = (PROJECT / "README.md").read_text(encoding="utf-8")
SHELL_BLOCKS = re.findall(r"```sh\n(.*?)```", README, re.DOTALL)
REAL = "# posts for real"


def examples() -> list[str]:
    """Each metpost command of the README's shell blocks, continuation lines joined."""
    commands = []
    for block in SHELL_BLOCKS:
        joined = block.replace("\\\n", " ")
        commands += [line.strip() for line in joined.splitlines()
                     if line.strip().startswith("metpost ")]
    return commands


def publishes(command: str) -> bool:
    words = shlex.split(command, comments=True)
    return (words[1] in ("send", "retry", "retract", "due", "apply")
            and "--dry-run" not in words and "--plan" not in words)


def test_every_example_that_posts_is_marked_and_comes_after_a_preview():
    found = examples()
    assert found, "the README has shell examples"
    for index, command in enumerate(found):
        if publishes(command):
            assert command.endswith(REAL), f"not marked as posting for real: {command}"
            assert any("--dry-run" in earlier for earlier in found[:index]), command
        else:
            assert REAL not in command, command


@pytest.fixture
def shipped_copy(tmp_path):
    """The shipped example in a temporary folder, every account's API on the local fakes."""
    from tests.fake_platforms import FakeGraph, FakeX

    folder = tmp_path / "metpost"
    folder.mkdir()
    shutil.copytree(PROJECT / "templates", folder / "templates")
    config = yaml.safe_load((PROJECT / "accounts.yaml").read_text(encoding="utf-8"))
    env: dict[str, str] = {"METPOST_LEDGER": str(tmp_path / "ledger.sqlite3")}
    with FakeX() as x, FakeGraph() as graph:
        for number, account in enumerate(config["accounts"], start=1):
            secrets = {key: f"{account['name']}-{key}-s3cr3t" for key in account["credentials"]}
            if account["platform"] == "x":
                secrets["access_token"] = f"{number}-{secrets['access_token']}"
                x.add_user(str(number), (account.get("handle") or "").lstrip("@"),
                           secrets["consumer_key"], secrets["access_token"])
                account["api_url"] = x.url
            elif account["platform"] == "facebook":
                graph.add_page(account["page_id"], account["name"],
                               secrets["page_access_token"])
                account["api_url"] = graph.url
            for key, reference in account["credentials"].items():
                env[reference.strip("${}")] = secrets[key]
        (folder / "accounts.yaml").write_text(yaml.safe_dump(config, sort_keys=False),
                                              encoding="utf-8")
        yield folder, env, x, graph


def test_the_readme_examples_run_as_written(shipped_copy):
    folder, env, x, graph = shipped_copy
    for command in examples():
        words = shlex.split(command, comments=True)[1:]
        outcome = run(words, env=env, cwd=folder)
        assert outcome.exit_code == 0, f"{command}\n{outcome.stdout}{outcome.stderr}"
    published = [post.text for post in x.live_posts()] + [p.message for p in graph.live_posts()]
    assert published and all("are reopening" in text for text in published)
    assert (folder / "page.html").exists()
