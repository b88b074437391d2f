"""QIDO matching in Python over attribute rows read from Slicer's ctkDICOMDatabase.

The headless engine matches in SQL (`headless/dicomdb/search.py`); Slicer's database has no SQL we
may use, so the Slicer engine collects one row per study/series/instance ({attribute column: value},
columns named as in `formats/dicom/attributes.py`) and filters here with the same semantics:
PN case-insensitive (trailing empty components ignored), other wildcards case-sensitive, DA/TM
ranges as strings, lists as "any of", fuzzy as token prefixes.
"""

from __future__ import annotations

import re
from typing import Any

from ...formats.dicom.attributes import BY_TAG, LEVEL_RANK, TIER_RANK, Attribute
from ...formats.dicom.ingest import fold_name, name_tokens
from ...formats.dicom.records import element, returned_attributes
from ..dicom_api import DicomJson, Match, SearchQuery

Row = dict[str, Any]


def _wildcard(pattern: str, value: str) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.DOTALL) is not None


def matches(match: Match, attribute: Attribute, row: Row) -> bool:
    """Whether `row` satisfies one matching key."""
    if attribute.tag == 0x00080061:  # ModalitiesInStudy: any modality of the study
        present = str(row.get("s.modalities", "")).split("\\")
        return any(matches(match, BY_TAG[0x00080060], {"r.modality": m}) for m in present)
    raw = row.get(attribute.column)
    value = "" if raw is None else str(raw)
    if attribute.vr == "PN":
        if match.kind == "fuzzy":
            tokens = name_tokens(value).split()
            return all(any(t.startswith(q.casefold()) for t in tokens)
                       for q in match.values[0].replace("^", " ").split())
        value = fold_name(value)
        wanted = [v.casefold() if match.kind == "wildcard" else fold_name(v) for v in match.values]
    else:
        wanted = list(match.values)
    if match.kind == "wildcard":
        return _wildcard(wanted[0], value)
    if match.kind == "range":
        low, high = wanted
        return value != "" and (not low or value >= low) and (not high or value[:len(high)] <= high)
    if attribute.numeric:
        return raw is not None and int(raw) in {int(v) for v in wanted}
    return value in wanted


def search_rows(rows: list[Row], query: SearchQuery) -> tuple[list[DicomJson], int, tuple[str, ...]]:
    """(page of QIDO records, total matches, warnings) for rows already scoped to the query's path."""
    # Sequence keys (m.path) need stored JSON, which Slicer's database does not keep: ignored, with a warning.
    usable = [(m, BY_TAG[m.tag]) for m in query.matches if not m.path and m.tag in BY_TAG
              and BY_TAG[m.tag].matchable and TIER_RANK[BY_TAG[m.tag].tier] <= LEVEL_RANK[query.level]]
    warnings = tuple(f"The attribute {m.keyword} is not supported for matching at {query.level} level; "
                     "it was ignored." for m in query.matches if m not in {u for u, _ in usable})
    found = [row for row in rows if all(matches(m, a, row) for m, a in usable)]
    attributes, _ = returned_attributes(query)
    page = found[query.offset:query.offset + query.limit]
    records = []
    for row in page:
        record: DicomJson = {}
        for attribute in attributes:
            item = element(attribute, row.get(attribute.column))
            if item is not None:
                record[attribute.hex] = item
        record["00080056"] = {"vr": "CS", "Value": ["ONLINE"]}
        records.append(dict(sorted(record.items())))
    return records, len(found), warnings

