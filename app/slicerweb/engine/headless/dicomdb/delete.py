"""Deleting a study, series or instance: index rows and files go together, crash-safe.

The same journal as a store, run backwards. One transaction removes the instance rows (and the
series, study and patient rows left empty, with the counts kept right) and journals every file in
`pending` under this process's owner; once it commits the data is gone for every reader. Then the
files are unlinked and the journal rows cleared. A crash in between leaves journaled files no row
points to, owned by a dead process: start-up recovery (`Writer.recover`) unlinks exactly those, so
the job is finished and never half-visible. The write lock is held throughout, so a store of the
same SOP instance in this process waits for the files to be gone; one in another process waits on
the journal row (`Writer._commit_when_free`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ...dicom_api import DeleteReport
from ...errors import NotFound
from .database import Connection
from .index import DicomIndex
from .storage import Storage, fsync_path

CHUNK = 500
"""Rows per statement (SQLite's and PostgreSQL's bound-parameter limits are far above this)."""


@dataclass(frozen=True)
class Unindexed:
    """Phase one of a delete, committed: the report and the journaled files still to unlink."""

    report: DeleteReport
    paths: tuple[str, ...]


def delete(index: DicomIndex, storage: Storage, study_uid: str, series_uid: str | None = None,
           sop_uid: str | None = None) -> DeleteReport:
    """Remove what the UIDs name (NotFound when nothing matches); see the module docstring."""
    with index.writing():
        unindexed = unindex(index, storage.owner, study_uid, series_uid, sop_uid)
        remove_files(index, storage, unindexed.paths)
    return unindexed.report


def unindex(index: DicomIndex, owner: str, study_uid: str, series_uid: str | None = None,
            sop_uid: str | None = None) -> Unindexed:
    """Phase one: drop the rows and journal the files as `owner`, in one transaction (caller holds
    `index.writing()`)."""
    where, params = ["s.study_uid = ?"], [study_uid]
    for column, value in (("r.series_uid", series_uid), ("i.sop_uid", sop_uid)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    with index.transaction() as conn:
        rows = conn.execute(
            "SELECT i.pk, i.path, i.size, i.sop_uid, r.pk, s.pk, s.patient_pk FROM instance i "
            "JOIN series r ON r.pk = i.series_pk JOIN study s ON s.pk = r.study_pk "
            f"WHERE {' AND '.join(where)}", params).fetchall()
        if not rows:
            what = "instance" if sop_uid else "series" if series_uid else "study"
            raise NotFound(f"{what} {sop_uid or series_uid or study_uid} not found")
        for _pk, path, _size, sop, *_ in rows:
            conn.execute("DELETE FROM pending WHERE path = ?", (path,))  # a stale row would block the journal
            conn.execute("INSERT INTO pending (path, sop_uid, owner) VALUES (?, ?, ?)", (path, sop, owner))
        _delete_in(conn, "instance", [r[0] for r in rows])
        series_gone = _settle_series(conn, sorted({r[4] for r in rows}))
        studies_gone = _settle_studies(conn, sorted({r[5] for r in rows}))
        _delete_empty_patients(conn, sorted({r[6] for r in rows}))
    report = DeleteReport(study_uid, series_uid, sop_uid, studies_gone, series_gone, len(rows),
                          sum(int(r[2]) for r in rows))
    return Unindexed(report, tuple(r[1] for r in rows))


def remove_files(index: DicomIndex, storage: Storage, paths: Sequence[str]) -> None:
    """Phase two: unlink the journaled files, make that durable, clear their journal rows; empty
    series and study folders go too (a store racing into one re-creates it: `Storage.place`)."""
    folders: set[Path] = set()
    for relpath in paths:
        path = storage.absolute(relpath)
        path.unlink(missing_ok=True)
        folders.add(path.parent)
    for folder in sorted(folders | {f.parent for f in folders}, key=lambda f: len(f.parts), reverse=True):
        with contextlib.suppress(OSError):  # not empty (other series or instances), or gone already
            folder.rmdir()
    for folder in folders | {f.parent for f in folders} | {f.parent.parent for f in folders}:
        if folder.is_dir():  # the unlinks and rmdirs are durable before the journal rows go
            fsync_path(folder)
    with index.transaction() as conn:
        for start in range(0, len(paths), CHUNK):
            chunk = list(paths[start:start + CHUNK])
            conn.execute(f"DELETE FROM pending WHERE owner = ? AND path IN ({_marks(chunk)})",
                         [storage.owner, *chunk])


def _settle_series(conn: Connection, series_pks: list[int]) -> int:
    """Recount the series that lost instances; drop the empty ones; return how many were dropped."""
    gone = []
    for pk in series_pks:
        (count,) = conn.execute("SELECT COUNT(*) FROM instance WHERE series_pk = ?", (pk,)).fetchone()
        if count:
            # revision moves on every change, so cached series metadata is rebuilt
            conn.execute("UPDATE series SET num_instances = ?, revision = revision + 1 WHERE pk = ?", (count, pk))
        else:
            gone.append(pk)
    _delete_in(conn, "series", gone)
    return len(gone)


def _settle_studies(conn: Connection, study_pks: list[int]) -> int:
    """Recount series, instances and ModalitiesInStudy of the studies touched; drop the empty ones."""
    gone = []
    for pk in study_pks:
        (series, instances) = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(num_instances), 0) FROM series WHERE study_pk = ?", (pk,)).fetchone()
        if not series:
            gone.append(pk)
            continue
        modalities = [m for (m,) in conn.execute(
            "SELECT DISTINCT modality FROM series WHERE study_pk = ? AND modality <> '' ORDER BY modality", (pk,))]
        conn.execute("UPDATE study SET num_series = ?, num_instances = ?, modalities = ? WHERE pk = ?",
                     (series, instances, "\\".join(modalities), pk))
    _delete_in(conn, "study", gone)
    return len(gone)


def _delete_empty_patients(conn: Connection, patient_pks: list[int]) -> None:
    for pk in patient_pks:
        if conn.execute("SELECT 1 FROM study WHERE patient_pk = ?", (pk,)).fetchone() is None:
            conn.execute("DELETE FROM patient WHERE pk = ?", (pk,))


def _delete_in(conn: Connection, table: str, pks: list[int]) -> None:
    for start in range(0, len(pks), CHUNK):
        chunk = pks[start:start + CHUNK]
        conn.execute(f"DELETE FROM {table} WHERE pk IN ({_marks(chunk)})", chunk)


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" for _ in values)

