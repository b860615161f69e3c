"""The ``metpost`` command: a thin Click layer over the library.

Commands are imported only when run, and library modules only inside each command, so that
``metpost --help`` stays fast.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import click

from metpost import __version__
from metpost.errors import EXIT_INTERNAL_ERROR, MetpostError

# name -> (module, attribute, the first line of its help, as `metpost --help` lists it)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "send": ("metpost.cli.send", "send",
             "Render a message for each selected account and post it."),
    "retry": ("metpost.cli.history", "retry",
              "Finish a broadcast: re-send its failed posts, and check unknown ones first."),
    "history": ("metpost.cli.history", "history",
                "List recent broadcasts with how their posts stand."),
    "show": ("metpost.cli.history", "show",
             "Show one broadcast's posts: state, attempts, ids, URLs and errors."),
    "retract": ("metpost.cli.history", "retract",
                "Delete a broadcast's posts from every platform."),
    "accounts": ("metpost.cli.accounts", "accounts", "Inspect the accounts in accounts.yaml."),
    "templates": ("metpost.cli.templates", "templates",
                  "Inspect the message templates in templates/."),
    "check": ("metpost.cli.check", "check",
              "Validate accounts.yaml and the templates, and show which secrets are set."),
}


class MetpostGroup(click.Group):
    """Loads commands on demand, and turns metpost's own errors into one line per problem and
    the documented exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command, in the order ``--help`` shows them."""
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import a command's module only when it is asked for."""
        if cmd_name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[cmd_name]
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List commands from the table above, without importing them."""
        with formatter.section("Commands"):
            formatter.write_dl([(name, summary) for name, (_, _, summary) in COMMANDS.items()])

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; a MetpostError becomes readable lines, never a traceback."""
        from metpost import output

        try:
            return super().invoke(ctx)
        except MetpostError as error:
            for problem in error.problems:
                output.error(problem)
            raise click.exceptions.Exit(error.exit_code) from None
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort,
                BrokenPipeError):
            raise
        except Exception as error:
            if os.environ.get("METPOST_DEBUG"):
                raise
            # A bug, not bad input: say so in one line; METPOST_DEBUG=1 shows the traceback.
            output.error(f"internal error: {type(error).__name__}: {error} "
                         "(set METPOST_DEBUG=1 for details, and please report it)")
            raise click.exceptions.Exit(EXIT_INTERNAL_ERROR) from None


@click.group(cls=MetpostGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="metpost")
def cli() -> None:
    """Send one message to many social-media accounts, worded for each.

    Accounts live in accounts.yaml, message templates in templates/ beside it. Preview with
    --dry-run (no network, no credentials needed); secrets come from environment variables.

    \b
    Exit codes: 0 all sent, 1 some posts failed, 2 bad input (nothing sent),
    3 internal error.
    """



def main() -> None:
    """Console-script entry point."""
    try:
        cli(prog_name="metpost")
    except BrokenPipeError:
        # Output piped into `head` and closed early: stop quietly, as other tools do.
        import sys

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
