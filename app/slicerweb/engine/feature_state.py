"""SQLite-backed `FeatureStore`: runtime feature overrides shared by all instances on a data dir.

Plain SQL (one table, `INSERT ... ON CONFLICT DO UPDATE`) so it ports to PostgreSQL unchanged.
Used by both engines: a Slicer instance keeps its state in its own data directory.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from .protocol import FeatureOverride

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feature_override (
    name TEXT PRIMARY KEY,
    enabled INTEGER NOT NULL,
    expires_at DOUBLE PRECISION,
    changed_by TEXT NOT NULL,
    changed_at DOUBLE PRECISION NOT NULL
)
"""


class SqliteFeatureStore:
    """Feature overrides in `<data_dir>/features.sqlite`."""

    def __init__(self, path: Path) -> None:
        self._path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._path, timeout=10, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    def _read(self, now: float) -> dict[str, FeatureOverride]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT name, enabled, expires_at, changed_by, changed_at FROM feature_override"
            ).fetchall()
        return {
            row[0]: FeatureOverride(row[0], bool(row[1]), row[2], row[3], row[4])
            for row in rows
            if row[2] is None or row[2] > now
        }

    async def overrides(self, now: float) -> dict[str, FeatureOverride]:
        return await asyncio.to_thread(self._read, now)

    def _write(self, override: FeatureOverride | None, name: str) -> FeatureOverride | None:
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute(
                "SELECT name, enabled, expires_at, changed_by, changed_at FROM feature_override "
                "WHERE name = ?", (name,)).fetchone()
            if override is None:
                db.execute("DELETE FROM feature_override WHERE name = ?", (name,))
            else:
                db.execute(
                    "INSERT INTO feature_override (name, enabled, expires_at, changed_by, changed_at) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET enabled = excluded.enabled, "
                    "expires_at = excluded.expires_at, changed_by = excluded.changed_by, "
                    "changed_at = excluded.changed_at",
                    (override.name, int(override.enabled), override.expires_at,
                     override.changed_by, override.changed_at))
            db.execute("COMMIT")
        return FeatureOverride(row[0], bool(row[1]), row[2], row[3], row[4]) if row else None

    def _expire(self, now: float) -> list[FeatureOverride]:
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            rows = db.execute(
                "SELECT name, enabled, expires_at, changed_by, changed_at FROM feature_override "
                "WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,)).fetchall()
            # Deleted in the transaction that read them: of several instances, exactly one reports each.
            db.executemany("DELETE FROM feature_override WHERE name = ? AND expires_at = ?",
                           [(row[0], row[2]) for row in rows])
            db.execute("COMMIT")
        return [FeatureOverride(row[0], bool(row[1]), row[2], row[3], row[4]) for row in rows]

    async def expire(self, now: float) -> list[FeatureOverride]:
        return await asyncio.to_thread(self._expire, now)

    async def set_override(self, override: FeatureOverride) -> FeatureOverride | None:
        return await asyncio.to_thread(self._write, override, override.name)

    async def clear_override(self, name: str) -> FeatureOverride | None:
        return await asyncio.to_thread(self._write, None, name)
