"""Append-only audit log: one JSON object per line for every privileged act and every denial.

Each record is written with a single `write()` on an `O_APPEND` descriptor and fsynced, so lines
from several processes never interleave and a crash loses at most the line being written.
Never logs tokens or exec source: only the source's SHA-256 and size.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


class AuditLog:
    """Writer for `<data_dir>/audit.jsonl` (or the policy's audit.path)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.observers: list[Callable[[dict[str, Any]], None]] = []  # e.g. metrics counting denials

    def record(self, event: str, **fields: Any) -> dict[str, Any]:
        """Append one record; returns it (time, event, then the fields)."""
        now = time.time()
        entry = {"time": datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds"),
                 "event": event, **fields}
        line = (json.dumps(entry, default=str, separators=(",", ":")) + "\n").encode()
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
        for observe in self.observers:
            observe(entry)
        return entry

    def read(self) -> list[dict[str, Any]]:
        """All records (for tests and the admin view)."""
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
