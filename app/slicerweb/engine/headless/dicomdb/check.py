"""`slicerweb dicom check [--repair]`: compare the index with the stored files.

Kinds of damage (`dicom_api.CheckKind`): an indexed instance whose file is gone (missing_file), a
file no row points to (orphan_file), a file whose size or SHA-256 differs from the one recorded at
ingest (size_mismatch, hash_mismatch), a file that no longer parses as DICOM (unparsable_file: an
orphan, or an indexed file whose bytes changed), and a row whose stored DICOM JSON is empty or not
a JSON object (missing_json). Like Orthanc's "reconstruct", but read-only unless asked.

Safe beside a running server: the rows and the journal (`pending`: stores and deletes in flight,
never reported) are read in one write transaction (the lock every writer of every process takes),
the file walk and the hashing run after it, unlocked, and every candidate is confirmed under the
lock again before it is reported or repaired: an orphan must still be a file no row and no journal
entry names (a store may have placed it after the snapshot), a missing file's row must still be
there with its file still gone (a delete may have removed both). So a store or delete in flight is
never reported, and writers wait only for short transactions, not for the walk.

`repair` first finishes what dead processes left half-done (`Writer.recover`), re-indexes orphan
files through the ordinary store path (a file away from its canonical place is stored there and the
stray copy removed), and drops the rows of missing files (with `delete.unindex`, so counts and empty
series/studies follow). Mismatched, unparsable and JSON-less entries are reported, not touched:
`slicerweb dicom reindex` rebuilds from the files and quarantines the damaged ones.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from ....formats.dicom.ingest import ParsedInstance, Refusal, parse_or_error
from ...dicom_api import CheckFinding, CheckReport
from ...errors import NotFound
from .delete import remove_files, unindex
from .health import object_files
from .index import DicomIndex
from .storage import Storage
from .writer import Writer

HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class IndexedFile:
    """What the index recorded about one instance's file."""

    path: str
    size: int
    digest: str
    sop_uid: str


def check(index: DicomIndex, storage: Storage, writer: Writer, *, repair: bool = False,
          max_pixel_bytes: int | None = None) -> CheckReport:
    """Compare `index` with the files under `storage`; with `repair`, fix orphans and missing files."""
    limit = writer.max_pixel_bytes if max_pixel_bytes is None else max_pixel_bytes
    if repair:
        writer.recover()
    indexed, in_flight = _snapshot(index)
    files = {storage.relative(p) for p in object_files(storage.objects)}
    findings: list[CheckFinding] = []
    missing: list[IndexedFile] = []
    for row in indexed.values():
        path = storage.absolute(row.path)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            missing.append(row)
            continue
        if size != row.size:
            findings.append(_changed(path, row, "size_mismatch", f"{size} bytes on disk, {row.size} indexed", limit))
            continue
        digest = _sha256(path)
        if digest is not None and digest != row.digest:
            findings.append(_changed(path, row, "hash_mismatch",
                                     f"SHA-256 {digest[:16]}... on disk, {row.digest[:16]}... indexed", limit))
    findings.extend(_missing_json(index, set(indexed)))
    orphans = _confirmed_orphans(index, storage, sorted(files - set(indexed) - in_flight))
    findings.extend(_missing_files(index, storage, missing, repair))
    findings.extend(_orphans(writer, storage, orphans, repair, limit))
    findings.sort(key=lambda f: (f.path, f.kind))
    return CheckReport(instances=len(indexed), files=len(files), in_flight=len(in_flight),
                       findings=tuple(findings), repaired=repair)


def _snapshot(index: DicomIndex) -> tuple[dict[str, IndexedFile], set[str]]:
    """Rows and journaled paths at one point in time (under the write lock)."""
    with index.writing(), index.transaction() as conn:
        indexed = {r[0]: IndexedFile(r[0], int(r[1]), r[2], r[3])
                   for r in conn.execute("SELECT path, size, digest, sop_uid FROM instance")}
        in_flight = {r[0] for r in conn.execute("SELECT path FROM pending")}
    return indexed, in_flight


def _confirmed_orphans(index: DicomIndex, storage: Storage, candidates: list[str]) -> list[str]:
    """The candidates that, under the lock, are still files that no row and no journal entry names."""
    if not candidates:
        return []
    with index.writing(), index.transaction() as conn:
        # One scan of each (instance.path has no index; a candidate per query would scan per file).
        named = {r[0] for r in conn.execute("SELECT path FROM instance")}
        named.update(r[0] for r in conn.execute("SELECT path FROM pending"))
        return [path for path in candidates if path not in named and storage.absolute(path).is_file()]


