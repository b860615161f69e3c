"""What every kind of output shares: the mode, the redacting echo, JSON, tables, the console.

Commands hand results to the functions of this package and never print themselves, so the
three forms (a rich table on a terminal, plain text when piped, JSON with --json) stay in step.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, TextIO

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
    """Every line metpost prints goes through here, and no known secret gets past it.

    A reader that goes away (``metpost send ... | head -1``) stops the output, never the work:
    a broadcast under way finishes, is recorded and exits as its posts say, whoever is
    reading; what it would have printed is dropped."""
    try:
        click.echo(REDACT(text), err=err)
    except BrokenPipeError:
        _drop_output(sys.stderr if err else sys.stdout)


def _drop_output(stream: TextIO) -> None:
    """From now on, what is written to ``stream`` goes nowhere (its reader has gone), and
    flushing it at exit raises nothing."""
    import os

    try:
        descriptor = stream.fileno()
    except (OSError, ValueError):  # not a real file (a test's capture): nothing to redirect
        return
    os.dup2(os.open(os.devnull, os.O_WRONLY), descriptor)


def error(message: str) -> None:
    """One problem, one line, on stderr: a line break, tab or escape that came in with a value
    it quotes (``--borough $'Hack\\nney'``) is shown escaped, never acted on."""
    from metpost.characters import one_line

    echo(f"metpost: error: {one_line(message)}", err=True)


def note(message: str) -> None:
    """A remark for the person at the terminal, on stderr so it never pollutes piped output.
    On a terminal it wraps at the terminal's width, between words only, so names stay whole."""
    if sys.stderr.isatty():
        import shutil
        import textwrap

        width = shutil.get_terminal_size().columns
        message = "\n".join(textwrap.wrap(message, width=width, subsequent_indent="  ",
                                           break_long_words=False, break_on_hyphens=False)
                            or [""])
    echo(message, err=True)


# JSON output is indented this deep, one member a line; what lies deeper (a post, a broadcast)
# is written on its member's line, compactly. That reads well and is quick: json writes compact
# JSON in C, but any indented dump in pure Python (4 ms for the shipped example's dry run, a
# quarter of a second for 10,000 accounts).
JSON_OUTLINE_DEPTH = 2
_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": "))


_EMITTED = [0]  # how many JSON documents this process has written to stdout


def emit_json(document: object) -> None:
    echo(json_text(document))
    _EMITTED[0] += 1


def json_documents() -> int:
    """How many JSON documents have gone to stdout so far (a command writes one at most)."""
    return _EMITTED[0]


def json_text(value: object, depth: int = 0, margin: str = "") -> str:
    """``value`` as JSON: objects and arrays down to ``JSON_OUTLINE_DEPTH`` one member a line,
    indented two spaces a level; everything deeper compact."""
    if depth >= JSON_OUTLINE_DEPTH or not isinstance(value, dict | list) or not value:
        return _COMPACT_JSON.encode(value)
    inner = margin + "  "
    if isinstance(value, dict):
        members = [f"{inner}{_json_key(key)}: {json_text(item, depth + 1, inner)}"
                   for key, item in value.items()]
        return "{\n" + ",\n".join(members) + f"\n{margin}}}"
    members = [inner + json_text(item, depth + 1, inner) for item in value]
    return "[\n" + ",\n".join(members) + f"\n{margin}]"


def _json_key(key: object) -> str:
    if isinstance(key, str):
        return _COMPACT_JSON.encode(key)
    # A number, boolean or None becomes a string as json itself makes it ({1: x} → {"1": x}).
    return _COMPACT_JSON.encode({key: None})[1:-len(": null}")]


def refusal_json(problems: list[str], exit_code: int,
                 details: Mapping[str, Any] | None = None) -> None:
    """A refused command asked for JSON: say why in JSON on stdout too (stderr has the lines),
    in one document with ``details`` (the posts a failed check found wanting, say)."""
    emit_json({**(details or {}), "error": "; ".join(problems), "problems": problems,
               "exit_code": exit_code})


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



