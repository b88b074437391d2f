"""`slicerweb backup DEST` and `slicerweb restore SRC`: a consistent snapshot of a live data directory.

What a backup holds: `dicom/index.sqlite` (taken with SQLite's online backup API in one step, so it
is one committed state however busy the server is), `dicom/objects/` (every file that snapshot
references: hard links when DEST is on the same file system, copies otherwise; stored objects are
never rewritten in place, so a link is a snapshot), `features.sqlite` (runtime feature overrides,
same API), `audit.jsonl` (a copy, complete lines only) and `backup.json` (what, when, counts).

Consistency: the index snapshot is taken first, then its files are linked. Stores and deletes in
flight at that instant are journal rows (`pending`), dropped from the snapshot; an instance deleted
between the snapshot and its link (or whose file was already missing) is dropped from the snapshot
too (`delete.unindex`, counts kept right), so the backup's index references only files present in
it. The backup is built in a hidden sibling directory and renamed to DEST at the end: a backup
interrupted midway never looks complete. The shared database lock is held throughout, so no
`dicom reindex` swaps the index underneath.

Restore copies the index and links (or copies) the objects into the data directory, staged and
renamed likewise. It refuses a data directory holding anything unless `force`; then the database
must be idle (the exclusive lock, as reindex takes it) and what was there is moved aside to
`replaced-<time>/` inside the data directory, never deleted. The target's own audit log is kept.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from ....version import __version__
from ...errors import Invalid, NotFound, Unavailable
from .delete import unindex
from .health import INDEX_FILE, OBJECT_SUFFIX
from .index import DicomIndex
from .schema import SCHEMA_VERSION
from .storage import SYNC_THREADS, fsync_path, lock_database

MANIFEST = "backup.json"
FEATURES_FILE = "features.sqlite"
AUDIT_FILE = "audit.jsonl"
LINK_FAILURES = frozenset({errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES})
BACKUP_OWNER = "backup"


@dataclass(frozen=True)
class SnapshotReport:
    """What a backup or restore did."""

    source: str
    destination: str
    instances: int
    studies: int
    files_linked: int
    files_copied: int
    bytes: int
    left_out: int
    """Instances in the index snapshot whose file was gone by the time it was linked (dropped)."""
    features: bool
    audit_log: bool
    seconds: float
    moved_aside: str = ""

    def as_json(self) -> dict[str, object]:
        return asdict(self)


class _Placer:
    """Links a file into the snapshot; after the first link the file system refuses, copies."""

    def __init__(self, link: bool = True) -> None:
        self.linked = self.copied = self.bytes = 0
        self.can_link = link
        self.copies: list[Path] = []  # to fsync (a linked file's data is durable already)

    def place(self, source: Path, target: Path) -> bool:
        """Link or copy `source` to `target`; False if `source` is gone."""
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            size = source.stat().st_size
            if self.can_link:
                try:
                    os.link(source, target)
                    self.linked += 1
                    self.bytes += size
                    return True
                except OSError as exc:
                    if exc.errno not in LINK_FAILURES:
                        raise
                    self.can_link = False
            shutil.copyfile(source, target)  # made durable with the rest by _sync_tree
            self.copies.append(target)
        except FileNotFoundError:
            return False
        self.copied += 1
        self.bytes += size
        return True


def backup(data_dir: Path, destination: Path, *, link: bool = True) -> SnapshotReport:
    """Snapshot `data_dir` (a live server may be using it) into `destination` (absent or empty);
    `link=False` copies every file even where a hard link would do (a backup sharing no inode)."""
    started = time.monotonic()
    data_dir, destination = Path(data_dir), Path(destination)
    root = data_dir / "dicom"
    if not (root / INDEX_FILE).is_file():
        raise NotFound(f"no DICOM database in {data_dir} (no {root / INDEX_FILE})")
    _require_empty(destination, "the backup destination", force=False, hint="; name a new directory")
    lock = lock_database(root, exclusive=False)
    if lock is None:
        raise Unavailable(f"the DICOM database in {root} is being reindexed; back up when that is done")
    staging = destination.parent / f".{destination.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        (staging / "dicom").mkdir(parents=True)
        _snapshot_sqlite(root / INDEX_FILE, staging / "dicom" / INDEX_FILE)
        placer = _Placer(link)
        instances, studies, left_out = _link_objects(root, staging / "dicom", placer)
        features = (data_dir / FEATURES_FILE).is_file()
        if features:
            _snapshot_sqlite(data_dir / FEATURES_FILE, staging / FEATURES_FILE)
        audit_log = _copy_complete_lines(data_dir / AUDIT_FILE, staging / AUDIT_FILE)
        report = SnapshotReport(str(data_dir), str(destination), instances, studies, placer.linked, placer.copied,
                                placer.bytes, left_out, features, audit_log, time.monotonic() - started)
        _write_manifest(staging, report)
        _sync_tree(staging, placer.copies)
        if destination.exists():
            destination.rmdir()  # empty (checked): the rename takes its place
        os.replace(staging, destination)
        fsync_path(destination.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        os.close(lock)
    return report


def restore(source: Path, data_dir: Path, *, force: bool = False, link: bool = True) -> SnapshotReport:
    """Put the backup in `source` into `data_dir` (absent or empty, or anything with `force`);
    `link=False` copies the files instead of hard-linking them."""
    started = time.monotonic()
    source, data_dir = Path(source), Path(data_dir)
    manifest = source / MANIFEST
    if not manifest.is_file() or not (source / "dicom" / INDEX_FILE).is_file():
        raise Invalid(f"{source} is not a SlicerWeb backup (no {MANIFEST} or dicom/{INDEX_FILE})")
    _require_empty(data_dir, "the data directory", force=force,
                   hint="; restore --force moves its database aside (stop the server first)")
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = None
    if (data_dir / "dicom").is_dir():
        lock = lock_database(data_dir / "dicom", exclusive=True)
        if lock is None:
            raise Unavailable(f"the DICOM database in {data_dir / 'dicom'} is in use (a server or import is "
                              "running on it); stop it first")
    staging = data_dir / f".restore-partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        (staging / "dicom").mkdir(parents=True)
        _snapshot_sqlite(source / "dicom" / INDEX_FILE, staging / "dicom" / INDEX_FILE)
        placer = _Placer(link)
        instances, studies, left_out = _link_objects(source / "dicom", staging / "dicom", placer)
        features = (source / FEATURES_FILE).is_file()
        if features:
            _snapshot_sqlite(source / FEATURES_FILE, staging / FEATURES_FILE)
        _sync_tree(staging, placer.copies)
        aside = _move_aside(data_dir) if force else None
        for name in ("dicom", FEATURES_FILE):
            if (staging / name).exists():
                os.replace(staging / name, data_dir / name)
        audit_log = not (data_dir / AUDIT_FILE).exists() and _copy_complete_lines(source / AUDIT_FILE,
                                                                                  data_dir / AUDIT_FILE)
        fsync_path(data_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if lock is not None:
            os.close(lock)
    return SnapshotReport(str(source), str(data_dir), instances, studies, placer.linked, placer.copied,
                          placer.bytes, left_out, features, audit_log, time.monotonic() - started,
                          str(aside) if aside else "")


def _require_empty(directory: Path, what: str, *, force: bool, hint: str) -> None:
    if directory.exists() and not directory.is_dir():
        raise Invalid(f"{what} {directory} is not a directory")
    if directory.is_dir() and any(directory.iterdir()) and not force:
        held = ", ".join(sorted(p.name for p in directory.iterdir())[:5])
        raise Invalid(f"{what} {directory} is not empty ({held}){hint}")


def _snapshot_sqlite(source: Path, target: Path) -> None:
    """One consistent copy of a live SQLite database (online backup API, in one step), standing alone."""
    src = sqlite3.connect(source, timeout=60)  # read-write open: a read-only one may not see a live WAL
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
    finally:
        src.close()


def _link_objects(source_root: Path, target_root: Path, placer: _Placer) -> tuple[int, int, int]:
    """Link the files the snapshot index in `target_root` references; drop rows whose file is gone.

    Returns (instances, studies, instances left out)."""
    index = DicomIndex(target_root / INDEX_FILE)
    try:
        with index.writing(), index.transaction() as conn:
            conn.execute("DELETE FROM pending")  # stores and deletes in flight are not in the snapshot
        with index.db.read() as conn:
            rows = conn.execute(
                "SELECT s.study_uid, r.series_uid, i.sop_uid, i.path, i.size FROM instance i "
                "JOIN series r ON r.pk = i.series_pk JOIN study s ON s.pk = r.study_pk").fetchall()
        gone = []
        for study_uid, series_uid, sop_uid, relpath, size in rows:
            source = source_root / relpath
            same = source.is_file() and source.stat().st_size == size  # else deleted (or re-stored) since
            if not same or not placer.place(source, target_root / relpath):
                gone.append((study_uid, series_uid, sop_uid))
        with index.writing():
            for study_uid, series_uid, sop_uid in gone:
                unindex(index, BACKUP_OWNER, study_uid, series_uid, sop_uid)
            with index.transaction() as conn:
                conn.execute("DELETE FROM pending")
        studies = index.count_studies()
    finally:
        index.seal()
    return len(rows) - len(gone), studies, len(gone)


def _copy_complete_lines(source: Path, target: Path) -> bool:
    """Copy an append-only log up to its last complete line; False if there is none."""
    if not source.is_file():
        return False
    with source.open("rb") as handle:
        data = handle.read()
    data = data[:data.rfind(b"\n") + 1]
    target.write_bytes(data)
    os.chmod(target, 0o600)
    fsync_path(target)
    return True


def _write_manifest(staging: Path, report: SnapshotReport) -> None:
    manifest = {"format": 1, "slicerweb": __version__, "schema": SCHEMA_VERSION,
                "created": datetime.now(UTC).isoformat(timespec="seconds"), **report.as_json()}
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def _sync_tree(top: Path, copies: list[Path]) -> None:
    """fsync every directory under `top` (the links and names), the copied files and the databases,
    SYNC_THREADS at a time (the waits overlap, as in Storage.place), before the final rename."""
    paths = [*copies]
    for folder, _dirs, names in os.walk(top):
        paths.append(Path(folder))
        paths.extend(Path(folder) / name for name in names if not name.endswith(OBJECT_SUFFIX))
    with ThreadPoolExecutor(SYNC_THREADS, thread_name_prefix="backup-fsync") as pool:
        for done in [pool.submit(fsync_path, path) for path in paths]:
            done.result()


def _move_aside(data_dir: Path) -> Path | None:
    """Move the data directory's database and feature state into `replaced-<time>/` (same file system)."""
    present = [data_dir / name for name in ("dicom", FEATURES_FILE, f"{FEATURES_FILE}-wal", f"{FEATURES_FILE}-shm")
               if (data_dir / name).exists()]
    if not present:
        return None
    aside = data_dir / f"replaced-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    aside.mkdir()
    for path in present:
        os.replace(path, aside / path.name)
    return aside
