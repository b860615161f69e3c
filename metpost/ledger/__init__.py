"""The ledger: every broadcast and post metpost has handled, and who is sending what now.

One interface (``Ledger``), a backend per kind of database: SQLite by default (a file on one
machine). ``open_ledger`` picks the backend from what the user gave.
"""

from __future__ import annotations

import os
from pathlib import Path

from metpost.errors import MetpostError
from metpost.ledger.migrations import MIGRATIONS
from metpost.ledger.records import BroadcastRecord, Claim, LedgerError, LedgerPost, PlannedPost
from metpost.ledger.sql import SqlLedger as Ledger
from metpost.ledger.sqlite import LEDGER_ENV, SqliteLedger

__all__ = ["LEDGER_ENV", "MIGRATIONS", "BroadcastRecord", "Claim", "Ledger", "LedgerError",
           "LedgerPost", "NoLedger", "PlannedPost", "SqliteLedger", "default_ledger_path",
           "open_ledger"]


def default_ledger_path() -> Path:
    """$METPOST_LEDGER, else ledger.sqlite3 in the user's data directory."""
    configured = os.environ.get(LEDGER_ENV)
    if configured:
        return Path(configured)
    from platformdirs import user_data_dir

    return Path(user_data_dir("metpost")) / "ledger.sqlite3"


class NoLedger(MetpostError):
    """There is no ledger where one was looked for (and it was not to be created)."""


def open_ledger(target: str | Path | None = None, *, create: bool = True) -> Ledger:
    """The ledger at ``target`` (a path), else the default one. With ``create=False`` (for
    commands that only read), a ledger that does not exist yet raises ``NoLedger``."""
    path = Path(target) if target else default_ledger_path()
    if not create and not path.exists():
        raise NoLedger(f"no ledger at {path} (nothing has been sent from here yet)")
    return SqliteLedger(path)
