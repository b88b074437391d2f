"""The headless DICOM database (skeleton; completed by the DICOMweb work)."""

from __future__ import annotations

from pathlib import Path


class HeadlessDicom:
    """SQLite-indexed DICOM store under `<data_dir>/dicom`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    async def count_studies(self) -> int:
        return 0
