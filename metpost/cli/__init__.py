"""The ``metpost`` command: a thin Click layer over the library.

Library modules are imported inside each command so that ``metpost --help`` stays fast.
"""

from __future__ import annotations

import os
from typing import Any

import click

from metpost import __version__
from metpost.cli.accounts import accounts
from metpost.cli.check import check
from metpost.cli.history import history, retract, retry, show
from metpost.cli.send import send
from metpost.cli.templates import templates
from metpost.errors import EXIT_INTERNAL_ERROR, MetpostError


class MetpostGroup(click.Group):
    """Turns metpost's own errors into one line per problem and the documented exit code."""

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


cli.add_command(send)
cli.add_command(accounts)
cli.add_command(templates)
cli.add_command(check)
cli.add_command(retry)
cli.add_command(history)
cli.add_command(show)
cli.add_command(retract)


def main() -> None:
    """Console-script entry point."""
    try:
        cli(prog_name="metpost")
    except BrokenPipeError:
        # Output piped into `head` and closed early: stop quietly, as other tools do.
        import sys

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