def _sha256(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(HASH_CHUNK):
                digest.update(chunk)
    except FileNotFoundError:
        return None  # deleted meanwhile: the missing-file confirmation decides
    return digest.hexdigest()


def _parse(path: Path, max_pixel_bytes: int) -> ParsedInstance | str:
    """`path` parsed, or why it does not parse as a storable DICOM object."""
    try:
        with path.open("rb") as handle:
            parsed = parse_or_error(handle, max_pixel_bytes)
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    return parsed.message if isinstance(parsed, Refusal) else parsed


def _changed(path: Path, row: IndexedFile, kind: str, detail: str, max_pixel_bytes: int) -> CheckFinding:
    """A file whose bytes changed since ingest: unparsable_file if it no longer parses, else `kind`."""
    parsed = _parse(path, max_pixel_bytes)
    if isinstance(parsed, str):
        return CheckFinding("unparsable_file", row.path, row.sop_uid, f"{detail}; {parsed}")
    return CheckFinding("size_mismatch" if kind == "size_mismatch" else "hash_mismatch", row.path, row.sop_uid,
                        detail)


def _missing_json(index: DicomIndex, paths: set[str]) -> list[CheckFinding]:
    """Rows whose DICOM JSON is empty or not a JSON object (streamed: one row in memory at a time)."""
    found = []
    with index.db.read() as conn:
        for path, sop_uid, text in conn.execute("SELECT path, sop_uid, json FROM instance"):
            if path not in paths:
                continue  # stored after the snapshot
            try:
                document = json.loads(text) if text else None
            except ValueError:
                document = None
            if not isinstance(document, dict) or not document:
                found.append(CheckFinding("missing_json", path, sop_uid, "no DICOM JSON stored" if not text
                                          else "stored DICOM JSON is not an object"))
    return found


def _missing_files(index: DicomIndex, storage: Storage, rows: list[IndexedFile], repair: bool) -> list[CheckFinding]:
    """Confirm each missing file under the lock (row still there, file still gone); drop the row on repair."""
    found = []
    with index.writing():
        for row in rows:
            located = index.locate(row.sop_uid)
            if located is None or located.path != row.path or storage.absolute(row.path).exists():
                continue  # deleted (or stored again) meanwhile: not damage
            repaired = False
            if repair:
                try:
                    unindexed = unindex(index, storage.owner, located.study_uid, located.series_uid, row.sop_uid)
                except NotFound:
                    continue
                remove_files(index, storage, unindexed.paths)
                repaired = True
            found.append(CheckFinding("missing_file", row.path, row.sop_uid,
                                      "indexed, but the file is gone" + ("; row dropped" if repaired else ""),
                                      repaired))
    return found


def _orphans(writer: Writer, storage: Storage, orphans: list[str], repair: bool,
             max_pixel_bytes: int) -> list[CheckFinding]:
    """Report files no row points to; on repair, store the parsable ones through the ordinary path."""
    found = []
    for relpath in orphans:
        path = storage.absolute(relpath)
        parsed = _parse(path, max_pixel_bytes)
        if isinstance(parsed, str):
            found.append(CheckFinding("unparsable_file", relpath, "", f"not indexed; {parsed}"))
            continue
        if not repair:
            found.append(CheckFinding("orphan_file", relpath, parsed.sop_uid, "no index row"))
            continue
        with path.open("rb") as handle:
            (outcome,) = writer.store_files([handle]).outcomes
        if outcome.failure_reason is None and not outcome.already_stored:
            final = storage.final_path(outcome.study_uid, outcome.series_uid, outcome.sop_instance_uid)
            if final != path:
                path.unlink(missing_ok=True)  # stored at its canonical place now
            found.append(CheckFinding("orphan_file", relpath, outcome.sop_instance_uid, "no index row; re-indexed",
                                      True))
        else:
            why = "another copy of this instance is indexed" if outcome.already_stored else outcome.detail
            found.append(CheckFinding("orphan_file", relpath, outcome.sop_instance_uid,
                                      f"no index row; not re-indexed: {why}"))
    return found

