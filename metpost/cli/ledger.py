"""``metpost ledger``: looking after the ledger itself."""

from __future__ import annotations

import click

from metpost.cli.options import json_option


@click.group()
def ledger() -> None:
    """Look after the ledger: copy a SQLite ledger into a shared PostgreSQL one."""


@ledger.command()
@click.option("--from", "source", metavar="PATH", required=True,
              help="The SQLite ledger file to copy (it is read, not changed, apart from being "
                   "brought up to this metpost's schema).")
@click.option("--to", "target", metavar="URL", required=True,
              help="The PostgreSQL ledger to copy into, e.g. postgresql://metpost@db/metpost; "
                   "the password comes from PGPASSWORD or .pgpass, never the URL.")
@click.option("--skip-existing", is_flag=True,
              help="Leave out what URL holds already, instead of copying nothing: a broadcast "
                   "both hosts sent before they shared a ledger keeps URL's record, gains the "
                   "posts of it that URL lacked, and is named.")
@json_option
def migrate(source: str, target: str, skip_existing: bool, as_json: bool) -> None:
    """Copy every broadcast and post of a SQLite ledger into a PostgreSQL ledger.

    Broadcasts keep their ids, so `metpost show` and `metpost retry` find them as before;
    posts are numbered anew in the target. Nothing is copied if the target already holds some
    of them (unless --skip-existing); if it holds them all (copied before), there is nothing
    to do, so running this twice is safe. Stop the cron jobs that use the SQLite file first,
    then point them at URL.
    """
    from metpost import output
    from metpost.errors import MetpostError
    from metpost.ledger import is_database_url, open_ledger, redacted_url
    from metpost.ledger.transfer import copy_ledger
    from metpost.ledger.urls import URL_START, refuse_password

    if not source.strip():
        raise MetpostError("--from is empty: give the path of the SQLite ledger file to copy")
    if URL_START.match(source):
        raise MetpostError(f"--from takes the path of a SQLite ledger file, not a URL "
                           f"({redacted_url(source)})")
    if not is_database_url(target):  # (a mistyped one may hold a password: never shown)
        raise MetpostError(f"--to takes a PostgreSQL URL (postgresql://user@host/database), "
                           f"not '{redacted_url(target)}'")
    refuse_password(target, "--to")
    from_ledger = open_ledger(source, create=False)
    to_ledger = open_ledger(target)
    try:
        copied = copy_ledger(from_ledger, to_ledger, skip_existing=skip_existing)
    finally:
        from_ledger.close()
        to_ledger.close()
    output.show_ledger_copy(copied, output.output_mode(as_json))
