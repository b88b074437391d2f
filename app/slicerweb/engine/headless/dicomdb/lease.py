"""Which owners of the DICOM store are alive: a lease row per owner in the index's database.

Every process using the store is an *owner* (storage.Storage): its temp files live in `tmp/<owner>/`
and its stores in flight are journaled in `pending` under its name. Start-up recovery (recovery.py)
clears the leftovers of dead owners, so "dead" must be right across hosts sharing the store over NFS,
where an flock is only as good as the lock manager. The lease decides: each owner inserts a row
(owner, host, pid, started, expires) when it starts, a thread renews it every `renew_seconds` to
expire `seconds` later (20 s and 5 s by default: three renewals in a row may fail before it lapses),
and a clean close deletes it. An owner with no row, or an expired one, is dead. Times are read from
the database's clock (`Database.now`), so skew between the hosts' clocks never makes a live lease look
expired. (The flock on `tmp/<owner>.lock` stays as a second guard on one host: an owner whose flock
is held is never recovered, whatever its lease says.)

The window, thought through. While the database is down an owner A cannot renew, and its lease may
expire; nobody can recover A meanwhile (recovery needs the database). When the database is back, A
renews within a second (a failed renewal is retried every `RETRY_SECONDS`), but an instance B starting
at that moment may run recovery first. Three rules make that race harmless:
1. B decides and clears in one write transaction: it deletes A's expired row and A's journal rows
   together, so A's renewal lands wholly before (A is alive: B clears nothing) or after it.
2. A renewal that finds its row gone learns that A was recovered: the process takes a new owner name
   (new temp directory, flock and lease) and never writes under the old one again, whose files B
   is removing.
3. Fencing: a store places no file while its lease is not known fresh here (`held()`: confirmed by a
   renewal sent within `seconds - renew_seconds` on this host's monotonic clock), and indexes only
   instances whose journal row is still there (`DicomIndex.insert`). A store in flight across B's
   recovery fails (503: retry) and leaves nothing half-written; an indexed row never lacks its file.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ...errors import Unavailable
from .database import Connection, Database

LEASE_SECONDS = 20.0
RETRY_SECONDS = 1.0  # after a failed renewal (the database is down): try again this soon
log = logging.getLogger("slicerweb.dicom")


@dataclass(frozen=True)
class Ended:
    """A dead owner's lease, taken away by recovery (host "" and pid 0: it had none)."""

    owner: str
    host: str
    pid: int


class Lease:
    """This process's lease as owner `owner`, renewed by a background thread from `start()` to `close()`."""

    def __init__(self, db: Database, owner: str, *, seconds: float = LEASE_SECONDS,
                 renew_seconds: float | None = None, on_lost: Callable[[], str] | None = None) -> None:
        """`on_lost()` is called when a renewal finds the row gone (another instance recovered this
        owner while it could not renew): it returns the new owner name to hold a lease for."""
        self.db = db
        self.owner = owner
        self.host = socket.gethostname()
        self.seconds = seconds
        self.renew_seconds = renew_seconds if renew_seconds is not None else seconds / 4
        self._on_lost = on_lost
        self._confirmed = float("-inf")  # monotonic time a successful renewal was sent
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._renewing = threading.Lock()

    def start(self) -> None:
        """Insert the row (errors propagate: an owner that cannot register does not start), then renew."""
        sent = time.monotonic()
        with self.db.read() as conn:  # one statement, autocommit: atomic on its own
            self._insert(conn)
        self._confirmed = sent
        self._thread = threading.Thread(target=self._run, name="dicom-lease", daemon=True)
        self._thread.start()

    def held(self) -> bool:
        """Whether the lease is surely still ours by the database's clock: a renewal sent less than
        `seconds - renew_seconds` ago succeeded (the margin covers clock rates and a slow statement)."""
        return time.monotonic() < self._confirmed + self.seconds - self.renew_seconds

    def check(self) -> None:
        """Unavailable (503) unless `held()`: nothing is placed in the store by an owner that may be
        recovered while it writes."""
        if not self.held():
            raise Unavailable("this instance has lost contact with the DICOM index for too long to store safely; "
                              "retry shortly", retry_after=2)

    def renew(self) -> None:
        """Push the expiry `seconds` ahead; take a new owner name if this one was recovered meanwhile."""
        with self._renewing:
            sent = time.monotonic()
            with self.db.read() as conn:
                row = conn.execute(f"UPDATE lease SET expires = {self.db.now} + ? WHERE owner = ? RETURNING owner",
                                   (self.seconds, self.owner)).fetchall()  # all: SQLite commits once stepped to the end
                if not row:
                    lost = self.owner
                    self.owner = self._on_lost() if self._on_lost is not None else lost
                    log.warning("DICOM store owner %s was recovered by another instance while its lease could not "
                                "be renewed; its stores in flight fail, new ones go on as owner %s", lost, self.owner)
                    self._insert(conn)
            self._confirmed = sent

    def close(self) -> None:
        """Stop renewing and delete the row (if the database is down, the row simply expires)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        try:
            with self.db.read() as conn:
                conn.execute("DELETE FROM lease WHERE owner = ?", (self.owner,))
        except Exception as exc:  # closing must finish; a row left behind expires by itself
            if self.db.error(exc) is None:
                log.warning("DICOM store owner %s: lease not deleted at close (%s); it expires by itself",
                            self.owner, exc)

    def _insert(self, conn: Connection) -> None:
        now = self.db.now
        conn.execute(f"INSERT INTO lease (owner, host, pid, started, expires) VALUES (?, ?, ?, {now}, {now} + ?) "
                     "ON CONFLICT (owner) DO UPDATE SET expires = excluded.expires",
                     (self.owner, self.host, os.getpid(), self.seconds))

    def _run(self) -> None:
        delay = self.renew_seconds
        failing = False
        while not self._stop.wait(delay):
            try:
                self.renew()
            except Exception as exc:  # the database is down (or worse): keep serving, retry soon
                # An unreachable database is logged by the database, once per outage; anything else once
                # per run of failures here (a retry a second must not flood the log either).
                if self.db.error(exc) is None and not failing:
                    log.exception("DICOM store owner %s: lease renewal failed; retrying every %.0f s", self.owner,
                                  RETRY_SECONDS)
                failing, delay = True, min(RETRY_SECONDS, self.renew_seconds)
                continue
            if failing:
                log.info("DICOM store owner %s: lease renewed again", self.owner)
            failing, delay = False, self.renew_seconds


def live_owners(db: Database, conn: Connection) -> set[str]:
    """Owners whose lease has not expired (a cheap first look; `end_if_dead` decides)."""
    return {row[0] for row in conn.execute(f"SELECT owner FROM lease WHERE expires > {db.now}")}


def end_if_dead(db: Database, conn: Connection, owner: str) -> Ended | None:
    """Inside recovery's write transaction: delete `owner`'s lease if it has expired and return it
    (Ended with host "" when it had none); None when the owner is alive. Deleting first, then looking,
    leaves no gap: a renewal racing with this either committed before (the row is fresh and stays)
    or waits for this transaction and then finds the row gone."""
    rows = conn.execute(f"DELETE FROM lease WHERE owner = ? AND expires <= {db.now} RETURNING host, pid",
                        (owner,)).fetchall()
    if rows:
        return Ended(owner, str(rows[0][0]), int(rows[0][1]))
    if conn.execute("SELECT 1 FROM lease WHERE owner = ?", (owner,)).fetchone() is not None:
        return None
    return Ended(owner, "", 0)
