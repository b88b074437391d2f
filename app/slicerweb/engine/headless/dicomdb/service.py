"""HeadlessDicom: the DicomService over the SQLite index and the object store in `<data_dir>/dicom`.

Blocking work (SQLite, file I/O, pydicom, Pillow) runs in worker threads. Metadata documents are
assembled from the JSON stored per instance and cached in memory keyed by the series' (or study's)
version in the index, so a change made by any process sharing the data directory invalidates it.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Generic, TypeVar

from ....formats.dicom import pixels
from ....formats.dicom.geometry import DEFAULT_MAX_PIXEL_BYTES
from ....formats.dicom.ingest import ParsedInstance, Refusal, check_uid
from ....formats.dicom.instance_row import InstanceRow
from ....formats.voxels import DEFAULT_LIMITS
from ...dicom_api import (
    EXPLICIT_VR_LITTLE_ENDIAN,
    CheckReport,
    DeleteReport,
    Frame,
    RenderParams,
    SearchQuery,
    SearchResult,
    StoredInstance,
    StoreReport,
    StowPart,
)
from ...errors import NotFound
from . import health
from .check import check as check_database
from .delete import delete as delete_data
from .index import DicomIndex
from .lease import LEASE_SECONDS, Lease
from .recovery import Sweeper
from .storage import Storage
from .writer import Writer

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

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def discard(self, key: K) -> None:
        with self._lock:
            self._items.pop(key, None)

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._entries:
                self._items.popitem(last=False)


class HeadlessDicom:
    """SQLite-indexed DICOM store under `root` (objects/, tmp/, index.sqlite)."""

    def __init__(self, root: Path, max_pixel_bytes: int = DEFAULT_MAX_PIXEL_BYTES,
                 max_conversion_bytes: int = DEFAULT_LIMITS.max_bytes, *, startup_checks: bool = True,
                 index_url: str = "", lease_seconds: float = LEASE_SECONDS) -> None:
        """Open (or create) the database; IndexDamaged if its index fails the start-up checks
        (`health`), Unavailable while `slicerweb dicom reindex` holds it. `max_conversion_bytes`: decoded
        bytes one transfer-syntax conversion may produce (`limits.max_volume_bytes`). `startup_checks=False`
        (`dicom check`) skips recovery and the file count, which would refuse the damage it reports.
        `index_url`: a PostgreSQL index (`postgresql://...`) instead of `root/index.sqlite`.
        `lease_seconds`: how long this owner's lease outlives its last renewal (lease.py; short in tests)."""
        self.root = Path(root)
        self.max_pixel_bytes = max_pixel_bytes
        self.max_conversion_bytes = max_conversion_bytes
        self.storage = Storage(self.root)  # first: it takes the database lock a reindex would hold
        self.cache: LRU[tuple[str, str | None, int], bytes] = LRU(CACHE_ENTRIES)
        self.rows: LRU[str, InstanceRow] = LRU(ROW_ENTRIES)
        try:
            if index_url:
                self.index = DicomIndex(index_url)
            else:
                health.check_file(self.root)
                self.index = DicomIndex(self.root / health.INDEX_FILE)
        except BaseException:
            self.storage.close()
            raise
        self.lease = Lease(self.index.db, self.storage.owner, seconds=lease_seconds,
                           on_lost=self.storage.take_new_owner)
        try:
            self.lease.start()  # before anything is written as this owner
        except BaseException:
            self.index.close()
            self.storage.close()
            raise
        self.storage.fence = self.lease.check
        self.writer = Writer(self.storage, self.index, max_pixel_bytes)
        self.sweeper: Sweeper | None = None
        self.closed = False
        if not startup_checks:
            return
        try:
            self.recover()
            counts = self.index.stored_counts(lambda: health.count_objects(self.storage.objects))
            health.check_counts(self.index.path, self.storage.objects, *counts)
        except BaseException:
            self.close()
            raise
        self.sweeper = Sweeper(self.recover, lease_seconds)  # owners dead but still leased at start
        self.sweeper.start()

    def recover(self) -> None:
        """Undo the interrupted stores of dead processes (`writer.Writer.recover`)."""
        self.writer.recover()

    def close(self) -> None:
        """Stop the lease and the sweep, close the index, give up ownership (again: nothing happens)."""
        if self.closed:
            return
        self.closed = True
        if self.sweeper is not None:
            self.sweeper.close()
        self.lease.close()
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

    @contextmanager
    def _present(self, row: InstanceRow) -> Iterator[None]:
        """A file gone while reading was deleted (by another process sharing the directory, since this
        one cached its row): NotFound, and the row is forgotten."""
        try:
            yield
        except FileNotFoundError as exc:
            raise self._forget(row) from exc

    def _forget(self, row: InstanceRow) -> NotFound:
        self.rows.discard(row.sop_uid)
        return NotFound(f"instance {row.sop_uid} not found")

    def _stored(self, row: InstanceRow) -> StoredInstance:
        return StoredInstance(row.study_uid, row.series_uid, row.sop_uid, row.sop_class, row.transfer_syntax,
                              str(self.storage.absolute(row.path)), row.size)

    async def retrieve_study(self, study_uid: str) -> list[StoredInstance]:
        return [self._stored(r) for r in await asyncio.to_thread(self._rows, study_uid)]

    async def retrieve_series(self, study_uid: str, series_uid: str) -> list[StoredInstance]:
        return [self._stored(r) for r in await asyncio.to_thread(self._rows, study_uid, series_uid)]

    async def retrieve_instance(self, study_uid: str, series_uid: str, sop_uid: str) -> StoredInstance:
        row = await self._row(study_uid, series_uid, sop_uid)
        if not self.storage.absolute(row.path).exists():  # deleted by another process since it was cached
            raise self._forget(row)
        return self._stored(row)

    async def locate_instance(self, sop_uid: str) -> StoredInstance:
        row = await asyncio.to_thread(self.index.locate, sop_uid)
        if row is None:
            raise NotFound(f"instance {sop_uid} not found")
        return self._stored(row)

    async def read_instance(self, instance: StoredInstance, transfer_syntax: str) -> bytes:
        row = await self._row(instance.study_uid, instance.series_uid, instance.sop_uid)
        with self._present(row):
            return await asyncio.to_thread(pixels.read_part10, Path(instance.path), row, transfer_syntax,
                                           self.max_conversion_bytes)

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
        with self._present(row):
            if pixels.is_raw(row) and transfer_syntax in (None, "*", EXPLICIT_VR_LITTLE_ENDIAN) and \
                    (row.size <= INLINE_READ_BYTES):
                # A pread of a file this small from the page cache is cheaper than a thread hop.
                return pixels.read_frames(path, row, frames, transfer_syntax)
            return await asyncio.to_thread(pixels.read_frames, path, row, frames, transfer_syntax,
                                           self.max_conversion_bytes)

    async def retrieve_instance_rendered(self, study_uid: str, series_uid: str, sop_uid: str,
                                         frame: int, params: RenderParams) -> bytes:
        row = await self._row(study_uid, series_uid, sop_uid)
        with self._present(row):
            return await asyncio.to_thread(pixels.render, self.storage.absolute(row.path), row, frame, params,
                                           self.max_conversion_bytes)

    async def representative_instance(self, study_uid: str, series_uid: str | None) -> StoredInstance:
        def run() -> InstanceRow:
            rows = self._rows(study_uid, series_uid)
            first_series = [r for r in rows if r.series_uid == rows[0].series_uid]
            return first_series[len(first_series) // 2]

        return self._stored(await asyncio.to_thread(run))

    async def retrieve_bulkdata(self, study_uid: str, series_uid: str, sop_uid: str, tag: int) -> bytes:
        row = await self._row(study_uid, series_uid, sop_uid)
        with self._present(row):
            return await asyncio.to_thread(pixels.read_bulkdata, self.storage.absolute(row.path), row, tag,
                                           self.max_conversion_bytes)

    # -- store ------------------------------------------------------------------------------------

    async def store_instances(self, parts: list[StowPart], study_uid: str | None = None) -> StoreReport:
        return await asyncio.to_thread(self.store_files, [p.data for p in parts], study_uid)

    def store_files(self, sources: list[BinaryIO], study_uid: str | None = None,
                    parsed_sources: list[ParsedInstance | Refusal] | None = None) -> StoreReport:
        """Parse, write (fsynced temp), journal, rename and index `sources`; report each one
        (`writer.Writer.store_files`)."""
        return self.writer.store_files(sources, study_uid, parsed_sources)

    # -- maintenance ------------------------------------------------------------------------------

    async def delete(self, study_uid: str, series_uid: str | None = None,
                     sop_uid: str | None = None) -> DeleteReport:
        return await asyncio.to_thread(self.delete_now, study_uid, series_uid, sop_uid)

    def delete_now(self, study_uid: str, series_uid: str | None = None, sop_uid: str | None = None) -> DeleteReport:
        """`delete.delete`, then forget what this process cached about the deleted instances."""
        for uid, name in ((study_uid, "StudyInstanceUID"), (series_uid, "SeriesInstanceUID"),
                          (sop_uid, "SOPInstanceUID")):
            if uid is not None:
                check_uid(uid, name)
        try:
            return delete_data(self.index, self.storage, study_uid, series_uid, sop_uid)
        finally:
            self.rows.clear()
            self.cache.clear()  # a study's version is its instance count: a delete may bring an old one back

    async def check(self, repair: bool = False) -> CheckReport:
        return await asyncio.to_thread(self.check_now, repair)

    def check_now(self, repair: bool = False) -> CheckReport:
        """`check.check` over this database (repair drops rows: the caches are cleared after it)."""
        try:
            return check_database(self.index, self.storage, self.writer, repair=repair)
        finally:
            if repair:
                self.rows.clear()
                self.cache.clear()

    async def seed(self, studies: Callable[[], list[BinaryIO]]) -> int:
        """Store the Part-10 files `studies()` makes (demo content) into an empty database; returns how many
        were stored. A database that already holds studies is left alone and `studies` is never called."""

        def run() -> int:
            if self.index.count_studies():
                return 0
            return len(self.store_files(studies()).stored)

        return await asyncio.to_thread(run)
