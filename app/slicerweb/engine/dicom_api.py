"""DicomService: the DICOM database behind `/dicom` (PS3.18 transaction names).

Completed by the DICOMweb work; the skeleton holds what the foundation needs.
"""

from __future__ import annotations

from typing import Protocol


class DicomService(Protocol):
    """The DICOM database."""

    async def count_studies(self) -> int:
        """Number of studies in the database."""
        ...
