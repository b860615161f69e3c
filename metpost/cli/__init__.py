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
    "approve": ("metpost.cli.approve", "approve",
                "Approve a plan: record that it may be posted exactly as it is."),
    "apply": ("metpost.cli.apply", "apply",
              "Post a plan exactly as it was planned and approved."),
    "audit": ("metpost.cli.audit", "audit",
              "List the audit trail: who planned, approved, sent and retracted what, and when."),
    "retry": ("metpost.cli.history", "retry",
              "Finish a broadcast: re-send its failed posts, and check unknown ones first."),
    "history": ("metpost.cli.history", "history",
                "List recent broadcasts with how their posts stand."),
    "show": ("metpost.cli.history", "show",
             "Show one broadcast's posts: state, attempts, ids, URLs and errors."),
    "retract": ("metpost.cli.history", "retract",
                "Delete a broadcast's posts from every platform."),
    "due": ("metpost.cli.due", "due",
            "Send every schedule slot that fell due since the previous run."),
    "schedule": ("metpost.cli.schedule", "schedule",
                 "Inspect the schedules in schedules.yaml and set up cron for metpost due."),
    "accounts": ("metpost.cli.accounts", "accounts", "Inspect the accounts in accounts.yaml."),
    "templates": ("metpost.cli.templates", "templates",
                  "Inspect the message templates in templates/."),
    "platforms": ("metpost.cli.platforms", "platforms",
                  "Inspect the platforms metpost can post to, built-in and plugins."),
    "check": ("metpost.cli.check", "check",
              "Validate accounts.yaml and the templates, and show which secrets are set."),
    "ledger": ("metpost.cli.ledger", "ledger",
               "Look after the ledger: copy a SQLite ledger into a shared PostgreSQL one."),
}


