"""Credentials come from the environment only, and never leave metpost unredacted.

Every secret metpost reads goes through ``resolve_credentials``, which also teaches the process's
``REDACT`` every form in which the secret could be echoed back: as it is, stripped of
surrounding whitespace, percent-encoded (upper- or lower-case hex, ``+`` or ``%20`` for spaces),
HTML-escaped and JSON-escaped. All output and logs pass through ``REDACT``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping
from urllib.parse import quote, quote_plus

from metpost.models import Account

REDACTED = "[redacted]"
# Shorter values would redact ordinary words; real tokens are far longer.
MIN_SECRET_LENGTH = 6
PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


def _fold_escapes(text: str) -> str:
    """``text`` with percent-escapes in lower case (same length, so positions still match)."""
    return PERCENT_ESCAPE.sub(lambda match: match.group(0).lower(), text)


def resolve_credentials(account: Account,
                        environ: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """The account's secrets read from ``environ``, and the names of variables that are unset.

    A secret is used without the white space around it: no platform's token has any, and an
    environment file written on Windows (or ``echo`` into one) leaves a carriage return or a
    newline that the platform would refuse as a wrong token. Each secret found is remembered
    by ``REDACT``, as given and as used.
    """
    values: dict[str, str] = {}
    missing: list[str] = []
    given: list[str] = []
    for key, variable in account.credentials.items():
        value = environ.get(variable, "")
        if value.strip():
            values[key] = value.strip()
            given.append(value)
        else:
            missing.append(variable)
    REDACT.add(given)  # as given, which covers as used (see ``echoed_forms``)
    REDACT.add(piece for value in given for piece in secret_url_pieces(value.strip()))
    return values, missing


# A piece of a URL's path is taken for a token when it is long, or mixes in digits: "services"
# or "hooks" are words, "T0KENSECRET123" and "B07QX9" are not.
_TOKEN_LIKE = re.compile(r"(?=.*\d)[^/]{6,}|[^/]{16,}")


def secret_url_pieces(value: str) -> list[str]:
    """For a secret that is a URL (a webhook's address, whose token is its path or query),
    the parts a receiver may quote on their own: its path and query, each token-like path
    segment, each query value, and the password in it. Empty for any other secret."""
    from urllib.parse import parse_qsl, urlsplit

    if "://" not in value:
        return []
    try:
        parts = urlsplit(value)
    except ValueError:
        return []
    pieces = [parts.path, f"{parts.path}?{parts.query}" if parts.query else "", parts.query,
              parts.password or ""]
    pieces += [segment for segment in parts.path.split("/") if _TOKEN_LIKE.fullmatch(segment)]
    pieces += [item for _, item in parse_qsl(parts.query, keep_blank_values=True)]
    return [piece for piece in pieces if len(piece) >= MIN_SECRET_LENGTH]


# Characters that no escaping below changes: a secret made of them only is echoed as it is.
_UNESCAPED = re.compile(r"[A-Za-z0-9_.~-]*")


# A control character inside a secret (a line break from a file read with ``$(cat ...)`` that
# held two lines, a NUL): no platform's token has one, and an HTTP library refuses it in a
# header before anything is sent, which would look like a lost connection.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def credential_problems(account: Account, environ: Mapping[str, str]) -> list[str]:
    """One line per secret of ``account`` that is set but cannot be used as it is: it holds a
    control character once its surrounding white space is gone, or its platform refuses its
    value (``Platform.credential_problems``); never the value itself."""
    from metpost.plugins import platform_classes

    problems = [f"credential {variable} holds a line break or another control character, "
                "which no token has; set it again without it"
                for variable in account.credentials.values()
                if _CONTROL.search(environ.get(variable, "").strip())]
    if problems or account.platform not in (platforms := platform_classes()):
        return problems
    values, _ = resolve_credentials(account, environ)
    return [f"credential {account.credentials[key]}: {problem}"
            for key, problem in platforms[account.platform].credential_problems(values).items()]


def echoed_forms(secret: str) -> set[str]:
    """Every way ``secret`` may come back in a platform's error, a URL or a log line: as it
    is; percent-, form- and HTML-encoded; and inside a string literal, JSON's (ASCII-escaped
    or not) or Python's (the repr of an error body, which libraries put in their messages),
    once or twice over (JSON inside a repr)."""
    import html  # (its entity tables cost a dry run without credentials for nothing)

    forms: set[str] = set()
    for value in {secret, secret.strip()}:
        if len(value) < MIN_SECRET_LENGTH:
            continue
        if _UNESCAPED.fullmatch(value):
            forms.add(value)
            continue
        encoded = {_fold_escapes(quote(value, safe="")), _fold_escapes(quote_plus(value, safe=""))}
        plain = {value, *encoded, html.escape(value), html.escape(value, quote=False)}
        once = {escaped for form in plain for escaped in _in_literals(form)}
        twice = {escaped for form in once for escaped in _in_literals(form)}
        forms |= plain | once | twice
    return forms


def _in_literals(text: str) -> set[str]:
    """``text`` as it reads inside a JSON string (ASCII-escaped, or not) and inside a Python
    string literal (quoted with ', with ", or neither quote escaped)."""
    return {json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1],
            *(_python_escaped(text, quote) for quote in ("'", '"', ""))}


_PYTHON_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _python_escaped(text: str, quote: str) -> str:
    """``text`` as Python's repr writes it between ``quote`` marks."""
    return "".join(_PYTHON_ESCAPES.get(char) or ("\\" + char if char == quote else None)
                   or (char if char.isprintable() else repr(char)[1:-1]) for char in text)


class Redactor:
    """Replaces every known secret, in any form it may be echoed in, with ``[redacted]``.

    Forms are indexed by their first ``MIN_SECRET_LENGTH`` characters, so redacting a text
    costs one pass over it however many secrets there are (thousands of accounts each have
    several).
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._by_prefix: dict[str, list[str]] = {}
        self._known: set[str] = set()
        self._lock = threading.Lock()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Remember more secrets to hide."""
        with self._lock:
            for secret in secrets:
                if secret in self._known:
                    continue
                self._known.add(secret)
                for form in echoed_forms(secret):
                    forms = self._by_prefix.setdefault(form[:MIN_SECRET_LENGTH], [])
                    if form not in forms:
                        forms.append(form)
                        forms.sort(key=len, reverse=True)  # the longest form wins

    def __call__(self, text: str) -> str:
        """``text`` with every secret replaced."""
        if not self._by_prefix:
            return text
        # Match against percent-escapes in lower case (forms are stored so), replace in the
        # original: the two have the same length.
        folded = _fold_escapes(text) if "%" in text else text
        pieces: list[str] = []
        start = index = 0
        end = len(text) - MIN_SECRET_LENGTH
        while index <= end:
            forms = self._by_prefix.get(folded[index:index + MIN_SECRET_LENGTH])
            found = next((form for form in forms if folded.startswith(form, index)),
                         None) if forms else None
            if found is None:
                index += 1
                continue
            pieces += [text[start:index], REDACTED]
            index = start = index + len(found)
        return "".join(pieces) + text[start:] if pieces else text


# The process's redactor: it knows every secret resolve_credentials has read.
REDACT = Redactor()
