"""HeadlessDicom: the DicomService over the SQLite index and the object store in `<data_dir>/dicom`.

Blocking work (SQLite, file I/O, pydicom, Pillow) runs in worker threads. Metadata documents are
assembled from the JSON stored per instance and cached in memory keyed by the series' (or study's)
version in the index, so a change made by any process sharing the data directory invalidates it.
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections import OrderedDict
from concurrent.futures import Future
from pathlib import Path
from typing import BinaryIO, Generic, TypeVar

from ....demo.dicom_studies import generate_study
from ...dicom_api import (
    EXPLICIT_VR_LITTLE_ENDIAN,
    FAILURE_DATASET_MISMATCH,
    FAILURE_DUPLICATE,
    FAILURE_PROCESSING,
    FAILURE_STUDY_MISMATCH,
    Frame,
    RenderParams,
    SearchQuery,
    SearchResult,
    StoredInstance,
    StoreOutcome,
    StoreReport,
    StowPart,
)
from ...errors import IndexDamaged, InsufficientStorage, NotFound
from . import health, pixels
from .geometry import DEFAULT_MAX_PIXEL_BYTES
from .hierarchy import RequestHierarchy
from .index import DicomIndex, InstanceRow
from .ingest import ParsedInstance, Refusal, parse_or_error
from .storage import DISK_FULL, Storage

CACHE_ENTRIES = 64
ROW_ENTRIES = 20_000
INLINE_READ_BYTES = 2 << 20
K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    """A small thread-safe LRU (metadata documents by (uids, version); instance rows by SOP UID)."""

    def __init__(self, entries: int) -> None:
        self._entries = entries
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._entries:
                self._items.popitem(last=False)


class HeadlessDicom:
    """SQLite-indexed DICOM store under `root` (objects/, tmp/, index.sqlite)."""

    def __init__(self, root: Path, max_pixel_bytes: int = DEFAULT_MAX_PIXEL_BYTES) -> None:
        """Open (or create) the database; IndexDamaged if its index fails the start-up checks
        (`health`), Unavailable while `slicerweb dicom reindex` holds it."""
        self.root = Path(root)
        self.max_pixel_bytes = max_pixel_bytes
        self.storage = Storage(self.root)  # first: it takes the database lock a reindex would hold
        self.cache: LRU[tuple[str, str | None, int], bytes] = LRU(CACHE_ENTRIES)
        self.rows: LRU[str, InstanceRow] = LRU(ROW_ENTRIES)
        try:
            health.check_file(self.root)
            self.index = DicomIndex(self.root / health.INDEX_FILE)
        except BaseException:
            self.storage.close()
            raise
        try:
            self.recover()
            counts = self.index.stored_counts(lambda: len(health.object_files(self.storage.objects)))
            health.check_counts(self.index.path, *counts)
        except BaseException:
            self.close()
            raise

    def recover(self) -> None:
        """Undo the interrupted stores of dead processes: temp files, and renamed files whose index
        commit never happened. Live processes sharing the data directory are left alone."""
        with self.index.writing():
            for owner in self.storage.dead_owners(self.index.journal_owners()):
                for relpath in self.index.pending_paths(owner):
                    self.storage.absolute(relpath).unlink(missing_ok=True)
                self.index.clear_pending(owner)
                self.storage.clear_owner(owner)

    def close(self) -> None:
        self.index.close()
        self.storage.close()

    # -- search -----------------------------------------------------------------------------------

    async def count_studies(self) -> int:
        return await asyncio.to_thread(self.index.count_studies)

    async def search_for_studies(self, query: SearchQuery) -> SearchResult:
        return await asyncio.to_thread(self.index.search, query)

    async def search_for_series(self, query: SearchQuery) -> SearchResult:
        return await asyncio.to_thread(self.index.search, query)

    async def search_for_instances(self, query: SearchQuery) -> SearchResult:
        return await asyncio.to_thread(self.index.search, query)

    # -- retrieve ---------------------------------------------------------------------------------

    def _rows(self, study_uid: str, series_uid: str | None = None, sop_uid: str | None = None) -> list[InstanceRow]:
        rows = self.index.instances(study_uid, series_uid, sop_uid)
        if not rows:
            what = "instance" if sop_uid else "series" if series_uid else "study"
            raise NotFound(f"{what} {sop_uid or series_uid or study_uid} not found")
        return rows

    async def _row(self, study_uid: str, series_uid: str, sop_uid: str) -> InstanceRow:
        """One instance's row; stored instances never change, so rows are cached (no thread hop)."""
        row = self.rows.get(sop_uid)
        if row is None:
            (row,) = await asyncio.to_thread(self._rows, study_uid, series_uid, sop_uid)
            self.rows.put(sop_uid, row)
        if row.study_uid != study_uid or row.series_uid != series_uid:
            raise NotFound(f"instance {sop_uid} not found in series {series_uid} of study {study_uid}")
        return row

    def _stored(self, row: InstanceRow) -> StoredInstance:
        return StoredInstance(row.study_uid, row.series_uid, row.sop_uid, row.sop_class, row.transfer_syntax,
                              str(self.storage.absolute(row.path)), row.size)

    async def retrieve_study(self, study_uid: str) -> list[StoredInstance]:
        return [self._stored(r) for r in await asyncio.to_thread(self._rows, study_uid)]

    async def retrieve_series(self, study_uid: str, series_uid: str) -> list[StoredInstance]:
        return [self._stored(r) for r in await asyncio.to_thread(self._rows, study_uid, series_uid)]

    async def retrieve_instance(self, study_uid: str, series_uid: str, sop_uid: str) -> StoredInstance:
        return self._stored(await self._row(study_uid, series_uid, sop_uid))

    async def locate_instance(self, sop_uid: str) -> StoredInstance:
        row = await asyncio.to_thread(self.index.locate, sop_uid)
        if row is None:
            raise NotFound(f"instance {sop_uid} not found")
        return self._stored(row)

    async def read_instance(self, instance: StoredInstance, transfer_syntax: str) -> bytes:
        row = await self._row(instance.study_uid, instance.series_uid, instance.sop_uid)
        return await asyncio.to_thread(pixels.read_part10, Path(instance.path), row, transfer_syntax)

    def _assemble(self, study_uid: str, series_uid: str | None, sop_uid: str | None) -> bytes:
        documents = self.index.documents(study_uid, series_uid, sop_uid)
        if not documents:
            raise NotFound(f"instance {sop_uid} not found")
        return ("[" + ",".join(documents) + "]").encode()

    async def _series_or_study_metadata(self, study_uid: str, series_uid: str | None) -> bytes:
        # The version lookup is one indexed read (tens of microseconds): done inline, a warm
        # request never waits for a worker thread.
        version = self.index.version(study_uid, series_uid)
        if version is None:
            raise NotFound(f"{'series' if series_uid else 'study'} {series_uid or study_uid} not found")
        key = (study_uid, series_uid, version)
        cached = self.cache.get(key)
        if cached is None:
            cached = await asyncio.to_thread(self._assemble, study_uid, series_uid, None)
            self.cache.put(key, cached)
        return cached

    async def retrieve_study_metadata(self, study_uid: str) -> bytes:
        return await self._series_or_study_metadata(study_uid, None)

    async def retrieve_series_metadata(self, study_uid: str, series_uid: str) -> bytes:
        return await self._series_or_study_metadata(study_uid, series_uid)

    async def retrieve_instance_metadata(self, study_uid: str, series_uid: str, sop_uid: str) -> bytes:
        return await asyncio.to_thread(self._assemble, study_uid, series_uid, sop_uid)

    async def retrieve_instance_frames(self, study_uid: str, series_uid: str, sop_uid: str,
                                       frames: list[int], transfer_syntax: str | None) -> list[Frame]:
        row = await self._row(study_uid, series_uid, sop_uid)
        path = self.storage.absolute(row.path)
        if pixels.is_raw(row) and transfer_syntax in (None, "*", EXPLICIT_VR_LITTLE_ENDIAN) and \
                (row.size <= INLINE_READ_BYTES):
            # A pread of a file this small from the page cache is cheaper than a thread hop.
            return pixels.read_frames(path, row, frames, transfer_syntax)
        return await asyncio.to_thread(pixels.read_frames, path, row, frames, transfer_syntax)

    async def retrieve_instance_rendered(self, study_uid: str, series_uid: str, sop_uid: str,
                                         frame: int, params: RenderParams) -> bytes:
        row = await self._row(study_uid, series_uid, sop_uid)
        return await asyncio.to_thread(pixels.render, self.storage.absolute(row.path), row, frame, params)

    async def representative_instance(self, study_uid: str, series_uid: str | None) -> StoredInstance:
        def run() -> InstanceRow:
            rows = self._rows(study_uid, series_uid)
            first_series = [r for r in rows if r.series_uid == rows[0].series_uid]
            return first_series[len(first_series) // 2]

        return self._stored(await asyncio.to_thread(run))

    async def retrieve_bulkdata(self, study_uid: str, series_uid: str, sop_uid: str, tag: int) -> bytes:
        row = await self._row(study_uid, series_uid, sop_uid)
        return await asyncio.to_thread(pixels.read_bulkdata, self.storage.absolute(row.path), row, tag)

    # -- store ------------------------------------------------------------------------------------

    async def store_instances(self, parts: list[StowPart], study_uid: str | None = None) -> StoreReport:
        return await asyncio.to_thread(self.store_files, [p.data for p in parts], study_uid)

    def store_files(self, sources: list[BinaryIO], study_uid: str | None = None,
                    parsed_sources: list[ParsedInstance | Refusal] | None = None) -> StoreReport:
        """Parse, write (fsynced temp), journal, rename and index `sources`; report each one.

        `parsed_sources` (one ParsedInstance or Refusal per source) skips parsing here; the
        import uses it to parse in worker processes.
        """
        if self.index.damaged is not None:  # never write into an index known to be damaged
            raise IndexDamaged(self.index.path, self.index.damaged)
        try:
            return self._store_files(sources, study_uid, parsed_sources)
        except OSError as exc:
            if exc.errno not in DISK_FULL:
                raise
            raise InsufficientStorage(f"insufficient storage: {DISK_FULL[exc.errno]} while storing DICOM "
                                      "objects; nothing was stored") from exc

    def _store_files(self, sources: list[BinaryIO], study_uid: str | None,
                     parsed_sources: list[ParsedInstance | Refusal] | None) -> StoreReport:
        outcomes: list[StoreOutcome | None] = [None] * len(sources)
        accepted: list[tuple[int, ParsedInstance, Path]] = []
        syncing: list[Future[None]] = []
        seen: set[str] = set()
        hierarchy = RequestHierarchy()
        try:
            for position, source in enumerate(sources):
                parsed = parsed_sources[position] if parsed_sources is not None else \
                    parse_or_error(source, self.max_pixel_bytes)
                if isinstance(parsed, Refusal):
                    outcomes[position] = StoreOutcome(parsed.sop_class, parsed.sop_uid, parsed.study_uid,
                                                      parsed.series_uid, parsed.failure_reason, parsed.message)
                    continue
                if study_uid is not None and parsed.study_uid != study_uid:
                    outcomes[position] = _outcome(parsed, FAILURE_STUDY_MISMATCH,
                                                  f"StudyInstanceUID {parsed.study_uid} is not {study_uid}")
                    continue
                if parsed.sop_uid in seen:
                    outcomes[position] = _outcome(parsed, FAILURE_DUPLICATE, "SOP instance sent twice in one request")
                    continue
                seen.add(parsed.sop_uid)
                stored_digest = self.index.digest_of(parsed.sop_uid)
                if stored_digest is not None:  # cheap early answer; claim() re-checks under the lock
                    outcomes[position] = _duplicate(parsed, stored_digest)
                    continue
                conflict = hierarchy.conflict(parsed) or self.index.conflict_of(parsed)  # claim() re-checks
                if conflict is not None:
                    outcomes[position] = _outcome(parsed, FAILURE_DATASET_MISMATCH, conflict)
                    continue
                hierarchy.add(parsed)
                temp = self.storage.write_temp(parsed.normalized or source)
                accepted.append((position, parsed, temp))
                syncing.append(self.storage.sync_later(temp))
            for done in syncing:
                done.result()
            self._commit(accepted, outcomes)
        finally:
            for done in syncing:
                done.exception()  # never unlink a file a sync thread still has open
            for _, _, temp in accepted:
                temp.unlink(missing_ok=True)
        return StoreReport([o for o in outcomes if o is not None])

    def _commit(self, accepted: list[tuple[int, ParsedInstance, Path]], outcomes: list[StoreOutcome | None]) -> None:
        if not accepted:
            return
        items = [(parsed, self.storage.relative(self.storage.final_path(parsed.study_uid, parsed.series_uid,
                                                                          parsed.sop_uid)))
                 for _, parsed, _ in accepted]
        with self.index.writing():
            refused = self.index.claim(items, self.storage.owner)
            placed: list[tuple[ParsedInstance, str]] = []
            moves: list[tuple[Path, Path]] = []
            try:
                for (position, parsed, temp), item in zip(accepted, items, strict=True):
                    reason = refused.get(parsed.sop_uid)
                    if reason is not None and reason.startswith("conflict:"):
                        outcomes[position] = _outcome(parsed, FAILURE_DATASET_MISMATCH,
                                                      reason.removeprefix("conflict:"))
                    elif reason == "pending":
                        outcomes[position] = _outcome(parsed, FAILURE_PROCESSING,
                                                      "this SOP instance is being stored by another request")
                    elif reason is not None:
                        outcomes[position] = _duplicate(parsed, parsed.digest if reason == "same" else "")
                    else:
                        moves.append((temp, self.storage.absolute(item[1])))
                        placed.append(item)
                        outcomes[position] = _outcome(parsed, None)
                self.storage.place(moves)
                self.index.insert(placed)
            except BaseException:
                for _, relpath in placed:
                    self.storage.absolute(relpath).unlink(missing_ok=True)
                self.index.release(relpath for parsed, relpath in items if parsed.sop_uid not in refused)
                raise

    async def import_demo(self) -> int:
        """Store the demo studies (generated, 2 x 2 series x 10 slices) unless the database has studies."""

        def run() -> int:
            if self.index.count_studies():
                return 0
            sources: list[BinaryIO] = []
            for index, modality in ((0, "CT"), (1, "MR")):
                for ds in generate_study(index, modality=modality):
                    buffer = io.BytesIO()
                    ds.save_as(buffer, enforce_file_format=True)
                    sources.append(buffer)
            return len(self.store_files(sources).stored)

        return await asyncio.to_thread(run)

def _outcome(parsed: ParsedInstance, reason: int | None, detail: str = "", already: bool = False) -> StoreOutcome:
    return StoreOutcome(parsed.sop_class, parsed.sop_uid, parsed.study_uid, parsed.series_uid, reason, detail,
                        already)


def _duplicate(parsed: ParsedInstance, stored_digest: str) -> StoreOutcome:
    """The documented duplicate rule: identical bytes succeed unchanged; different bytes fail (0x0111)."""
    if stored_digest == parsed.digest:
        return _outcome(parsed, None, "", already=True)
    return _outcome(parsed, FAILURE_DUPLICATE, "a different object with this SOPInstanceUID is already stored")
