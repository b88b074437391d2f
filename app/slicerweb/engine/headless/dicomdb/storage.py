"""Atomic file storage for Part-10 objects under `<root>/objects/<study>/<series>/<sop>.dcm`.

A new object is written to `<root>/tmp/<owner>/` and fsynced (a batch's files in parallel); the
index journals its final path in `pending` (committed), the file is renamed into place, and the
index transaction that makes it visible deletes the journal row. A crash at any point leaves either
a temp file, a journaled file (never indexed) or a fully indexed object; recovery removes the first
two. Several processes may share the data directory (instances behind a proxy, on one host or
several, and the CLI): each is an *owner* with its own temp directory, and recovery (recovery.py)
only touches the leftovers of owners that are dead: whose lease in the index has expired
(lease.py), and whose flock on `tmp/<owner>.lock` (a second guard, kept on one host) is free.
UIDs are checked (digits and dots only) before they become path components.

Every process using the database also holds a shared flock on `<root>/index.lock`; `slicerweb
dicom reindex` takes it exclusively, so it never rebuilds an index a server is using, and a server
never starts during a rebuild.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from ...errors import Unavailable

CHUNK = 1 << 20
DATABASE_LOCK = "index.lock"
DISK_FULL = {errno.ENOSPC: "no space left on device (ENOSPC)", errno.EDQUOT: "disk quota exceeded (EDQUOT)"}
SYNC_THREADS = 8


class Storage:
    """The object tree and its temp directory (same file system, so rename is atomic)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        database_lock = lock_database(self.root, exclusive=False)
        if database_lock is None:
            raise Unavailable(f"the DICOM database in {self.root} is being reindexed; start again when that is done")
        self._database_lock = database_lock
        self.objects = self.root / "objects"
        self.tmp = self.root / "tmp"
        self.objects.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self._owning = threading.Lock()
        self._lock = -1
        self.owner = self._become_new_owner()
        self.fence: Callable[[], None] = lambda: None  # raises when files may not be placed (Lease.check)
        self._syncer = ThreadPoolExecutor(SYNC_THREADS, thread_name_prefix="dicom-fsync")

    def _become_new_owner(self) -> str:
        """A fresh owner name and its flock; its temp directory is made at the first write (`write_temp`),
        after the lease is registered, so a directory in tmp/ never belongs to an owner without one."""
        owner = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        lock = os.open(self.tmp / f"{owner}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(lock, fcntl.LOCK_EX)
        if self._lock >= 0:
            os.close(self._lock)  # the old name's lock file was removed by the instance that recovered it
        self._lock = lock
        self.own_tmp = self.tmp / owner
        return owner

    def take_new_owner(self) -> str:
        """Drop this owner name for a new one (another instance recovered it: lease.py, rule 2)."""
        with self._owning:
            self.owner = self._become_new_owner()
            return self.owner

    def close(self) -> None:
        """Give up ownership (leftovers, if any, are then recovered by the next process to start)."""
        if self._lock >= 0:
            self._syncer.shutdown(wait=True)
            shutil.rmtree(self.own_tmp, ignore_errors=True)
            (self.tmp / f"{self.owner}.lock").unlink(missing_ok=True)
            os.close(self._lock)
            self._lock = -1
            os.close(self._database_lock)

    def owners_seen(self) -> set[str]:
        """Owners with a lock file or temp directory in tmp/ (alive or not)."""
        return {p.name.removesuffix(".lock") for p in self.tmp.iterdir()}

    def locked_here(self, owner: str) -> bool:
        """Whether `owner`'s flock is held (its process is alive on a host whose lock manager works)."""
        try:
            fd = os.open(self.tmp / f"{owner}.lock", os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def clear_owner(self, owner: str) -> None:
        """Remove a dead owner's temp files and lock file."""
        if not owner or owner in (".", "..") or "/" in owner or owner == self.owner:
            return  # e.g. journal rows from before owners existed: nothing of theirs lives in tmp/
        target = self.tmp / owner
        if target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        elif target.exists():
            target.unlink()
        (self.tmp / f"{owner}.lock").unlink(missing_ok=True)

    def final_path(self, study_uid: str, series_uid: str, sop_uid: str) -> Path:
        return self.objects / study_uid / series_uid / f"{sop_uid}.dcm"

    def relative(self, path: Path) -> str:
        return str(path.relative_to(self.root))

    def absolute(self, relative: str) -> Path:
        return self.root / relative

    def write_temp(self, source: BinaryIO) -> Path:
        """Copy `source` (from its start) into a temp file; `sync()` makes it durable."""
        source.seek(0)
        try:
            fd, name = tempfile.mkstemp(dir=self.own_tmp, suffix=".part")
        except FileNotFoundError:  # the first write of this owner name
            self.own_tmp.mkdir(exist_ok=True)
            fd, name = tempfile.mkstemp(dir=self.own_tmp, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(source, out, CHUNK)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        return Path(name)

    def sync_later(self, path: Path) -> Future[None]:
        """Start fsyncing a temp file in the background (it overlaps with parsing the next part)."""
        return self._syncer.submit(fsync_path, path)

    def place(self, moves: list[tuple[Path, Path]]) -> None:
        """Rename synced temp files into place, then fsync every directory touched (each once, in
        parallel); returns when all are durable. Nothing is renamed unless `fence()` passes: an owner
        that may have been recovered meanwhile places nothing (lease.py, rule 3)."""
        if moves:
            self.fence()
        touched: set[Path] = set()
        for temp, final in moves:
            if not final.parent.is_dir():
                final.parent.mkdir(parents=True, exist_ok=True)
                touched.update((final.parent.parent, final.parent.parent.parent))
            try:
                os.replace(temp, final)
            except FileNotFoundError:  # a delete removed the emptied folder just now (delete.py)
                final.parent.mkdir(parents=True, exist_ok=True)
                touched.update((final.parent.parent, final.parent.parent.parent))
                os.replace(temp, final)
            touched.add(final.parent)
        for done in [self._syncer.submit(fsync_path, directory) for directory in touched]:
            done.result()  # in parallel (each costs a journal commit); all done before the index commit


def lock_database(root: Path, exclusive: bool) -> int | None:
    """Hold `<root>/index.lock` shared (a user of the database) or exclusively (a rebuild); the
    open descriptor (close it to let go), or None when the other kind holds it now."""
    fd = os.open(root / DATABASE_LOCK, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def fsync_path(path: Path) -> None:
    """fsync a file or a directory (a directory: so the renames in it are durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
