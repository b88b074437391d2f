"""Helpers for tests about owners' leases (lease.py): read the lease table, wait for a lease to expire."""

from __future__ import annotations

import time
from pathlib import Path

from slicerweb.engine.headless.dicomdb.database import open_database
from slicerweb.engine.headless.dicomdb.health import INDEX_FILE


def location(root: Path, index_url: str = "") -> str:
    """The index of the store in `root`: its PostgreSQL URL, or its SQLite file."""
    return index_url or str(root / INDEX_FILE)


def leases(root: Path, index_url: str = "") -> dict[str, tuple[str, int, bool]]:
    """{owner: (host, pid, fresh)} as the database's clock sees them now."""
    db = open_database(location(root, index_url))
    try:
        with db.read() as conn:
            rows = conn.execute(f"SELECT owner, host, pid, expires > {db.now} FROM lease").fetchall()
    finally:
        db.close()
    return {row[0]: (row[1], int(row[2]), bool(row[3])) for row in rows}


def wait_for_expiry(root: Path, index_url: str = "", timeout: float = 30.0) -> None:
    """Block until no lease in the store's index is fresh any more (the owners holding them are dead)."""
    deadline = time.monotonic() + timeout
    while any(fresh for _host, _pid, fresh in leases(root, index_url).values()):
        assert time.monotonic() < deadline, f"leases still fresh after {timeout} s: {leases(root, index_url)}"
        time.sleep(0.1)
