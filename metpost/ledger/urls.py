"""Ledger URLs: which targets are databases, and how a URL is shown without its password.

Kept apart from the PostgreSQL backend so that telling a URL from a path imports no driver.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode

from metpost.errors import MetpostError

SCHEMES = ("postgresql", "postgres")
# Query keys whose value is a secret: the password, and the passphrase of the client's SSL key.
PASSWORD_KEYS = {"password", "sslpassword"}
# Where a URL's user ends and its password begins: a colon, written out or percent-encoded
# (libpq decodes "user%3Asecret" into a user name holding the password; no real one is so).
USER_END = re.compile(r":|%3a", re.IGNORECASE)
# How a URL starts (RFC 3986's scheme and its colon): a target like this names no SQLite file.
# "//" is not required: "postgresql:/db", "postgres:db" and "sqlite:ledger.db" are mistyped
# URLs far more often than wanted file names, and taken for one each would keep a ledger of its
# own, apart from the shared one, and post every slot again.
URL_START = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
# A PostgreSQL URL that lost its colon ("postgres//db.internal/metpost"): as a path it is a
# folder named postgres, so it is refused for the same reason (./postgres/... still names one).
POSTGRES_WITHOUT_COLON = re.compile(r"(?:postgres|postgresql)/", re.IGNORECASE)
# Where the user and host would begin in such a near miss, for showing it without a password.
NEAR_URL_START = re.compile(r"\s*(?:[A-Za-z][A-Za-z0-9+.-]*:|(?:postgres|postgresql)/)/*",
                            re.IGNORECASE)


def is_database_url(target: str) -> bool:
    """Is ``target`` a PostgreSQL URL (rather than the path of a SQLite file)?"""
    scheme, sep, _ = target.partition("://")
    return bool(sep) and scheme.lower() in SCHEMES


def ledger_target_problem(target: str) -> str | None:
    """Why ``target`` cannot name a ledger (it is empty, a URL metpost cannot use, or a
    PostgreSQL URL mistyped), or None when it can: a SQLite file's path or a PostgreSQL URL.

    A value that begins like a URL (``scheme:``) or a folder named postgres is refused rather
    than taken for a file: on a cron host it would quietly keep a ledger of its own. A file of
    such a name is still reachable as ``./NAME``."""
    if not target.strip():
        return ("it is empty; give the path of a SQLite file or a "
                "postgresql://user@host/database URL, or leave it out for the default ledger")
    if target != target.strip():  # pasted with a space or a newline: never a real name
        return f"{redacted_url(target)!r} begins or ends with white space; remove it"
    if is_database_url(target):
        return None
    scheme = target.partition(":")[0].lower() if URL_START.match(target) else None
    if scheme in SCHEMES or POSTGRES_WITHOUT_COLON.match(target):
        return (f"{redacted_url(target)} looks like a PostgreSQL URL missing ://; write "
                "postgresql://user@host/db, or ./NAME for a file of that name")
    if scheme is not None and "://" in target:
        return (f"{redacted_url(target)} is not a ledger metpost can use; give the path of a "
                "SQLite file, or a postgresql://user@host/database URL")
    if scheme is not None:
        return (f"{redacted_url(target)} begins like a URL ({scheme}:), not the path of a file; "
                "give a postgresql://user@host/db URL, or ./NAME for a file of that name")
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
    """``url`` with any password taken out, fit to be shown anywhere. A URL missing its "//"
    or its colon (``postgresql:/user:secret@host/db``) is cut as if it had them: it may carry
    a password all the same. Anything else (a file's path) is shown as it is."""
    start = NEAR_URL_START.match(url)
    if "://" not in url and start:
        return start.group() + redacted_url("x://" + url[start.end():])[len("x://"):]
    if "://" not in url:
        return url
    scheme, credentials, place, query = _split(url)
    user = USER_END.split(credentials or "", maxsplit=1)[0]
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(key.lower() in PASSWORD_KEYS for key, _ in pairs):
        query = urlencode([(key, value) for key, value in pairs
                           if key.lower() not in PASSWORD_KEYS], safe="/")
    shown = f"{scheme}://{user + '@' if user else ''}{place}"
    return shown + (f"?{query}" if query else "")


def has_password(url: str) -> bool:
    """Does ``url`` carry a password (``user:secret@``, ``user%3Asecret@``, ``?password=``) or
    another secret (``?sslpassword=``)?"""
    _, credentials, _, query = _split(url)
    return USER_END.search(credentials or "") is not None or any(
        key.lower() in PASSWORD_KEYS for key, _ in parse_qsl(query, keep_blank_values=True))


def refuse_password(url: str, where: str = "--ledger") -> None:
    """A URL with a password in it shows in process lists, shell history and cron mail: refuse
    it, saying where the password goes instead."""
    if has_password(url):
        raise MetpostError(
            f"{where} {redacted_url(url)}: the URL must not contain the database password; "
            "set PGPASSWORD, or put it in a .pgpass file (~/.pgpass, or the file PGPASSFILE "
            "names)")
