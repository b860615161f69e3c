"""Ledger URLs: which targets are databases, and how a URL is shown without its password.

Kept apart from the PostgreSQL backend so that telling a URL from a path imports no driver.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit

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
    if URL_START.match(target) and not is_database_url(target):
        return (f"{redacted_url(target)} is not a ledger metpost can use; give the path of a "
                "SQLite file, or a postgresql://user@host/database URL")
    return None


def check_ledger_target(target: str, where: str = "--ledger") -> None:
    """Refuse (MetpostError) a ledger target that is empty or a URL metpost cannot use."""
    problem = ledger_target_problem(target)
    if problem is not None:
        raise MetpostError(f"{where}: {problem}")


def _split_userinfo(netloc: str) -> tuple[str | None, bool, str]:
    """(user, whether a password is written, hosts) of a URL's netloc. libpq allows several
    comma-separated hosts, which ``urlsplit`` cannot parse, so this is done by hand."""
    if "@" not in netloc:
        return None, False, netloc
    userinfo, _, hosts = netloc.rpartition("@")
    user, colon, _ = userinfo.partition(":")
    return user, bool(colon), hosts


def redacted_url(url: str) -> str:
    """``url`` with any password taken out, fit to be shown anywhere."""
    parts = urlsplit(url)
    user, _, hosts = _split_userinfo(parts.netloc)
    netloc = f"{user}@{hosts}" if user else hosts
    query = parts.query
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(key.lower() in PASSWORD_KEYS for key, _ in pairs):
        query = urlencode([(key, value) for key, value in pairs
                           if key.lower() not in PASSWORD_KEYS], safe="/")
    # Put together by hand: urlunsplit drops the empty host of postgresql:///db?host=/run/...
    shown = f"{parts.scheme}://{netloc}{parts.path}"
    return shown + (f"?{query}" if query else "") + (f"#{parts.fragment}" if parts.fragment
                                                     else "")


def has_password(url: str) -> bool:
    """Does ``url`` carry a password (``user:secret@``, or ``?password=``)?"""
    parts = urlsplit(url)
    _, written, _ = _split_userinfo(parts.netloc)
    return written or any(key.lower() in PASSWORD_KEYS
                          for key, _ in parse_qsl(parts.query, keep_blank_values=True))


def refuse_password(url: str, where: str = "--ledger") -> None:
    """A URL with a password in it shows in process lists, shell history and cron mail: refuse
    it, saying where the password goes instead."""
    if has_password(url):
        raise MetpostError(
            f"{where} {redacted_url(url)}: the URL must not contain the database password; "
            "set PGPASSWORD, or put it in a .pgpass file (~/.pgpass, or the file PGPASSFILE "
            "names)")
