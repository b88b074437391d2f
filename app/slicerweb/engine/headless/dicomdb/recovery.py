"""Start-up recovery: undo the interrupted stores and deletes of dead owners of the DICOM store.

An owner (storage.py) is dead when its lease in the index has expired or is missing (lease.py) and
its flock is free; a live owner's files are never touched, on this host or another. For each dead
owner, one write transaction takes its lease away, unlinks its journaled files that never became
visible (a store between rename and commit) or were already unindexed (a delete between commit and
unlink), and drops its journal rows; then its temp directory and lock file go. Run at start, by
`dicom check --repair`, by a store waiting for another owner's journal row (writer.py), and by a
sweep every lease period (`Sweeper`): an owner killed with -9 has a fresh lease for a while after its
death, so the start that follows it cannot clear it yet; the next sweep after the expiry does.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ...errors import EngineError
from .database import Connection
from .index import DicomIndex
from .lease import Ended, end_if_dead, live_owners
from .storage import Storage

log = logging.getLogger("slicerweb.dicom")


def recover(index: DicomIndex, storage: Storage) -> list[Ended]:
    """Clear what dead owners left; return whose leftovers were cleared."""
    recovered: list[Ended] = []
    with index.writing():
        candidates = storage.owners_seen() | index.journal_owners()
        try:
            with index.db.read() as conn:
                alive = live_owners(index.db, conn)
            for owner in sorted(candidates - alive - {storage.owner}):
                if storage.locked_here(owner):
                    continue  # the second guard: its process holds its flock
                with index.transaction() as conn:
                    ended = end_if_dead(index.db, conn, owner)
                    if ended is None:
                        continue  # renewed just now
                    removed = _remove_journaled(conn, storage, owner)
                storage.clear_owner(owner)
                recovered.append(ended)
                if removed or ended.host:
                    log.warning("recovered DICOM store owner %s (host %s, pid %s, lease expired): %d unfinished "
                                "file(s) removed", owner, ended.host or "unknown", ended.pid or "unknown", removed)
        except Exception as exc:
            mapped = index.db.error(exc)
            if mapped is None:
                raise
            raise mapped from exc
    return recovered


def _remove_journaled(conn: Connection, storage: Storage, owner: str) -> int:
    """Unlink `owner`'s journaled files no index row points to, and drop its journal rows."""
    paths = [row[0] for row in conn.execute(
        "SELECT path FROM pending WHERE owner = ? AND path NOT IN (SELECT path FROM instance)", (owner,))]
    for relpath in paths:
        storage.absolute(relpath).unlink(missing_ok=True)
    conn.execute("DELETE FROM pending WHERE owner = ?", (owner,))
    return len(paths)


class Sweeper:
    """Runs `sweep()` every `seconds` on a background thread until `close()`; failures are logged
    (an unreachable database once per outage, by the database) and never stop it."""

    def __init__(self, sweep: Callable[[], object], seconds: float) -> None:
        self._sweep = sweep
        self._seconds = seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dicom-recovery", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        failing = False
        while not self._stop.wait(self._seconds):
            try:
                self._sweep()
            except EngineError:
                continue  # the database is down or damaged: already logged where it was found
            except Exception:
                if not failing:  # once per run of failures
                    log.exception("DICOM store recovery sweep failed; trying again every %.0f s", self._seconds)
                failing = True
                continue
            failing = False
