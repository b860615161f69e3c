"""Options shared by several commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from metpost.ledger import Ledger
    from metpost.models import Config
    from metpost.runner import RunControl
    from metpost.selection import Selection

F = TypeVar("F", bound=Callable[..., Any])


class Seconds(click.ParamType):
    """A finite number of seconds, at least ``minimum``: "nan", "inf" and negatives are refused
    (a float range alone lets nan through, since every comparison with it is false)."""

    name = "seconds"

    def __init__(self, minimum: float) -> None:
        self.minimum = minimum

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> float:
        """``value`` as seconds, or a usage error that says what is accepted."""
        import math

        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"'{value}' is not a number of seconds", param, ctx)
        if not math.isfinite(seconds) or seconds < self.minimum:
            self.fail(f"'{value}' is not a number of seconds of at least {self.minimum:g}",
                      param, ctx)
        return seconds


def text_argument(value: str, where: str) -> str:
    """``value`` if it is valid text; the shell passes undecodable bytes as surrogates."""
    from metpost.errors import MetpostError

    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise MetpostError(f"{where} is not valid UTF-8 text; check the terminal's or "
                           "script's encoding") from None
    return value


def config_option(function: F) -> F:
    """``--config PATH`` (or $METPOST_CONFIG), defaulting to ./accounts.yaml."""
    return click.option(
        "--config", "config_file", metavar="PATH", envvar="METPOST_CONFIG",
        default="accounts.yaml", show_default=True,
        help="Accounts file (also $METPOST_CONFIG). Templates are read from templates/ beside it.",
    )(function)


def as_option(function: F) -> F:
    """``--as NAME`` (or $METPOST_AS): who is acting, for the audit trail."""
    return click.option(
        "--as", "as_name", metavar="NAME", envvar="METPOST_AS",
        help="Who you are, for the audit trail and approvals (also $METPOST_AS; default: your "
             "OS user). The OS user and host are recorded beside it.",
    )(function)


def json_option(function: F) -> F:
    """``--json``."""
    return click.option("--json", "as_json", is_flag=True,
                        help="Print a JSON document instead of a table.")(function)


def selection_options(function: F) -> F:
    """The options that choose accounts."""
    decorators = [
        click.option("--borough", "-b", multiple=True, metavar="NAME",
                     help="Accounts for this borough (repeatable, any case)."),
        click.option("--personality", "-p", multiple=True, metavar="KEY",
                     help="Accounts speaking as this personality (repeatable)."),
        click.option("--tag", "-t", multiple=True, metavar="TAG",
                     help="Accounts with this tag, e.g. bcu-ce or central (repeatable)."),
        click.option("--account", "-a", "account_names", multiple=True, metavar="NAME",
                     help="This account by name (repeatable)."),
        click.option("--all", "all_accounts", is_flag=True, help="Every account."),
        click.option("--platform", multiple=True, metavar="NAME",
                     help="Keep only accounts on this platform, e.g. x or facebook (repeatable)."),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def checked_ledger(ctx: click.Context, param: click.Parameter,
                   value: str | None) -> str | None:
    """An empty --ledger, a URL that is not PostgreSQL's, or a PostgreSQL URL mistyped (see
    ``ledger_target_problem``), is refused as the command line is read, before any file is read
    or anything is shown."""
    if value is None:
        return None
    from metpost.ledger.urls import ledger_target_problem

    problem = ledger_target_problem(value)
    if problem is not None:
        from click.core import ParameterSource

        if param.name and ctx.get_parameter_source(param.name) == ParameterSource.ENVIRONMENT:
            problem = f"$METPOST_LEDGER: {problem}"
        raise click.BadParameter(problem)
    return value


def file_to_write(ctx: click.Context, param: click.Parameter,
                  value: str | None) -> str | None:
    """A path metpost will write a file to (--html, --plan): refused as the command line is
    read when something other than a file is there (a device, a named pipe, a folder), which
    writing would replace, rather than after the broadcast has been rendered and shown."""
    if value is None:
        return None
    from pathlib import Path

    from metpost.files import NotAFileError, file_target

    try:
        file_target(Path(value))
    except NotAFileError as error:
        raise click.BadParameter(f"{value}: it is {error.kind}; give the path of a file") from None
    return value


# A key people type, and scripts build from variables: printable, on one line, not too long.
MAX_KEY_LENGTH = 200


def checked_key(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--key: refused when empty or blank (``--key "$SLOT"`` with SLOT unset would otherwise
    lose the exactly-once guarantee without a word), when it holds a control character (a line
    break splits history's rows; an escape sequence reaches the terminal), or when longer
    than ``MAX_KEY_LENGTH``, or when it is a schedule slot's."""
    if value is None:
        return None
    if not value.strip():
        raise click.BadParameter("is empty; give the broadcast's name (a script's unset "
                                 "variable?), or leave --key out")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise click.BadParameter("is not valid UTF-8 text; check the terminal's or script's "
                                 "encoding") from None
    if any(not char.isprintable() for char in value):
        raise click.BadParameter("holds a line break or another control character; give a "
                                 "name on one line")
    if len(value) > MAX_KEY_LENGTH:
        raise click.BadParameter(f"is {len(value)} characters long; give at most "
                                 f"{MAX_KEY_LENGTH}")
    from metpost.schedule import SLOT_KEY_PREFIX

    if value.casefold().startswith(SLOT_KEY_PREFIX):
        # A hand-made send under a slot's key would be taken by metpost due for the slot
        # itself, found "already sent", and the slot would never go out.
        raise click.BadParameter(f"begins with '{SLOT_KEY_PREFIX}', which metpost due keeps for "
                                 "its slots; choose another name (metpost retry ID finishes a "
                                 "slot)")
    return value


