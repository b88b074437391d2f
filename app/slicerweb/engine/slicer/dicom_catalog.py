"""DicomCatalog: the ctkDICOMDatabase calls of the Slicer engine, each one main-thread call.

`slicer.dicomDatabase` (a ctkDICOMDatabase) is only used on the Qt main thread. Everything here is a
short lookup or one insert, so main-thread work per DICOMweb request stays small; reading and parsing
the files happens elsewhere (`dicom.py`, worker threads of the server process). The values returned
are plain tuples and dicts, so the same calls can be answered across a process boundary (`bridge.py`).

What ctk gives and does not (CTK Libs/DICOM/Core/ctkDICOMDatabase.h, ctkDICOMItem.cpp):
- `fileValue(path, "0002,xxxx")` is always "": the tag cache is read through ctkDICOMItem, which keeps
  the data set and drops the file meta header (ctkDICOMItem.cpp ~120-131, ctkDICOMDatabase.cpp ~217-260).
  The transfer syntax is read from the file's meta header by `dicom.py` instead.
- `insert(path, storeFile, generateThumbnail)` returns nothing: success is checked by asking for the
  instance afterwards; `updateDisplayedFields()` (ctkDICOMDatabase.h ~321) refreshes Slicer's browser.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any, TypeVar

from ...formats.dicom.attributes import ATTRIBUTES
from ..dicom_api import SearchQuery
from .dicom_match import Row
from .mainthread import Dispatcher

T = TypeVar("T")
COMPUTED = {"s.modalities", "s.num_series", "s.num_instances", "r.num_instances"}
InstanceEntry = tuple[str, str, str, str]  # series UID, SOP instance UID, file path, SOP class UID


def _tag(tag: int) -> str:
    return f"{tag >> 16:04X},{tag & 0xFFFF:04X}"


class DicomCatalog:
    """ctkDICOMDatabase lookups and inserts, on the main thread."""

    def __init__(self, slicer: ModuleType, main: Dispatcher) -> None:
        self._slicer, self._main = slicer, main

    async def _on_main(self, fn: Callable[[Any], T]) -> T:
        return await self._main.call(lambda: fn(self._slicer.dicomDatabase))

    async def count_studies(self) -> int:
        return await self._on_main(lambda db: sum(len(db.studiesForPatient(p)) for p in db.patients()))

    async def rows(self, query: SearchQuery) -> list[Row]:
        """One row per result of the query's level, read through ctk's tag cache."""
        return await self._on_main(lambda db: _rows(db, query))

    async def instances(self, study: str, series: str | None = None, sop: str | None = None) -> list[InstanceEntry]:
        def run(db: Any) -> list[InstanceEntry]:
            out = []
            for se in ([series] if series else db.seriesForStudy(study)):
                if db.studyForSeries(se) != study:
                    continue
                for uid in ([sop] if sop else db.instancesForSeries(se)):
                    path = db.fileForInstance(uid)
                    if path and db.seriesForFile(path) == se:
                        out.append((se, uid, path, db.fileValue(path, "0008,0016")))
            return out

        return await self._on_main(run)

    async def locate(self, sop: str) -> tuple[str, str]:
        """(study, series) of an instance, or ("", "")."""
        def run(db: Any) -> tuple[str, str]:
            path = db.fileForInstance(sop)
            return (db.studyForSeries(db.seriesForFile(path)), db.seriesForFile(path)) if path else ("", "")

        return await self._on_main(run)

    async def file_for_instance(self, sop: str) -> str:
        return await self._on_main(lambda db: db.fileForInstance(sop))

    async def insert(self, path: str, sop: str) -> bool:
        """insert(file, storeFile=True, generateThumbnail=False); True when the instance is then indexed."""
        def run(db: Any) -> bool:
            db.insert(path, True, False)  # returns nothing (ctkDICOMDatabase.h)
            return bool(db.fileForInstance(sop))

        return await self._on_main(run)

    async def update_displayed_fields(self) -> None:
        """Refresh the patient/study/series fields Slicer's DICOM browser shows."""
        await self._on_main(lambda db: db.updateDisplayedFields())


def _rows(db: Any, query: SearchQuery) -> list[Row]:
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
