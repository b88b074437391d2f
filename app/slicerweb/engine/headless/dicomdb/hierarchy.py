"""The study/series hierarchy of one store request, checked before the index sees it.

`filing.Filed.conflict` keeps the archive consistent with what is already filed; this keeps one
request from contradicting itself (two instances of one series naming different studies, a UID
used as a study by one instance and as a series by another).
"""

from __future__ import annotations

from ....formats.dicom.ingest import ParsedInstance


class RequestHierarchy:
    """Series -> study of the instances accepted so far in one request."""

    def __init__(self) -> None:
        self._study_of: dict[str, str] = {}
        self._studies: set[str] = set()

    def conflict(self, parsed: ParsedInstance) -> str | None:
        """Why `parsed` contradicts the instances accepted before it, in plain words; else None."""
        study = self._study_of.get(parsed.series_uid)
        if study is not None and study != parsed.study_uid:
            return f"SeriesInstanceUID {parsed.series_uid} already belongs to study {study} in this request"
        if parsed.study_uid in self._study_of:
            return f"StudyInstanceUID {parsed.study_uid} is a series in this request"
        if parsed.series_uid in self._studies:
            return f"SeriesInstanceUID {parsed.series_uid} is a study in this request"
        return None

    def add(self, parsed: ParsedInstance) -> None:
        self._study_of[parsed.series_uid] = parsed.study_uid
        self._studies.add(parsed.study_uid)
