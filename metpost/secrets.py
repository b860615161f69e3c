"""Credentials come from the environment only, and never leave metpost unredacted."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import quote, quote_plus

from metpost.models import Account

REDACTED = "[redacted]"
# Shorter values would redact ordinary words; real tokens are far longer.
MIN_SECRET_LENGTH = 6


def resolve_credentials(account: Account,
                        environ: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """The account's secrets read from ``environ``, and the names of variables that are unset."""
    values: dict[str, str] = {}
    missing: list[str] = []
    for key, variable in account.credentials.items():
        value = environ.get(variable, "")
        if value.strip():
            values[key] = value
        else:
            missing.append(variable)
    return values, missing


class Redactor:
    """Replaces every known secret (and its URL-encoded forms) in text with ``[redacted]``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._forms: set[str] = set()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Remember more secrets to hide."""
        for secret in secrets:
            if len(secret) >= MIN_SECRET_LENGTH:
                self._forms.update({secret, quote(secret, safe=""), quote_plus(secret)})

    def __call__(self, text: str) -> str:
        """``text`` with every secret replaced."""
        for form in sorted(self._forms, key=len, reverse=True):
            text = text.replace(form, REDACTED)
        return text
