"""The Slicer engine's QIDO matching over attribute rows: a sequence key is never taken for its leaf."""

from __future__ import annotations

from slicerweb.engine.dicom_api import Match, SearchQuery
from slicerweb.engine.slicer.dicom_match import search_rows

ROWS = [{"s.study_uid": "1.2", "r.series_uid": "1.2.3", "r.modality": "CT"},
        {"s.study_uid": "1.2", "r.series_uid": "1.2.4", "r.modality": "MR"}]


def test_sequence_key_is_ignored_with_a_warning_not_matched_as_its_leaf() -> None:
    leaf = Match(0x0020000E, "ReferencedSeriesSequence.SeriesInstanceUID", "single", ("1.2.3",), path=(0x00081115,))
    records, total, warnings = search_rows(ROWS, SearchQuery("series", matches=(leaf,)))
    assert total == 2 and {r["0020000E"]["Value"][0] for r in records} == {"1.2.3", "1.2.4"}
    assert warnings == ("The attribute ReferencedSeriesSequence.SeriesInstanceUID is not supported for matching "
                        "at series level; it was ignored.",)
    plain = Match(0x0020000E, "SeriesInstanceUID", "single", ("1.2.3",))
    records, total, warnings = search_rows(ROWS, SearchQuery("series", matches=(plain,)))
    assert total == 1 and not warnings
