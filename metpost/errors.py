"""The exceptions metpost raises for people to read, and the exit codes they map to.

Exit codes (documented in the README):
  0  everything was sent (or, for a dry run, would be)
  1  some posts failed on the platform
  2  bad input: config, template, selection or a failed check; nothing was sent
  3  internal error (a bug in metpost or a plugin); set METPOST_DEBUG=1 for the traceback
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL_ERROR = 3


class MetpostError(Exception):
    """An error a person can act on. ``problems`` holds one line per problem; ``details``,
    what a command asked for JSON shows with them (the posts a failed check found wanting)."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, *problems: str, details: Mapping[str, Any] | None = None) -> None:
        if not problems:
            raise ValueError("MetpostError needs at least one problem")
        self.problems: tuple[str, ...] = problems
        self.details: Mapping[str, Any] = details or {}
        super().__init__("\n".join(problems))


class ConfigError(MetpostError):
    """accounts.yaml is missing, unreadable or invalid."""


class TemplateError(MetpostError):
    """A template is missing, malformed or cannot render for an account."""


class SelectionError(MetpostError):
    """The selection options name something unknown or select nothing."""


class CheckFailed(MetpostError):
    """At least one post failed a pre-send check, so nothing was sent."""