class MetpostGroup(click.Group):
    """Loads commands on demand, and turns metpost's own errors into one line per problem and
    the documented exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command, in the order ``--help`` shows them."""
        return list(COMMANDS)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Remember the words given, to answer in JSON when --json is among them."""
        ctx.meta["metpost.words"] = list(args)
        try:
            return super().parse_args(ctx, args)
        except click.exceptions.UsageError as error:
            raise _in_one_line(error, ctx.command_path) from None

    def resolve_command(self, ctx: click.Context,
                        args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        """An unknown command is an error that suggests the closest one."""
        from metpost.suggest import did_you_mean

        if args and args[0] not in COMMANDS and not args[0].startswith("-"):
            ctx.fail(f"No such command '{args[0]}'{did_you_mean(args[0], COMMANDS)}; see "
                     "metpost --help")
        return super().resolve_command(ctx, args)

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
        """Run the command; a MetpostError becomes readable lines, never a traceback. With
        --json, a refusal is also a JSON document on stdout."""
        from metpost import output

        words = ctx.meta.get("metpost.words", [])
        as_json = "--json" in words
        documents = output.json_documents()
        try:
            return super().invoke(ctx)
        except MetpostError as error:
            for problem in error.problems:
                output.error(problem)
            if as_json:
                output.refusal_json(list(error.problems), error.exit_code, error.details)
            raise click.exceptions.Exit(error.exit_code) from None
        except click.exceptions.UsageError as error:
            command = " ".join([ctx.command_path, *[w for w in words[:1] if w in COMMANDS]])
            if "unexpected extra argument" in error.message and "--var" in words:
                refusal = click.exceptions.UsageError(
                    error.message + '; a --var value with spaces must be quoted, as in '
                    '--var rumour="a stabbing at Mare Street"')
            else:
                refusal = _in_one_line(error, command)
            if as_json:
                output.refusal_json([refusal.format_message()], refusal.exit_code)
            raise refusal from None
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort,
                BrokenPipeError):
            raise
        except KeyboardInterrupt as error:
            # Outside delivery, which handles these itself: no post is in flight.
            from metpost.cli.interrupt import EXIT_INTERRUPTED, stopped_by

            problem = f"stopped ({stopped_by(error)}) with no post in flight"
            output.error(problem)
            if as_json and output.json_documents() == documents:
                output.refusal_json([problem], EXIT_INTERRUPTED)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
        except Exception as error:
            if os.environ.get("METPOST_DEBUG"):
                raise
            # A bug, not bad input: say so in one line; METPOST_DEBUG=1 shows the traceback.
            problem = (f"internal error: {type(error).__name__}: {error} "
                       "(set METPOST_DEBUG=1 for details, and please report it)")
            output.error(problem)
            if as_json and output.json_documents() == documents:  # --json answers in JSON
                output.refusal_json([problem], EXIT_INTERNAL_ERROR)
            raise click.exceptions.Exit(EXIT_INTERNAL_ERROR) from None


# Click's own errors that say what is wrong but not what to do, by their class, or by their
# message when Click raises a plain UsageError (which metpost's commands raise too, with a fix).
CLICK_ERRORS_WITHOUT_A_FIX = (click.exceptions.NoSuchOption, click.exceptions.BadOptionUsage,
                              click.exceptions.BadArgumentUsage, click.exceptions.MissingParameter)
CLICK_MESSAGES_WITHOUT_A_FIX = ("No such command", "Got unexpected extra argument")


def _in_one_line(error: click.exceptions.UsageError,
                 command: str) -> click.exceptions.UsageError:
    """``error`` as one line: Click shows an error without a context alone, not after the
    usage line and the pointer to --help. Click's own errors (no such option, an option
    without its value) end with the ``command``'s --help to read; metpost's say the fix."""
    message = error.format_message()
    if error.ctx is not None:
        command = error.ctx.command_path
    if (isinstance(error, CLICK_ERRORS_WITHOUT_A_FIX)
            or message.startswith(CLICK_MESSAGES_WITHOUT_A_FIX)) and "--help" not in message:
        message = message.rstrip(".")
        message += f" See {command} --help" if message.endswith("?") else (
            f"; see {command} --help")
    return click.exceptions.UsageError(message)  # exit code 2, as every usage error's


@click.group(cls=MetpostGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="metpost")
def cli() -> None:
    """Send one message to many social-media accounts, worded for each.

    Accounts live in accounts.yaml, message templates in templates/ beside it. Preview with
    --dry-run (no network, no credentials needed); secrets come from environment variables.

    \b
    Exit codes: 0 all sent, 1 some posts failed, 2 bad input (nothing sent),
    3 internal error, 130 interrupted by Ctrl-C or SIGTERM.
    """



# How often the cyclic garbage collector runs in a metpost process (see ``main``): gen 0 is
# collected after this many new container objects (Python's default is 700), the older
# generations after as many of the younger one's collections as Python's defaults say. A dry
# run of the shipped example makes fewer, so it never collects; a run over thousands of
# accounts still collects, every 100,000 new objects (10,000 accounts peak at 80 MB either way).
GC_THRESHOLD = 100_000


def _give_closed_streams_somewhere() -> None:
    """A process started with stdout or stderr closed (``metpost send ... >&-``) has None for
    it in Python: what would be written there goes nowhere, and the work is done all the same,
    as it is for a reader that goes away."""
    import sys

    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115


def main() -> None:
    """Console-script entry point.

    A metpost process runs one command and exits, and nearly every object it makes lives until
    then (modules, classes, compiled templates and patterns). Python's cyclic collector keeps
    re-scanning them: while the command starts, and several times over at exit, when
    finalisation collects everything once more. Here it runs less often, and at exit the
    objects are frozen (``gc.freeze``) so that finalisation skips them. Memory is still freed
    by reference counting as modules are torn down; files and connections are closed by the
    code that opened them, never left to the collector.
    """
    import gc

    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(GC_THRESHOLD, middle, oldest)
    _give_closed_streams_somewhere()
    from metpost.cli.interrupt import stop_on_sigterm_as_on_ctrl_c

    stop_on_sigterm_as_on_ctrl_c()
    try:
        cli(prog_name="metpost")
    except BrokenPipeError:
        # Output piped into `head` and closed early: stop quietly, as other tools do.
        import sys

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    finally:
        gc.freeze()
