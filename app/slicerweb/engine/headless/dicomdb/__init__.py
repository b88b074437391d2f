"""The headless DICOM database: an SQLite index (WAL) over atomically stored Part-10 files.

Modules: `schema` (tables), `attributes` (QIDO attribute <-> column table), `ingest` (file -> rows),
`storage` (atomic object tree), `index` (SQL), `search` (QIDO SQL and records), `pixels` (frames,
rendering, bulk data), `service` (the DicomService implementation).
"""

from __future__ import annotations

from .service import HeadlessDicom

__all__ = ["HeadlessDicom"]
