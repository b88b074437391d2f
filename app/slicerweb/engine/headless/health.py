"""The storage readiness check of the headless engine, cheap enough for every probe: it creates,
fsyncs and removes a small file where ingest stages and stores objects (a read-only remount fails it).
The index's own check is `dicomdb/database.py` (`probe`).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..health_api import OK


def storage_verdict(*directories: Path) -> str:
    """"ok", or why a file cannot be written in one of `directories` (staging area and object store)."""
    for directory in directories:
        verdict = _writable(directory)
        if verdict != OK:
            return verdict
    return OK


def _writable(directory: Path) -> str:
    probe = directory / f".ready-probe-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"ok")
            os.fsync(fd)
        finally:
            os.close(fd)
        probe.unlink()
    except OSError as exc:
        return f"storage not writable: {exc.strerror or exc} ({directory.name}/)"
    return OK
