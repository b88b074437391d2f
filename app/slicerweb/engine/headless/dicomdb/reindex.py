"""`slicerweb dicom reindex`: rebuild the index from the stored files, atomically.

The new index is built beside the old one (`index.sqlite.rebuild`), sealed (WAL checkpointed,
fsynced) and renamed over it, so a crash midway leaves the old index in place. The old index is
kept as `index.sqlite.old` (with its WAL). Files that cannot be indexed (damaged, a second copy of
an instance, a series filed under two studies) are moved to `quarantine/`, never deleted. The
database lock is taken exclusively: no server or import may be using the directory, and none can
start until the rebuild is done.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ....formats.dicom.geometry import DEFAULT_MAX_PIXEL_BYTES
from ....formats.dicom.ingest import ParsedInstance, Refusal, parse_or_error
from ...errors import Unavailable
from .health import INDEX_FILE, object_files
from .hierarchy import RequestHierarchy
from .index import DicomIndex
from .storage import fsync_path, lock_database

BATCH = 500


@dataclass(frozen=True)
class ReindexReport:
    """What a rebuild did: instances and studies indexed, files set aside (path, reason)."""

    root: Path
    instances: int
    studies: int
    set_aside: tuple[tuple[Path, str], ...]
    quarantine: Path
    previous: Path | None


def reindex(root: Path, max_pixel_bytes: int = DEFAULT_MAX_PIXEL_BYTES) -> ReindexReport:
    """Rebuild `<root>/index.sqlite` from `<root>/objects`; Unavailable if the database is in use."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    lock = lock_database(root, exclusive=True)
    if lock is None:
        raise Unavailable(f"the DICOM database in {root} is in use (a server or import is running on it); "
                          "stop it first")
    try:
        target = root / INDEX_FILE
        rebuild = root / f"{INDEX_FILE}.rebuild"
        _remove_database(rebuild)
        index = DicomIndex(rebuild)
        try:
            instances, set_aside = _fill(index, root, max_pixel_bytes)
            studies = index.count_studies()
        finally:
            index.seal()
        fsync_path(rebuild)
        quarantine = root / "quarantine"
        for path, _reason in set_aside:
            destination = quarantine / path.relative_to(root / "objects")
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, destination)
        previous = _keep_previous(target)
        os.replace(rebuild, target)
        fsync_path(root)
        shutil.rmtree(root / "tmp", ignore_errors=True)  # every owner is gone (the lock is ours alone)
        return ReindexReport(root, instances, studies, tuple(set_aside), quarantine, previous)
    finally:
        os.close(lock)


def _fill(index: DicomIndex, root: Path, max_pixel_bytes: int) -> tuple[int, list[tuple[Path, str]]]:
    hierarchy = RequestHierarchy()
    seen: set[str] = set()
    set_aside: list[tuple[Path, str]] = []
    batch: list[tuple[ParsedInstance, str]] = []
    indexed = 0
    for path in sorted(object_files(root / "objects")):
        with path.open("rb") as handle:
            parsed = parse_or_error(handle, max_pixel_bytes)
        if isinstance(parsed, Refusal):
            set_aside.append((path, parsed.message))
            continue
        reason = "not a Part-10 file" if parsed.normalized is not None else \
            f"a second copy of SOP instance {parsed.sop_uid}" if parsed.sop_uid in seen else hierarchy.conflict(parsed)
        if reason is not None:
            set_aside.append((path, reason))
            continue
        hierarchy.add(parsed)
        seen.add(parsed.sop_uid)
        batch.append((parsed, path.relative_to(root).as_posix()))
        if len(batch) >= BATCH:
            index.insert(batch, journaled=False)
            indexed += len(batch)
            batch = []
    if batch:
        index.insert(batch, journaled=False)
        indexed += len(batch)
    return indexed, set_aside


def _keep_previous(target: Path) -> Path | None:
    """Move the old index (and its WAL) aside as `.old`; a stale WAL must never meet the new file."""
    previous = target.with_name(f"{target.name}.old")
    _remove_database(previous)
    kept = None
    for suffix in ("", "-wal"):
        source = target.with_name(target.name + suffix)
        if source.exists():
            os.replace(source, previous.with_name(previous.name + suffix))
            kept = previous
    target.with_name(f"{target.name}-shm").unlink(missing_ok=True)
    return kept


def _remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)