FLEX_MIN_WIDTH = 16  # the narrowest the one column that may be cut is allowed to get
GAP = 3  # between columns: a space of padding on each side and the box's divider


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], mode: Mode, *,
          flexible: int | None = None) -> None:
    """Rows under headers. Piped, tab-separated and whole. On a terminal, columns empty in every
    row are left out, every cell is printed whole (ids, URLs, handles must be copyable) except
    those of the ``flexible`` column, which is cut with "…" to fit; when the whole cells alone
    do not fit the terminal, each row is printed as a block of "Header: value" lines."""
    from metpost.characters import one_line

    # A line break or tab in a cell would forge a row or a column.
    rows = [[one_line(cell) for cell in row] for row in rows]
    if mode != "rich":
        echo("\t".join(headers))
        for row in rows:
            echo("\t".join(row))
        return
    keep = [index for index in range(len(headers)) if any(row[index] for row in rows)]
    headers = [headers[index] for index in keep]
    rows = [[row[index] for index in keep] for row in rows]
    flex = keep.index(flexible) if flexible in keep else None
    widths = [max([len(header), *(len(row[column]) for row in rows)])
              for column, header in enumerate(headers)]
    fixed = sum(width for column, width in enumerate(widths) if column != flex)
    needed = fixed + GAP * (len(headers) - 1) + (FLEX_MIN_WIDTH if flex is not None else 0)
    screen = console()
    if needed > screen.width:
        blocks(headers, rows, flex)
        return
    from rich import box
    from rich.table import Table

    grid = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1),
                 header_style="bold")
    # Every column's width is given: left to share the room out (a ratio), rich cut whole
    # columns too, a status to "pla", and the flexible one without its "…".
    room = screen.width - fixed - GAP * (len(headers) - 1)
    for column, header in enumerate(headers):
        if column == flex:
            grid.add_column(header, overflow="ellipsis", no_wrap=True,
                            width=max(FLEX_MIN_WIDTH, min(widths[column], room)))
        else:
            grid.add_column(header, no_wrap=True, width=widths[column])
    for row in rows:
        grid.add_row(*(escape(cell) for cell in row))
    screen.print(grid)


def blocks(headers: Sequence[str], rows: Sequence[Sequence[str]],
           flexible: int | None = None) -> None:
    """Each row as a block: its first cell, then an indented "Header: value" line per other
    non-empty cell. Values are never broken (a terminal may fold a very long one); only the
    ``flexible`` column's text wraps, under itself."""
    from rich.padding import Padding
    from rich.text import Text

    screen = console()
    label_width = max((len(header) for header in headers[1:]), default=0) + 1
    for row in rows:
        screen.print(Text(row[0], style="bold"), soft_wrap=True)
        for column, (header, cell) in enumerate(zip(headers, row, strict=True)):
            if column == 0 or not cell:
                continue
            label = f"  {header + ':':<{label_width}} "
            if column == flexible:
                screen.print(label.rstrip())
                screen.print(Padding(Text(cell), (0, 0, 0, 4)))
            else:
                screen.print(Text(label + cell), soft_wrap=True)
        screen.print()


def local_time(iso: str) -> str:
    """An ISO 8601 time as people read it here: local, day and month, minutes (24 Nov 03:00)."""
    from datetime import datetime

    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return moment.astimezone().strftime("%d %b %H:%M").lstrip("0")


def first_words(text: str, limit: int = 60) -> str:
    """The start of a text on one line, cut at a word with "…" when longer than ``limit``."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit - 1].rsplit(" ", 1)[0] if " " in flat[:limit - 1] else flat[:limit - 1]
    return cut.rstrip(" ,;:.") + "…"


def plural(count: int, word: str, many: str | None = None) -> str:
    """"1 post", "2 posts"."""
    return f"{count} {word if count == 1 else (many or word + 's')}"
