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
from metpost.ledger.urls import is_database_url, redacted_url

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
           "default_ledger_path", "is_database_url", "open_ledger", "redacted_url"]


__getattr__ = lazy_attributes(globals(), _WHERE)


def default_ledger_path() -> Path:
    """$METPOST_LEDGER, else ledger.sqlite3 in the user's data directory."""
    configured = os.environ.get(LEDGER_ENV)
    if configured:
        return Path(configured)
    from platformdirs import user_data_dir

    return Path(user_data_dir("metpost")) / "ledger.sqlite3"


def open_ledger(target: str | Path | None = None, *, create: bool = True) -> Ledger:
    """The ledger at ``target`` (a path, or a ``postgresql://`` URL), else $METPOST_LEDGER,
    else the default file. With ``create=False`` (for commands that only read), a ledger that
    does not exist yet raises ``NoLedger``."""
    chosen = target or os.environ.get(LEDGER_ENV)
    if isinstance(chosen, str) and is_database_url(chosen):
        from metpost.ledger.postgres import PostgresLedger  # the driver only when it is used

        return PostgresLedger(chosen, create=create)
    path = Path(chosen) if chosen else default_ledger_path()
    if not create and not path.exists():
        from metpost.ledger.records import NoLedger

        raise NoLedger(f"no ledger at {path} (nothing has been sent from here yet)")
    from metpost.ledger.sqlite import SqliteLedger

    return SqliteLedger(path)
