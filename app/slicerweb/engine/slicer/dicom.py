"""DICOM database calls mapped onto `slicer.dicomDatabase` (completed by the DICOMweb work)."""

from __future__ import annotations

from types import ModuleType

from .mainthread import MainThreadDispatcher


class SlicerDicom:
    """ctkDICOMDatabase of the running Slicer."""

    def __init__(self, slicer: ModuleType, main: MainThreadDispatcher) -> None:
        self._slicer, self._main = slicer, main

    async def count_studies(self) -> int:
        def run() -> int:
            db = self._slicer.dicomDatabase
            return sum(len(db.studiesForPatient(p)) for p in db.patients())

        return await self._main.call(run)
