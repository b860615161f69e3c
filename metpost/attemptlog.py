"""One JSON line per request metpost makes to a platform, for people and log shippers."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from metpost.errors import MetpostError
from metpost.secrets import REDACT

LOG_ENV = "METPOST_LOG"


class AttemptLog:
    """Appends attempts to a file; does nothing without one. Secrets are redacted.

    The file is opened when the log is made, so a bad path stops a broadcast before its first
    post rather than after it.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stream: IO[str] | None = None
        if path is not None:
            try:
                self._stream = path.open("a", encoding="utf-8")
            except OSError as error:
                raise MetpostError(f"--log-file {path}: cannot append to it: {error.strerror}; "
                                   "create its folder or choose another path") from None

    def write(self, **fields: Any) -> None:
        """Append one record (``time`` is added); string fields are redacted before encoding."""
        if self._stream is None:
            return
        record = {"time": datetime.now(UTC).isoformat(timespec="milliseconds")}
        record.update({name: REDACT(value) if isinstance(value, str) else value
                       for name, value in fields.items()})
        with self._lock:
            self._stream.write(json.dumps(record, ensure_ascii=False) + "\n")
            self._stream.flush()

    def close(self) -> None:
        """Close the file."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None
