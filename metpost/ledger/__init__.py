"""The ledger: every broadcast and post metpost has handled, and who is sending what now.

One interface (``Ledger``), a backend per kind of database: SQLite by default (a file on one
machine), PostgreSQL for a ledger several machines share (``postgresql://user@host/db``).
``open_ledger`` picks the backend from what the user gave.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from metpost.lazy import lazy_attributes
from metpost.ledger.urls import check_ledger_target, is_database_url, redacted_url

if TYPE_CHECKING:
    from metpost.ledger.migrations import MIGRATIONS
    from metpost.ledger.records import (
        AuditEvent,
        BroadcastRecord,
        Claim,
        LedgerError,
        LedgerPart,
        LedgerPost,
        NoLedger,
        PlannedPost,
        TransientLedgerError,
    )
    from metpost.ledger.sql import SqlLedger as Ledger
    from metpost.ledger.sqlite import SqliteLedger

LEDGER_ENV = "METPOST_LEDGER"  # a path or URL: the ledger when --ledger is not given

# What this package offers, and the module each comes from. They load when first used, so that
# finding where the ledger is (a dry run) imports neither a database driver nor the record types.
_WHERE = {
    "Ledger": "metpost.ledger.sql:SqlLedger",
    "SqliteLedger": "metpost.ledger.sqlite:SqliteLedger",
    "MIGRATIONS": "metpost.ledger.migrations:MIGRATIONS",
    **{name: f"metpost.ledger.records:{name}" for name in (
        "AuditEvent", "BroadcastRecord", "Claim", "LedgerError", "LedgerPart", "LedgerPost",
        "NoLedger", "PlannedPost", "TransientLedgerError")},
}

__all__ = ["LEDGER_ENV", "MIGRATIONS", "AuditEvent", "BroadcastRecord", "Claim", "Ledger",
           "LedgerError", "LedgerPart", "LedgerPost", "NoLedger", "PlannedPost", "SqliteLedger",
           "TransientLedgerError",
           "check_ledger_target", "default_ledger_path", "is_database_url", "ledger_target",
           "open_ledger", "redacted_url"]


__getattr__ = lazy_attributes(globals(), _WHERE)


def default_ledger_path() -> Path:
    """ledger.sqlite3 in the user's data directory: the ledger when none is named."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("metpost")) / "ledger.sqlite3"


def ledger_target(target: str | Path | None = None) -> str | Path:
    """Which ledger to use: ``target``, else $METPOST_LEDGER, else the default file.

    A target that is empty, or a URL of any kind but PostgreSQL's, is refused rather than taken
    for a file name: a cron line whose variable is unset (``--ledger "$LEDGER_URL"``) must not
    quietly keep a ledger of its own, and neither ``mysql://host/db`` nor a mistyped
    ``postgresql:/host/db`` may become a folder (see ``ledger_target_problem``).
    """
    where = "--ledger"
    if target is None:
        target = os.environ.get(LEDGER_ENV)
        if target is None:
            return default_ledger_path()
        where = f"${LEDGER_ENV}"
    if isinstance(target, str):
        check_ledger_target(target, where)
    return target


def open_ledger(target: str | Path | None = None, *, create: bool = True) -> Ledger:
    """The ledger at ``target`` (a path, or a ``postgresql://`` URL), else $METPOST_LEDGER,
    else the default file (see ``ledger_target``). With ``create=False`` (for commands that only
    read), a ledger that does not exist yet raises ``NoLedger``."""
    chosen = ledger_target(target)
    if isinstance(chosen, str) and is_database_url(chosen):
        from metpost.ledger.postgres import PostgresLedger  # the driver only when it is used

        return PostgresLedger(chosen, create=create)
    path = Path(chosen)
    if not create and not path.exists():
        from metpost.ledger.records import NoLedger

        raise NoLedger(f"no ledger at {path} (nothing has been sent from here yet)")
    from metpost.ledger.sqlite import SqliteLedger

    return SqliteLedger(path)
