"""What every kind of output shares: the mode, the redacting echo, JSON, tables, the console.

Commands hand results to the functions of this package and never print themselves, so the
three forms (a rich table on a terminal, plain text when piped, JSON with --json) stay in step.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

import click

from metpost.secrets import REDACT

if TYPE_CHECKING:  # for annotations only: importing rich would slow every command's start
    from rich.console import Console

Mode = Literal["json", "rich", "plain"]


def output_mode(as_json: bool) -> Mode:
    """JSON when asked; a rich table on a terminal; plain text otherwise."""
    if as_json:
        return "json"
    return "rich" if sys.stdout.isatty() else "plain"


def echo(text: str = "", *, err: bool = False) -> None:
    """Every line metpost prints goes through here, and no known secret gets past it."""
    click.echo(REDACT(text), err=err)


def error(message: str) -> None:
    """One problem, one line, on stderr."""
    echo(f"metpost: error: {message}", err=True)


def note(message: str) -> None:
    """A remark for the person at the terminal, on stderr so it never pollutes piped output."""
    echo(message, err=True)


def emit_json(document: object) -> None:
    echo(json.dumps(document, indent=2, ensure_ascii=False))


def escape(text: str) -> str:
    """Text safe to print through rich markup (a post may contain [brackets])."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


@cache
def console() -> Console:
    from rich.console import Console

    class RedactingConsole(Console):
        """A console whose rendered output is redacted, like every other line."""

        def _render_buffer(self, buffer: Any) -> str:
            return REDACT(super()._render_buffer(buffer))

    return RedactingConsole(highlight=False)



def table(headers: Sequence[str], rows: Sequence[Sequence[str]], mode: Mode) -> None:
    if mode == "rich":
        from rich.table import Table

        table = Table()
        for header in headers:
            table.add_column(header, overflow="fold")
        for row in rows:
            table.add_row(*(escape(cell) for cell in row))
        console().print(table)
        return
    echo("\t".join(headers))
    for row in rows:
        echo("\t".join(row))
