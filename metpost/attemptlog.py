"""One JSON line per request metpost makes to a platform, for people and log shippers."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from metpost.secrets import Redactor

LOG_ENV = "METPOST_LOG"


class AttemptLog:
    """Appends attempts to a file; does nothing without one. Secrets are redacted."""

    def __init__(self, path: Path | None, redact: Redactor) -> None:
        self.path = path
        self.redact = redact
        self._lock = threading.Lock()

    def write(self, **fields: Any) -> None:
        """Append one record (``time`` is added)."""
        if self.path is None:
            return
        record = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), **fields}
        line = self.redact(json.dumps(record, ensure_ascii=False))
        with self._lock, self.path.open("a", encoding="utf-8") as stream:
            stream.write(line + "\n")
