"""`slicerweb dicom migrate-index --to postgresql://...`: copy a SQLite index into PostgreSQL.

The object files stay where they are (the index stores paths relative to the data directory's
`dicom/`), so moving a deployment to PostgreSQL is: stop the server, migrate, set `index.url`, start.
The database lock is taken exclusively (no server or import may use the directory meanwhile); the
target must be empty (a second run never mixes two archives); rows keep their keys and the copy is
one transaction, so a failure leaves the target as empty as it was. Rows stream in batches: memory
does not grow with the archive.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from ...errors import Conflict, Unavailable
from .health import INDEX_FILE
from .index import DicomIndex
from .storage import lock_database

TABLES = ("patient", "study", "series", "instance")  # parents first: foreign keys hold at every row
BATCH = 1000


@dataclass(frozen=True)
class MigrationReport:
    """Rows copied per table, and where to."""

    target: str
    rows: dict[str, int]


def migrate_index(root: Path, url: str) -> MigrationReport:
    """Copy `root`'s SQLite index into the (empty) PostgreSQL database at `url`."""
    source_path = root / INDEX_FILE
    if not source_path.is_file():
        raise Unavailable(f"there is no SQLite index at {source_path} to migrate")
    lock = lock_database(root, exclusive=True)
    if lock is None:
        raise Unavailable(f"{root} is in use (a running server or import holds it); stop it and try again")
    try:
        target = DicomIndex(url)  # creates the schema (once, under the write lock)
        try:
            return _copy(source_path, target)
        finally:
            target.close()
    finally:
        os.close(lock)


def _copy(source_path: Path, target: DicomIndex) -> MigrationReport:
    rows: dict[str, int] = {}
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
    try:
        with target.db.transaction() as conn:
            for table in (*TABLES, "pending"):
                if conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None:
                    raise Conflict(f"the target index is not empty (table {table} has rows); "
                                   "migrate into an empty database")
            if source.execute("SELECT 1 FROM pending LIMIT 1").fetchone() is not None:
                raise Conflict("the SQLite index has interrupted stores in its journal; start and stop the server "
                               "once (recovery clears them), then migrate")
            for table in TABLES:
                cursor = source.execute(f"SELECT * FROM {table} ORDER BY pk")
                names = [d[0] for d in cursor.description]
                insert = (f"INSERT INTO {table} ({', '.join(names)}) "
                          f"VALUES ({', '.join('?' for _ in names)})")
                rows[table] = 0
                while batch := cursor.fetchmany(BATCH):
                    for row in batch:
                        conn.execute(insert, row)
                    rows[table] += len(batch)
                target.db.continue_keys(conn, table)
    finally:
        source.close()
    return MigrationReport(target.db.location, rows)
