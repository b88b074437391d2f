"""Readiness checks and index statistics of the headless engine, cheap enough for every probe.

The index check opens a fresh read-only connection (the engine's own long-lived connections keep
working on an unlinked file, so they cannot tell that the index has gone); the storage check
creates, fsyncs and removes a small file where ingest stages and stores objects (a read-only remount fails it).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from ..health_api import OK, IndexStatistics

_PROBE_TIMEOUT = 2.0  # seconds a locked index may delay a probe


def index_verdict(path: Path) -> str:
    """"ok", or why the SQLite index at `path` cannot be read."""
    if not path.is_file():
        return f"index file {path.name} is missing"
    try:
        conn = sqlite3.connect(_read_only_uri(path), uri=True, timeout=_PROBE_TIMEOUT)
        try:
            conn.execute("SELECT 1 FROM study LIMIT 1").fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return f"index unreachable: {exc}"
    return OK


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


def index_statistics(path: Path) -> IndexStatistics:
    """Counts from the index's own tables (no file-system walk)."""
    conn = sqlite3.connect(_read_only_uri(path), uri=True, timeout=_PROBE_TIMEOUT)
    try:
        studies = conn.execute("SELECT COUNT(*) FROM study").fetchone()[0]
        series = conn.execute("SELECT COUNT(*) FROM series").fetchone()[0]
        instances, stored = conn.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM instance").fetchone()
    finally:
        conn.close()
    return IndexStatistics(int(studies), int(series), int(instances), int(stored))


def _read_only_uri(path: Path) -> str:
    # A URI (mode=ro) so that a probe never creates a missing index; as_uri needs an absolute path.
    return f"{path.resolve().as_uri()}?mode=ro"
