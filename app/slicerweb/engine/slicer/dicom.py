"""The DicomService of the Slicer engine: files read here, Slicer's DICOM database asked through a catalog.

`DicomCatalog` (dicom_catalog.py) holds every ctkDICOMDatabase call, each one short call on Slicer's
main thread (directly, or across the process boundary of bridge.py). Reading and parsing files
(metadata, frames, rendering, transcoding) runs in worker threads with the same code as the headless
engine (`formats/dicom/ingest.py`, `pixels.py`), because Slicer keeps Part-10 files on disk too.
Searches read attribute values with `instanceValue` (ctk's tag cache) and match in Python
(`dicom_match.py`). Differences from the headless engine: no series-metadata cache across processes
(a per-file parse cache instead) and instance-level `includefield` is limited to the indexed attributes.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol

from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_file_meta_info

from ...formats.dicom import pixels
from ...formats.dicom.ingest import ParsedInstance, Refusal, parse_instance, parse_or_error
from ...formats.dicom.instance_row import InstanceRow
from ..dicom_api import (
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
from ..errors import NotFound
from .dicom_catalog import InstanceEntry
from .dicom_match import Row, search_rows


class Catalog(Protocol):
    """What SlicerDicom asks of Slicer's DICOM database (DicomCatalog, or its proxy in the server process)."""

    async def count_studies(self) -> int: ...
    async def rows(self, query: SearchQuery) -> list[Row]: ...
    async def instances(self, study: str, series: str | None = None,
                        sop: str | None = None) -> list[InstanceEntry]: ...
    async def locate(self, sop: str) -> tuple[str, str]: ...
    async def file_for_instance(self, sop: str) -> str: ...
    async def insert(self, path: str, sop: str) -> bool: ...
    async def update_displayed_fields(self) -> None: ...


class SlicerDicom:
    """ctkDICOMDatabase of the running Slicer, as a DicomService."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._parsed: dict[tuple[str, float], ParsedInstance] = {}
        self._syntaxes: dict[tuple[str, float], str] = {}

    async def count_studies(self) -> int:
        return await self._catalog.count_studies()

    # -- search -----------------------------------------------------------------------------------

    async def _search(self, query: SearchQuery) -> SearchResult:
        rows = await self._catalog.rows(query)
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
        found = await self._catalog.instances(study, series, sop)
        if not found:
            raise NotFound(f"{'instance' if sop else 'series' if series else 'study'} {sop or series or study} "
                           "not found")
        syntaxes = await asyncio.to_thread(lambda: [self._transfer_syntax(path) for _, _, path, _ in found])
        return [StoredInstance(study, se, uid, sop_class, syntax, path, os.path.getsize(path))
                for (se, uid, path, sop_class), syntax in zip(found, syntaxes, strict=True)]

    def _transfer_syntax(self, path: str) -> str:
        """(0002,0010) from the file's meta header: ctk's fileValue has no group 0002 (see dicom_catalog.py)."""
        key = (path, os.path.getmtime(path))
        syntax = self._syntaxes.get(key)
        if syntax is None:
            try:
                syntax = str(read_file_meta_info(path).get("TransferSyntaxUID", ""))
            except (InvalidDicomError, OSError, ValueError):
                syntax = ""  # served as stored; the transcode path reports what it cannot read
            self._syntaxes[key] = syntax
        return syntax

    async def retrieve_study(self, study_uid: str) -> list[StoredInstance]:
        return await self._instances(study_uid)

    async def retrieve_series(self, study_uid: str, series_uid: str) -> list[StoredInstance]:
        return await self._instances(study_uid, series_uid)

    async def retrieve_instance(self, study_uid: str, series_uid: str, sop_uid: str) -> StoredInstance:
        return (await self._instances(study_uid, series_uid, sop_uid))[0]

    async def locate_instance(self, sop_uid: str) -> StoredInstance:
        study, series = await self._catalog.locate(sop_uid)
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
        """Validate each part, then `dicomDatabase.insert(file, storeFile=True)` it on the main thread and check
        that ctk indexed it (insert returns nothing); refresh the browser's displayed fields once at the end."""
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
            existing = await self._catalog.file_for_instance(parsed.sop_uid)
            if existing:
                same = (await asyncio.to_thread(self._parse, existing)).digest == parsed.digest
                outcomes.append(StoreOutcome(*ids, None if same else FAILURE_DUPLICATE,
                                             "" if same else "a different object with this UID is stored", same))
                continue
            source = parsed.normalized or part.data
            path = await asyncio.to_thread(_spill, source)
            try:
                indexed = await self._catalog.insert(path, parsed.sop_uid)
            finally:
                os.unlink(path)
            outcomes.append(StoreOutcome(*ids) if indexed else StoreOutcome(
                *ids, FAILURE_PROCESSING, "Slicer's DICOM database did not index this instance"))
        if any(o.failure_reason is None and not o.already_stored for o in outcomes):
            await self._catalog.update_displayed_fields()
        return StoreReport(outcomes)


def _spill(source: Any) -> str:
    source.seek(0)
    fd, name = tempfile.mkstemp(suffix=".dcm")
    with os.fdopen(fd, "wb") as out:
        while chunk := source.read(1 << 20):
            out.write(chunk)
    return name


