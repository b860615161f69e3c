"""Ledger URLs: which targets are databases, and how a URL is shown without its password.

Kept apart from the PostgreSQL backend so that telling a URL from a path imports no driver.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode

from metpost.errors import MetpostError

SCHEMES = ("postgresql", "postgres")
PASSWORD_KEYS = {"password"}
# How a URL starts (RFC 3986's scheme, then "//"): a target like this names no SQLite file.
URL_START = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def is_database_url(target: str) -> bool:
    """Is ``target`` a PostgreSQL URL (rather than the path of a SQLite file)?"""
    scheme, sep, _ = target.partition("://")
    return bool(sep) and scheme.lower() in SCHEMES


def ledger_target_problem(target: str) -> str | None:
    """Why ``target`` cannot name a ledger (it is empty, or a URL metpost cannot use), or
    None when it can: a SQLite file's path or a PostgreSQL URL."""
    if not target.strip():
        return ("it is empty; give the path of a SQLite file or a "
                "postgresql://user@host/database URL, or leave it out for the default ledger")
    if target != target.strip():  # pasted with a space or a newline: never a real name
        shown = redacted_url(target) if "://" in target else target
        return f"{shown!r} begins or ends with white space; remove it"
    if URL_START.match(target) and not is_database_url(target):
        return (f"{redacted_url(target)} is not a ledger metpost can use; give the path of a "
                "SQLite file, or a postgresql://user@host/database URL")
    return None


def check_ledger_target(target: str, where: str = "--ledger") -> None:
    """Refuse (MetpostError) a ledger target that is empty or a URL metpost cannot use."""
    problem = ledger_target_problem(target)
    if problem is not None:
        raise MetpostError(f"{where}: {problem}")


def _split(url: str) -> tuple[str, str | None, str, str]:
    """(scheme, credentials or None, hosts and path, query) of ``url``, cut as libpq cuts a
    connection URI: the credentials run to the first "@" that comes before any "/", so a "?"
    or "#" in a password stays in it (libpq takes ``user:pa?ss@`` as the password ``pa?ss``),
    and "#" begins no fragment. Done by hand: ``urlsplit`` would cut a password short, cannot
    parse libpq's comma-separated hosts, and raises on an unclosed IPv6 bracket."""
    scheme, _, rest = url.partition("://")
    end = next((i for i, char in enumerate(rest) if char in "@/"), len(rest))
    credentials = None
    if rest[end:end + 1] == "@":
        credentials, rest = rest[:end], rest[end + 1:]
    place, _, query = rest.partition("?")
    return scheme, credentials, place, query


def redacted_url(url: str) -> str:
    """``url`` with any password taken out, fit to be shown anywhere."""
    scheme, credentials, place, query = _split(url)
    user = (credentials or "").partition(":")[0]
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(key.lower() in PASSWORD_KEYS for key, _ in pairs):
        query = urlencode([(key, value) for key, value in pairs
                           if key.lower() not in PASSWORD_KEYS], safe="/")
    shown = f"{scheme}://{user + '@' if user else ''}{place}"
    return shown + (f"?{query}" if query else "")


def has_password(url: str) -> bool:
    """Does ``url`` carry a password (``user:secret@``, or ``?password=``)?"""
    _, credentials, _, query = _split(url)
    return ":" in (credentials or "") or any(
        key.lower() in PASSWORD_KEYS for key, _ in parse_qsl(query, keep_blank_values=True))


def refuse_password(url: str, where: str = "--ledger") -> None:
    """A URL with a password in it shows in process lists, shell history and cron mail: refuse
    it, saying where the password goes instead."""
    if has_password(url):
        raise MetpostError(
            f"{where} {redacted_url(url)}: the URL must not contain the database password; "
            "set PGPASSWORD, or put it in a .pgpass file (~/.pgpass, or the file PGPASSFILE "
            "names)")
