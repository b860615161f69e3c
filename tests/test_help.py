"""Every command explains itself, and the README only names commands that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click

from metpost.cli import COMMANDS, cli
from tests.conftest import PROJECT, run


def walk(group: click.Group, prefix: tuple[str, ...] = ()):
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from walk(command, (*prefix, name))


def test_every_command_has_help_text():
    commands = list(walk(cli))
    # send, accounts, accounts list, templates, templates list, check, retry, history, show, retract
    # due, schedule, schedule list, schedule preview, schedule cron-line, accounts verify
    # platforms, platforms list, ledger, ledger migrate, approve, apply, audit
    assert len(commands) == 23
    for path, command in commands:
        assert command.help and len(command.help.strip()) > 20, f"{' '.join(path)} lacks help"
        outcome = run([*path, "--help"])
        assert outcome.exit_code == 0
        assert f"Usage: metpost {' '.join(path)}" in outcome.stdout
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{' '.join(path)} {param.opts[0]} lacks help"


def test_the_command_table_matches_each_commands_own_help():
    outcome = run(["--help"])
    for name, (_, _, summary) in COMMANDS.items():
        command = cli.get_command(click.Context(cli), name)
        assert command.help.strip().splitlines()[0] == summary
        assert f"  {name}" in outcome.stdout and summary in " ".join(outcome.stdout.split())


def test_top_level_help_lists_exit_codes():
    outcome = run(["--help"])
    assert outcome.exit_code == 0
    assert "Exit codes: 0 all sent, 1 some posts failed, 2 bad input" in outcome.stdout


def test_version():
    outcome = run(["--version"])
    assert outcome.exit_code == 0
    assert re.fullmatch(r"metpost, version \d+\.\d+\.\d+\n", outcome.stdout)


def test_readme_names_only_real_commands_and_documents_them_all():
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    fenced = re.findall(r"```[a-z]*\n(.*?)```", readme, re.DOTALL)
    code = "\n".join(fenced + re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", readme,
                                                                 flags=re.DOTALL)))
    mentioned = re.findall(r"\bmetpost ([a-z]+)(?: ([a-z][a-z-]*[a-z]))?", code)
    assert len(mentioned) > 10
    known = {" ".join(path) for path, _ in walk(cli)}
    for first, second in mentioned:
        assert first in COMMANDS, f"README names 'metpost {first}', which does not exist"
        if isinstance(cli.get_command(click.Context(cli), first), click.Group):
            assert f"{first} {second}" in known, f"README names 'metpost {first} {second}'"
    documented = {" ".join(filter(None, pair)) for pair in mentioned}
    leaves = {path for path in known if not isinstance(dict(walk(cli))[tuple(path.split())],
                                                        click.Group)}
    assert leaves <= {d if d in known else d.split()[0] for d in documented}


def loaded_by(args: list[str], modules: tuple[str, ...],
              env: dict[str, str] | None = None) -> tuple[list[str], str]:
    """Which of ``modules`` (or modules inside them) ``metpost ARGS`` imports, run in a fresh
    interpreter from the project root, and what it printed."""
    import subprocess
    import sys

    probe = (f"import json, sys, runpy; sys.argv = ['metpost', *{args!r}]\n"
             "try:\n    runpy.run_module('metpost', run_name='__main__')\n"
             "except SystemExit as exit:\n    assert not exit.code, exit.code\n"
             f"wanted = {modules!r}\n"
             "print(json.dumps(sorted(name for name in wanted if any(module == name or "
             "module.startswith(name + '.') for module in sys.modules))), file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True, cwd=Path(__file__).parent.parent, env=env)
    return json.loads(result.stderr.strip().splitlines()[-1]), result.stdout


def test_help_and_version_import_no_heavy_library():
    heavy = ("rich", "jinja2", "tweepy", "facebook", "yaml", "requests", "sqlite3",
             "platformdirs", "emoji")
    for flag in ("--help", "--version"):
        assert loaded_by([flag], heavy)[0] == []


def test_a_json_dry_run_loads_only_what_it_uses(tmp_path):
    # Built-in platforms only: no search through installed packages for plugins; no ledger to
    # read: no database driver; nothing to send: no HTTP stack, no client library; --json: no
    # rich; no approvals configured: none of the review machinery.
    import os

    unused = ("importlib.metadata", "sqlite3", "socket", "rich", "tweepy", "facebook",
              "requests", "metpost.approvals", "metpost.reviews", "metpost.ledger.sql",
              "metpost.delivery.engine", "metpost.runner")
    loaded, printed = loaded_by(
        ["send", "--config", "accounts.yaml", "--all", "--template", "rumour-control", "--var",
         "rumour=r", "--var", "truth=t", "--dry-run", "--json"], unused,
        env={**os.environ, "METPOST_LEDGER": str(tmp_path / "none.sqlite3")})
    assert loaded == []
    assert json.loads(printed)["posts"]


def test_the_console_entry_point_spares_the_collector(monkeypatch, capsys):
    # main() collects less often while a command runs and freezes what is left at exit, so
    # that finalisation does not scan every object again (about 15 ms of each run).
    import gc
    import sys

    from metpost.cli import GC_THRESHOLD, main

    threshold = gc.get_threshold()
    monkeypatch.setattr(sys, "argv", ["metpost", "--version"])
    try:
        try:
            main()
        except SystemExit as exit_:
            assert exit_.code in (0, None)
        assert "metpost" in capsys.readouterr().out
        assert gc.get_threshold()[0] == GC_THRESHOLD
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
