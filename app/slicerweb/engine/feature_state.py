"""Runtime feature overrides shared by every instance: one table, in plain SQL with `?` placeholders.

`SqlFeatureStore` holds the logic over any connection source (a read context and a write transaction);
`SqliteFeatureStore` gives it `<data_dir>/features.sqlite` (every instance on one data directory). The
headless engine gives it the PostgreSQL index's database when `index.url` is set, so instances on several
hosts agree. Used by both engines: a Slicer instance keeps its state in its own data directory.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from pathlib import Path
from typing import Any, Protocol

from .protocol import FeatureOverride

SCHEMA = """
CREATE TABLE IF NOT EXISTS feature_override (
    name TEXT PRIMARY KEY,
    enabled INTEGER NOT NULL,
    expires_at DOUBLE PRECISION,
    changed_by TEXT NOT NULL,
    changed_at DOUBLE PRECISION NOT NULL
)
"""
_COLUMNS = "name, enabled, expires_at, changed_by, changed_at"


class Rows(Protocol):
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class Statements(Protocol):
    """What the store needs of a connection: `execute` with `?` placeholders."""

    def execute(self, sql: str, params: Any = ..., /) -> Rows: ...


Connections = Callable[[], AbstractContextManager[Statements]]


def _override(row: Any) -> FeatureOverride:
    return FeatureOverride(row[0], bool(row[1]), row[2], row[3], row[4])


class SqlFeatureStore:
    """Feature overrides in table `feature_override`, read through `read()` and changed in `transaction()`
    (which must serialise writers: BEGIN IMMEDIATE, or PostgreSQL's advisory write lock).

    `unavailable(exc)` names the engine error a database failure stands for (a PostgreSQL that is down):
    reads then answer the overrides last read (each still ends at its own expiry: a bounded, per-process
    cache), so every request is not a 500 while the database restarts; writes raise that error (503)."""

    def __init__(self, read: Connections, transaction: Connections,
                 unavailable: Callable[[Exception], Exception | None] = lambda exc: None) -> None:
        self._read_connection = read
        self._transaction = transaction
        self._unavailable = unavailable
        self._last: dict[str, FeatureOverride] = {}

    def _read(self, now: float) -> dict[str, FeatureOverride]:
        try:
            with self._read_connection() as db:
                rows = db.execute(f"SELECT {_COLUMNS} FROM feature_override", ()).fetchall()
        except Exception as exc:
            if self._unavailable(exc) is None:
                raise
            last = self._last
        else:
            last = self._last = {row[0]: _override(row) for row in rows}
        return {name: o for name, o in last.items() if o.expires_at is None or o.expires_at > now}

    async def overrides(self, now: float) -> dict[str, FeatureOverride]:
        return await asyncio.to_thread(self._read, now)

    def _write(self, override: FeatureOverride | None, name: str) -> FeatureOverride | None:
        try:
            return self._write_now(override, name)
        except Exception as exc:
            mapped = self._unavailable(exc)
            if mapped is None:
                raise
            raise mapped from exc

    def _write_now(self, override: FeatureOverride | None, name: str) -> FeatureOverride | None:
        with self._transaction() as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM feature_override WHERE name = ?", (name,)).fetchone()
            if override is None:
                db.execute("DELETE FROM feature_override WHERE name = ?", (name,))
            else:
                db.execute(
                    f"INSERT INTO feature_override ({_COLUMNS}) VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE "
                    "SET enabled = excluded.enabled, expires_at = excluded.expires_at, "
                    "changed_by = excluded.changed_by, changed_at = excluded.changed_at",
                    (override.name, int(override.enabled), override.expires_at,
                     override.changed_by, override.changed_at))
        return _override(row) if row else None

    def _expire(self, now: float) -> list[FeatureOverride]:
        try:
            return self._expire_now(now)
        except Exception as exc:
            if self._unavailable(exc) is None:
                raise
            return []  # reported by the first instance to reach the database once it is back

    def _expire_now(self, now: float) -> list[FeatureOverride]:
        with self._transaction() as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM feature_override "
                              "WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,)).fetchall()
            # Deleted in the transaction that read them: of several instances, exactly one reports each.
            for row in rows:
                db.execute("DELETE FROM feature_override WHERE name = ? AND expires_at = ?", (row[0], row[2]))
        return [_override(row) for row in rows]

    async def expire(self, now: float) -> list[FeatureOverride]:
        return await asyncio.to_thread(self._expire, now)

    async def set_override(self, override: FeatureOverride) -> FeatureOverride | None:
        return await asyncio.to_thread(self._write, override, override.name)

    async def clear_override(self, name: str) -> FeatureOverride | None:
        return await asyncio.to_thread(self._write, None, name)


class SqliteFeatureStore(SqlFeatureStore):
    """Feature overrides in `<data_dir>/features.sqlite`."""

    def __init__(self, path: Path) -> None:
        self._path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(self._connect, self._immediate)
        with self._connect() as db:
            db.execute(SCHEMA)

    def _connect(self) -> closing[sqlite3.Connection]:
        # `with sqlite3.connect(...)` only ends a transaction; closing() also closes the connection
        # (otherwise each call leaks one until the garbage collector finds it: a ResourceWarning).
        db = sqlite3.connect(self._path, timeout=10, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        return closing(db)

    @contextmanager
    def _immediate(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
