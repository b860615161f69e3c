"""Every command explains itself, and the README only names commands that exist."""

from __future__ import annotations

import re

import click

from metpost.cli import cli
from tests.conftest import PROJECT, run


def walk(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from walk(command, (*prefix, name))


def test_every_command_has_help_text():
    commands = list(walk(cli))
    # send, accounts, accounts list, templates, templates list, check, retry, history, show, retract
    assert len(commands) == 10
    for path, command in commands:
        assert command.help and len(command.help.strip()) > 20, f"{' '.join(path)} lacks help"
        outcome = run([*path, "--help"])
        assert outcome.exit_code == 0
        assert f"Usage: metpost {' '.join(path)}" in outcome.stdout
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{' '.join(path)} {param.opts[0]} lacks help"


def test_top_level_help_lists_exit_codes():
    outcome = run(["--help"])
    assert outcome.exit_code == 0
    assert "Exit codes: 0 all sent, 1 some posts failed, 2 bad input" in outcome.stdout


def test_version():
    outcome = run(["--version"])
    assert outcome.exit_code == 0
    assert re.fullmatch(r"metpost, version \d+\.\d+\.\d+\n", outcome.stdout)


def test_readme_mentions_only_real_commands():
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    mentioned = set(re.findall(r"metpost ([a-z]+(?: [a-z]+)?)", readme))
    known = {" ".join(path) for path, _ in walk(cli)}
    first_words = {path.split()[0] for path in known}
    for phrase in mentioned:
        words = phrase.split()
        if words[0] not in first_words:
            continue  # prose such as "metpost is"
        assert words[0] in known, phrase
        if len(words) == 2 and isinstance(cli.commands[words[0]], click.Group):
            assert phrase in known, f"README names 'metpost {phrase}', which does not exist"


def test_help_and_version_import_no_heavy_library():
    import subprocess
    import sys

    heavy = ("rich", "jinja2", "tweepy", "facebook", "yaml", "requests", "sqlite3",
             "platformdirs", "emoji")
    probe = ("import sys, runpy; sys.argv = ['metpost', 'FLAG']\n"
             "try:\n    runpy.run_module('metpost', run_name='__main__')\n"
             "except SystemExit:\n    pass\n"
             f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r})))")
    for flag in ("--help", "--version"):
        result = subprocess.run([sys.executable, "-c", probe.replace("FLAG", flag)],
                                capture_output=True, text=True, check=True)
        assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout
