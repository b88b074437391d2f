"""The DICOM index: the two-step atomic insert, searches and lookups, in SQLite or PostgreSQL.

Readers run beside the writer (SQLite WAL, PostgreSQL MVCC); writes take the database's write lock
(`database.py`), which also serialises writers of other processes sharing the index (and, on
PostgreSQL, of other hosts). Every method is blocking: the service calls them through
`asyncio.to_thread`.

Damage found at run time (SQLITE_CORRUPT, SQLITE_NOTADB) marks the index damaged: from then on
every call raises IndexDamaged (503), so reads answer consistently and no store writes into it.
A full disk raises InsufficientStorage (507); an unreachable PostgreSQL, Unavailable (503) for that
call only: the pool reconnects by itself when the server is back.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from ....formats.dicom.ingest import ParsedInstance
from ....formats.dicom.instance_row import InstanceRow
from ....formats.dicom.jsonmodel import annex_f
from ...dicom_api import SearchQuery, SearchResult
from ...errors import IndexDamaged
from . import filing
from .database import Connection, Database, SqliteDatabase, open_database
from .schema import DDL, MIGRATIONS, SCHEMA_VERSION
from .search import run as run_search

INSTANCE_COLUMNS = ("s.study_uid, r.series_uid, i.sop_uid, i.sop_class, i.transfer_syntax, i.path, i.size, "
                    "i.n_rows, i.n_columns, i.bits_allocated, i.samples_per_pixel, i.number_of_frames, "
                    "i.pixel_offset, i.pixel_length")
INSTANCE_FROM = "instance i JOIN series r ON r.pk = i.series_pk JOIN study s ON s.pk = r.study_pk"
INSTANCE_ORDER = "r.series_number, r.pk, i.instance_number, i.pk"
JSON_MODEL = "2"  # meta 'json_model': instance.json follows PS3.18 Annex F (jsonmodel.annex_f); absent: older
log = logging.getLogger("slicerweb.dicom")
P = ParamSpec("P")
R = TypeVar("R")


def guarded(method: Callable[Concatenate[DicomIndex, P], R]) -> Callable[Concatenate[DicomIndex, P], R]:
    """Refuse once the index is known damaged; turn the database's corruption, disk-full and
    unreachable errors into the engine's (the first corruption seen marks the index damaged)."""

    @functools.wraps(method)
    def run(self: DicomIndex, /, *args: P.args, **kwargs: P.kwargs) -> R:
        if self.damaged is not None:
            raise IndexDamaged(self.path, self.damaged)
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            mapped = self.db.error(exc)
            if mapped is None:
                raise
            if isinstance(mapped, IndexDamaged):
                self.damaged = mapped.problem
            raise mapped from exc

    return run


class DicomIndex:
    """patient/study/series/instance tables in one SQLite file or one PostgreSQL database."""

    def __init__(self, location: Path | str) -> None:
        """`location`: a SQLite file path, or a `postgresql://` URL. Creates or migrates the schema once
        (under the write lock, so concurrent first starts of several instances agree)."""
        self.db: Database = open_database(location)
        self.path = location if self.db.dialect == "postgresql" else Path(location)
        self.damaged: str | None = None
        self._write_lock = threading.Lock()
        try:
            with self._write_lock, self.db.transaction() as conn:
                stored = _stored_version(conn, self.db)
                for statement in DDL:
                    conn.execute(self.db.ddl(statement))
                for version in range(stored + 1, SCHEMA_VERSION + 1) if stored else ():
                    for statement in MIGRATIONS.get(version, ()):
                        conn.execute(self.db.ddl(statement))
                conn.execute("INSERT INTO meta (name, value) VALUES ('schema', ?) "
                             "ON CONFLICT (name) DO UPDATE SET value = excluded.value", (str(SCHEMA_VERSION),))
                self.stale_json = _stale_json(conn)
        except Exception as exc:
            mapped = self.db.error(exc)
            self.db.close()
            if mapped is None:
                raise
            raise mapped from exc
        if self.stale_json:
            log.warning("DICOM index %s holds metadata made by an older DICOM JSON model: it is corrected as it "
                        "is read (PS3.18 Annex F); `slicerweb dicom reindex` stores it corrected", self.db.location)

    def close(self) -> None:
        self.db.close()

    def seal(self) -> None:
        """Checkpoint the WAL into the file and close: the file then stands alone (to be renamed)."""
        assert isinstance(self.db, SqliteDatabase), "only a SQLite index is sealed (reindex)"
        self.db.seal()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A durable write transaction for the maintenance modules (delete, check); hold `writing()`."""
        if self.damaged is not None:
            raise IndexDamaged(self.path, self.damaged)
        with self.db.transaction() as conn:
            yield conn

    # -- writes -----------------------------------------------------------------------------------

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the process-wide write lock across journal -> rename -> insert."""
        with self._write_lock:
            yield

    @guarded
    def claim(self, items: list[tuple[ParsedInstance, str]], owner: str) -> dict[str, str]:
        """Journal the paths of new instances in `pending`; return {sop_uid: reason} for those refused.

        Refused: already indexed (reason "same" when the bytes are identical, else "different"),
        UIDs that contradict the archive ("conflict:<why>", see `filing.Filed.conflict`), or being
        stored by another writer right now ("pending"). A few statements for the whole batch (filing.py).
        """
        # Not synced: a power cut before the insert's (synced) commit can at worst leave an orphan
        # file no row points to; a process crash loses nothing (the WAL is in the OS's cache).
        with self.db.transaction(durable=False) as conn:
            return filing.claim(conn, items, owner)

    @guarded
    def insert(self, items: list[tuple[ParsedInstance, str]], *, journaled: bool = True) -> dict[str, str]:
        """Index placed files and clear their journal rows, all in one transaction; return
        {sop_uid: why} for those left out because their UIDs now contradict the index (another
        process filed the same series under another study since `claim`); the caller removes them.

        A journaled item whose journal row is gone was recovered by another instance (lease.py, rule
        3): nothing is indexed and the store fails (Unavailable: retry). `journaled=False` (reindex):
        files that were never claimed."""
        with self.db.transaction() as conn:
            return filing.file_instances(conn, items, journaled=journaled)

    @guarded
    def release(self, relpaths: Iterable[str]) -> None:
        """Drop journal rows of files that were not indexed (after removing those files)."""
        with self.db.transaction() as conn:
            for relpath in relpaths:
                conn.execute("DELETE FROM pending WHERE path = ?", (relpath,))

    @guarded
    def journal_owners(self) -> set[str]:
        with self.db.read() as conn:
            return {r[0] for r in conn.execute("SELECT DISTINCT owner FROM pending")}


    # -- reads ------------------------------------------------------------------------------------

    @guarded
    def stored_counts(self, count_files: Callable[[], int]) -> tuple[int, int, int]:
        """(indexed instances, journaled files, `count_files()`), taken while no writer of any
        process can commit, so the three agree."""
        with self.db.transaction(durable=False) as conn:
            indexed = int(conn.execute("SELECT COUNT(*) FROM instance").fetchone()[0])
            pending = int(conn.execute("SELECT COUNT(*) FROM pending").fetchone()[0])
            return indexed, pending, count_files()

    @guarded
    def statistics(self) -> tuple[int, int, int, int]:
        """(studies, series, instances, stored bytes) from the index's own tables (no file-system walk)."""
        with self.db.read() as conn:
            studies = conn.execute("SELECT COUNT(*) FROM study").fetchone()[0]
            series = conn.execute("SELECT COUNT(*) FROM series").fetchone()[0]
            instances, stored = conn.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM instance").fetchone()
        return int(studies), int(series), int(instances), int(stored)

    @guarded
    def count_studies(self) -> int:
        with self.db.read() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM study").fetchone()[0])

    @guarded
    def search(self, query: SearchQuery) -> SearchResult:
        """One page of QIDO results, in a stable order, and the total number of matches (search.run)."""
        with self.db.read() as conn:
            return run_search(conn, query)

    @guarded
    def instances(self, study_uid: str, series_uid: str | None = None,
                  sop_uid: str | None = None) -> list[InstanceRow]:
        where, params = _instance_filter(study_uid, series_uid, sop_uid)
        with self.db.read() as conn:
            rows = conn.execute(
                f"SELECT {INSTANCE_COLUMNS} FROM {INSTANCE_FROM} WHERE {where} ORDER BY {INSTANCE_ORDER}",
                params).fetchall()
        return [InstanceRow(*row) for row in rows]

    @guarded
    def screen(self, batch: list[ParsedInstance]) -> tuple[dict[str, str], dict[str, str]]:
        """({sop_uid: stored digest}, {sop_uid: why its UIDs contradict the index}) for a batch about
        to be written; an unlocked read (claim() re-checks under the lock), a few statements in all."""
        with self.db.read() as conn:
            digests = filing.stored_digests(conn, (p.sop_uid for p in batch))
            filed = filing.Filed(conn, batch)
        conflicts = {p.sop_uid: why for p in batch if p.sop_uid not in digests and (why := filed.conflict(p))}
        return digests, conflicts

    @guarded
    def locate(self, sop_uid: str) -> InstanceRow | None:
        with self.db.read() as conn:
            row = conn.execute(f"SELECT {INSTANCE_COLUMNS} FROM {INSTANCE_FROM} WHERE i.sop_uid = ?",
                               (sop_uid,)).fetchone()
        return None if row is None else InstanceRow(*row)

    @guarded
    def version(self, study_uid: str, series_uid: str | None) -> int | None:
        """A number that changes whenever the study (or series) gains an instance; None if absent."""
        with self.db.read() as conn:
            if series_uid is None:
                row = conn.execute("SELECT num_instances FROM study WHERE study_uid = ?", (study_uid,)).fetchone()
            else:
                row = conn.execute(
                    "SELECT r.revision FROM series r JOIN study s ON s.pk = r.study_pk "
                    "WHERE r.series_uid = ? AND s.study_uid = ?", (series_uid, study_uid)).fetchone()
        return None if row is None else int(row[0])

    @guarded
    def documents(self, study_uid: str, series_uid: str | None = None, sop_uid: str | None = None) -> list[str]:
        """Stored DICOM JSON texts, in retrieval order."""
        where, params = _instance_filter(study_uid, series_uid, sop_uid)
        with self.db.read() as conn:
            rows = conn.execute(
                f"SELECT i.json FROM {INSTANCE_FROM} WHERE {where} ORDER BY {INSTANCE_ORDER}", params).fetchall()
        if self.stale_json:  # made by the older model: corrected on the way out (cached by the caller)
            return [json.dumps(annex_f(json.loads(r[0])), ensure_ascii=False, separators=(",", ":")) for r in rows]
        return [r[0] for r in rows]

    @guarded
    def all_paths(self) -> set[str]:
        with self.db.read() as conn:
            return {r[0] for r in conn.execute("SELECT path FROM instance")}


def _stale_json(conn: Connection) -> bool:
    """Whether `instance.json` was made by a DICOM JSON model older than JSON_MODEL (inside the open
    transaction). A new (empty) index is stamped current; an older one stays stale until a reindex
    builds a new index (new rows are current either way, and `annex_f` is idempotent)."""
    row = conn.execute("SELECT value FROM meta WHERE name = 'json_model'").fetchone()
    if row is None and conn.execute("SELECT 1 FROM instance LIMIT 1").fetchone() is None:
        conn.execute("INSERT INTO meta (name, value) VALUES ('json_model', ?)", (JSON_MODEL,))
        return False
    return row is None or row[0] != JSON_MODEL


def _stored_version(conn: Connection, db: Database) -> int:
    """The schema version recorded in `meta` (0: a new, empty database; 1: tables from before `meta`)."""
    if not db.has_table(conn, "meta"):
        return 1 if db.has_table(conn, "pending") else 0
    row = conn.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
    return int(row[0]) if row is not None else 0


def _instance_filter(study_uid: str, series_uid: str | None, sop_uid: str | None) -> tuple[str, list[str]]:
    """WHERE clause and parameters selecting a study's instances, optionally one series or instance."""
    where, params = ["s.study_uid = ?"], [study_uid]
    if series_uid is not None:
        where.append("r.series_uid = ?")
        params.append(series_uid)
    if sop_uid is not None:
        where.append("i.sop_uid = ?")
        params.append(sop_uid)
    return " AND ".join(where), params
