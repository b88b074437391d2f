"""The DicomService mapped onto Slicer's DICOM database (`slicer.dicomDatabase`, a ctkDICOMDatabase).

Every call into ctkDICOMDatabase runs on the Qt main thread through `MainThreadDispatcher.call`;
reading and parsing files (metadata, frames, rendering, transcoding) runs in worker threads with the
same code as the headless engine (`headless/dicomdb/ingest.py`, `pixels.py`), because Slicer keeps
Part-10 files on disk too. Searches read attribute values with `instanceValue` (ctk's tag cache)
and match in Python (`dicom_match.py`). Differences from the headless engine: no series-metadata
cache across processes (a per-file parse cache instead) and instance-level `includefield` is
limited to the indexed attributes.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from ..dicom_api import (
    FAILURE_DUPLICATE,
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
from ..errors import NotFound
from ..headless.dicomdb import pixels
from ..headless.dicomdb.attributes import ATTRIBUTES
from ..headless.dicomdb.index import InstanceRow
from ..headless.dicomdb.ingest import ParsedInstance, Refusal, parse_instance, parse_or_error
from .dicom_match import Row, search_rows
from .mainthread import MainThreadDispatcher

T = TypeVar("T")
COMPUTED = {"s.modalities", "s.num_series", "s.num_instances", "r.num_instances"}


def _tag(tag: int) -> str:
    return f"{tag >> 16:04X},{tag & 0xFFFF:04X}"


class SlicerDicom:
    """ctkDICOMDatabase of the running Slicer, as a DicomService."""

    def __init__(self, slicer: ModuleType, main: MainThreadDispatcher) -> None:
        self._slicer, self._main = slicer, main
        self._parsed: dict[tuple[str, float], ParsedInstance] = {}

    async def _on_main(self, fn: Callable[[Any], T]) -> T:
        return await self._main.call(lambda: fn(self._slicer.dicomDatabase))

    async def count_studies(self) -> int:
        return await self._on_main(lambda db: sum(len(db.studiesForPatient(p)) for p in db.patients()))

    # -- search -----------------------------------------------------------------------------------

    def _rows(self, db: Any, query: SearchQuery) -> list[Row]:
        """One row per result of the query's level, read through ctk's tag cache (main thread)."""
        def values(sop: str, tiers: tuple[str, ...]) -> Row:
            return {a.column: db.instanceValue(sop, _tag(a.tag)) for a in ATTRIBUTES
                    if a.tier in tiers and a.column not in COMPUTED}

        rows: list[Row] = []
        for patient in db.patients():
            for study in db.studiesForPatient(patient):
                if query.study_uid is not None and study != query.study_uid:
                    continue
                series_list = list(db.seriesForStudy(study))
                instances = {se: list(db.instancesForSeries(se)) for se in series_list}
                first = next((i[0] for i in instances.values() if i), None)
                if first is None:
                    continue
                study_row = values(first, ("patient", "study"))
                modalities = sorted({db.instanceValue(i[0], "0008,0060") for i in instances.values() if i} - {""})
                study_row.update({"s.modalities": "\\".join(modalities), "s.num_series": len(series_list),
                                  "s.num_instances": sum(len(i) for i in instances.values())})
                if query.level == "study":
                    rows.append(study_row)
                    continue
                for series in series_list:
                    if (query.series_uid is not None and series != query.series_uid) or not instances[series]:
                        continue
                    series_row = {**study_row, **values(instances[series][0], ("series",)),
                                  "r.num_instances": len(instances[series])}
                    if query.level == "series":
                        rows.append(series_row)
                        continue
                    rows += [{**series_row, **values(sop, ("instance",))} for sop in instances[series]]
        return rows

    async def _search(self, query: SearchQuery) -> SearchResult:
        rows = await self._on_main(lambda db: self._rows(db, query))
        records, total, warnings = await asyncio.to_thread(search_rows, rows, query)
        return SearchResult(records=records, total=total, offset=query.offset, warnings=warnings)

    async def search_for_studies(self, query: SearchQuery) -> SearchResult:
        return await self._search(query)

    async def search_for_series(self, query: SearchQuery) -> SearchResult:
        return await self._search(query)

    async def search_for_instances(self, query: SearchQuery) -> SearchResult:
        return await self._search(query)

    # -- retrieve ---------------------------------------------------------------------------------

    async def _instances(self, study: str, series: str | None = None, sop: str | None = None) -> list[StoredInstance]:
        def run(db: Any) -> list[tuple[str, str, str, str, str]]:
            out = []
            for se in ([series] if series else db.seriesForStudy(study)):
                if db.studyForSeries(se) != study:
                    continue
                for uid in ([sop] if sop else db.instancesForSeries(se)):
                    path = db.fileForInstance(uid)
                    if path and db.seriesForFile(path) == se:
                        out.append((se, uid, path, db.fileValue(path, "0002,0010"), db.fileValue(path, "0008,0016")))
            return out

        found = await self._on_main(run)
        if not found:
            raise NotFound(f"{'instance' if sop else 'series' if series else 'study'} {sop or series or study} "
                           "not found")
        return [StoredInstance(study, se, uid, sop_class, syntax, path, os.path.getsize(path))
                for se, uid, path, syntax, sop_class in found]

    async def retrieve_study(self, study_uid: str) -> list[StoredInstance]:
        return await self._instances(study_uid)

    async def retrieve_series(self, study_uid: str, series_uid: str) -> list[StoredInstance]:
        return await self._instances(study_uid, series_uid)

    async def retrieve_instance(self, study_uid: str, series_uid: str, sop_uid: str) -> StoredInstance:
        return (await self._instances(study_uid, series_uid, sop_uid))[0]

    async def locate_instance(self, sop_uid: str) -> StoredInstance:
        def run(db: Any) -> tuple[str, str]:
            path = db.fileForInstance(sop_uid)
            return (db.studyForSeries(db.seriesForFile(path)), db.seriesForFile(path)) if path else ("", "")

        study, series = await self._on_main(run)
        if not study:
            raise NotFound(f"instance {sop_uid} not found")
        return await self.retrieve_instance(study, series, sop_uid)

    def _parse(self, path: str) -> ParsedInstance:
        key = (path, os.path.getmtime(path))
        parsed = self._parsed.get(key)
        if parsed is None:
            with open(path, "rb") as handle:
                parsed = self._parsed[key] = parse_instance(handle)
        return parsed

    def _row(self, instance: StoredInstance) -> InstanceRow:
        p = self._parse(instance.path)
        i = p.instance
        return InstanceRow(p.study_uid, p.series_uid, p.sop_uid, p.sop_class, p.transfer_syntax, instance.path,
                           p.size, i["n_rows"], i["n_columns"], i["bits_allocated"], i["samples_per_pixel"],
                           i["number_of_frames"], p.pixel_offset, p.pixel_length)

    async def read_instance(self, instance: StoredInstance, transfer_syntax: str) -> bytes:
        return await asyncio.to_thread(
            lambda: pixels.read_part10(Path(instance.path), self._row(instance), transfer_syntax))

    async def _metadata(self, instances: list[StoredInstance]) -> bytes:
        documents = await asyncio.to_thread(lambda: [self._parse(i.path).json for i in instances])
        return ("[" + ",".join(documents) + "]").encode()

    async def retrieve_study_metadata(self, study_uid: str) -> bytes:
        return await self._metadata(await self._instances(study_uid))

    async def retrieve_series_metadata(self, study_uid: str, series_uid: str) -> bytes:
        return await self._metadata(await self._instances(study_uid, series_uid))

    async def retrieve_instance_metadata(self, study_uid: str, series_uid: str, sop_uid: str) -> bytes:
        return await self._metadata(await self._instances(study_uid, series_uid, sop_uid))

    async def retrieve_instance_frames(self, study_uid: str, series_uid: str, sop_uid: str,
                                       frames: list[int], transfer_syntax: str | None) -> list[Frame]:
        instance = await self.retrieve_instance(study_uid, series_uid, sop_uid)
        return await asyncio.to_thread(
            lambda: pixels.read_frames(Path(instance.path), self._row(instance), frames, transfer_syntax))

    async def retrieve_instance_rendered(self, study_uid: str, series_uid: str, sop_uid: str,
                                         frame: int, params: RenderParams) -> bytes:
        instance = await self.retrieve_instance(study_uid, series_uid, sop_uid)
        return await asyncio.to_thread(
            lambda: pixels.render(Path(instance.path), self._row(instance), frame, params))

    async def representative_instance(self, study_uid: str, series_uid: str | None) -> StoredInstance:
        instances = await self._instances(study_uid, series_uid)
        first = [i for i in instances if i.series_uid == instances[0].series_uid]
        return first[len(first) // 2]

    async def retrieve_bulkdata(self, study_uid: str, series_uid: str, sop_uid: str, tag: int) -> bytes:
        instance = await self.retrieve_instance(study_uid, series_uid, sop_uid)
        return await asyncio.to_thread(
            lambda: pixels.read_bulkdata(Path(instance.path), self._row(instance), tag))

    # -- store ------------------------------------------------------------------------------------

    async def store_instances(self, parts: list[StowPart], study_uid: str | None = None) -> StoreReport:
        """Validate each part, then `dicomDatabase.insert(file, storeFile=True)` it on the main thread."""
        outcomes = []
        for part in parts:
            parsed = await asyncio.to_thread(parse_or_error, part.data)
            if isinstance(parsed, Refusal):  # not DICOM, or damaged (pixel data contradicting the header)
                outcomes.append(StoreOutcome(parsed.sop_class, parsed.sop_uid, parsed.study_uid, parsed.series_uid,
                                             parsed.failure_reason, parsed.message))
                continue
            ids = (parsed.sop_class, parsed.sop_uid, parsed.study_uid, parsed.series_uid)
            if study_uid is not None and parsed.study_uid != study_uid:
                outcomes.append(StoreOutcome(*ids, FAILURE_STUDY_MISMATCH, f"not in study {study_uid}"))
                continue
            existing = await self._on_main(lambda db, uid=parsed.sop_uid: db.fileForInstance(uid))
            if existing:
                same = (await asyncio.to_thread(self._parse, existing)).digest == parsed.digest
                outcomes.append(StoreOutcome(*ids, None if same else FAILURE_DUPLICATE,
                                             "" if same else "a different object with this UID is stored", same))
                continue
            source = parsed.normalized or part.data
            path = await asyncio.to_thread(_spill, source)
            try:
                await self._on_main(lambda db, p=path: db.insert(p, True, False))
            finally:
                os.unlink(path)
            outcomes.append(StoreOutcome(*ids))
        return StoreReport(outcomes)


def _spill(source: Any) -> str:
    source.seek(0)
    fd, name = tempfile.mkstemp(suffix=".dcm")
    with os.fdopen(fd, "wb") as out:
        while chunk := source.read(1 << 20):
            out.write(chunk)
    return name