def ledger_option(function: F) -> F:
    """``--ledger PATH`` (or $METPOST_LEDGER)."""
    return click.option(
        "--ledger", "ledger_file", metavar="PATH|URL", envvar="METPOST_LEDGER",
        callback=checked_ledger,
        help="History database: a SQLite file, or postgresql://user@host/db for a ledger "
             "shared by several hosts, its password in PGPASSWORD or ~/.pgpass (also "
             "$METPOST_LEDGER; default: metpost/ledger.sqlite3 in the user data directory).",
    )(function)


def delivery_options(function: F) -> F:
    """How hard and how fast to deliver: deadline, concurrency, timeouts, log file, ledger."""
    decorators = [
        click.option("--deadline", type=Seconds(1), default=60, show_default=True,
                     metavar="SECONDS",
                     help="Give up retrying (5xx, rate limits, lost connections) after this."),
        click.option("--concurrency", type=click.IntRange(min=1), default=48,
                     show_default=True, metavar="N",
                     help="Requests in flight at once, per platform."),
        click.option("--connect-timeout", type=Seconds(0.1), default=5,
                     show_default=True, metavar="SECONDS",
                     help="Wait this long for a platform to accept a connection."),
        click.option("--read-timeout", type=Seconds(0.1), default=20,
                     show_default=True, metavar="SECONDS",
                     help="Wait this long for a platform to answer; after that the post's "
                          "outcome is unknown and is checked, not resent blindly."),
        click.option("--log-file", metavar="PATH", envvar="METPOST_LOG",
                     help="Append one JSON line per request (also $METPOST_LOG); secrets "
                          "are redacted."),
        ledger_option,
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def delivery_from(options: dict[str, Any], *,
                  create: bool = True) -> tuple[Ledger, RunControl]:
    """The ledger and how to run, from the keyword arguments ``delivery_options`` adds."""
    from metpost.delivery import DeliveryPolicy
    from metpost.platforms.api import Timeouts
    from metpost.runner import RunControl

    policy = DeliveryPolicy(deadline=options.pop("deadline"),
                            concurrency=options.pop("concurrency"),
                            timeouts=Timeouts(connect=options.pop("connect_timeout"),
                                              read=options.pop("read_timeout")))
    log_file = options.pop("log_file")
    control = RunControl(policy=policy, log_path=Path(log_file) if log_file else None)
    return open_ledger(options.pop("ledger_file"), create=create), control


def open_ledger(ledger_file: str | None, *, create: bool = True) -> Ledger:
    """Open the ledger named on the command line, or the default one. Commands that only read
    (or finish what is recorded) pass ``create=False``: a missing ledger is then an error that
    says nothing has been sent from here, and no file is made."""
    from metpost.ledger import open_ledger as open_backend

    return open_backend(ledger_file, create=create)


def selection_from(options: dict[str, Any]) -> Selection:
    """Build a Selection from the keyword arguments ``selection_options`` adds."""
    from metpost.selection import Selection

    return Selection(
        boroughs=tuple(options.pop("borough")),
        personalities=tuple(options.pop("personality")),
        tags=tuple(options.pop("tag")),
        accounts=tuple(options.pop("account_names")),
        all=options.pop("all_accounts"),
        platforms=tuple(options.pop("platform")),
    )


def load(config_file: str) -> Config:
    """Load and validate the config named on the command line."""
    from metpost.config import load_config

    return load_config(Path(config_file))
