"""QIDO records: which attributes a search returns at each level, and their DICOM JSON from index values.

Shared by the headless index (values from SQL rows) and the Slicer engine (values from Slicer's database).
"""

from __future__ import annotations

import json
from typing import Any

from ...engine.dicom_api import DicomJson, SearchQuery
from .attributes import (
    ATTRIBUTES,
    BY_TAG,
    INSTANCE_AVAILABILITY,
    INSTANCE_DEFAULTS,
    LEVEL_RANK,
    OMIT_WHEN_EMPTY,
    SERIES_DEFAULTS,
    STUDY_DEFAULTS,
    TIER_RANK,
    Attribute,
)
from .jsonmodel import annex_f, annex_f_element

STUDY_UID, SERIES_UID = 0x0020000D, 0x0020000E


def visible(attribute: Attribute, level: str) -> bool:
    """Attributes of a lower level than the query's are neither matched nor returned (PS3.18 §8.3.4)."""
    return TIER_RANK[attribute.tier] <= LEVEL_RANK[level]


def returned_attributes(query: SearchQuery) -> tuple[list[Attribute], bool]:
    """Index attributes to return, and whether the instance's stored JSON is needed as well."""
    tags: list[int] = []
    if query.level == "study":
        tags += STUDY_DEFAULTS
    elif query.level == "series":
        tags += SERIES_DEFAULTS
        tags += STUDY_DEFAULTS if query.study_uid is None else (STUDY_UID,)
    else:
        tags += INSTANCE_DEFAULTS
        tags += SERIES_DEFAULTS if query.series_uid is None else (SERIES_UID,)
        tags += STUDY_DEFAULTS if query.study_uid is None else (STUDY_UID,)
    tags += [m.tag for m in query.matches]
    tags += sorted(query.include)
    if query.include_all:
        tags += [a.tag for a in ATTRIBUTES]
    chosen = [BY_TAG[t] for t in dict.fromkeys(tags) if t in BY_TAG and visible(BY_TAG[t], query.level)]
    whole, fields = from_document(query)
    return chosen, whole or bool(fields)


def from_document(query: SearchQuery) -> tuple[bool, frozenset[int]]:
    """(copy the whole stored JSON, the includefields to copy from it) for one record.

    Instance level: `includefield=all` is the instance's whole JSON, other includefields come from it
    too. Study and series level: attributes the index does not hold come from a representative
    instance (the first in retrieval order: lowest series number, then instance number), as in
    Orthanc; `all` there means every indexed attribute of the level.
    """
    if query.level == "instance":
        return query.include_all, query.include if any(t not in BY_TAG for t in query.include) else frozenset()
    return False, frozenset(t for t in query.include if t not in BY_TAG)


def element(attribute: Attribute, value: Any) -> dict[str, Any] | None:
    """One DICOM JSON element for an index value (None: leave the attribute out)."""
    if value is None or value == "":
        return None if attribute.tag in OMIT_WHEN_EMPTY else {"vr": attribute.vr}
    if attribute.vr == "PN":
        names = []
        for name in str(value).split("\\"):
            groups = name.split("=")
            entry = {"Alphabetic": groups[0]}
            if len(groups) > 1 and groups[1]:
                entry["Ideographic"] = groups[1]
            if len(groups) > 2 and groups[2]:
                entry["Phonetic"] = groups[2]
            names.append(entry)
        return {"vr": "PN", "Value": names}
    if attribute.numeric:
        return {"vr": attribute.vr, "Value": [int(value)]}
    if attribute.multi:  # an empty component is null (PS3.18 F.2.5)
        return {"vr": attribute.vr, "Value": [v or None for v in str(value).split("\\")]}
    return {"vr": attribute.vr, "Value": [value]}


def record(row: tuple[Any, ...], attributes: list[Attribute], document: str | dict[str, Any] | None,
           include: frozenset[int], include_all: bool) -> DicomJson:
    """A QIDO record from an index row, plus `include` (or, with `include_all`, everything) from the
    stored JSON `document` (text, or already parsed; see `from_document`)."""
    out: DicomJson = {}
    if document is not None:
        stored = json.loads(document) if isinstance(document, str) else document
        if include_all:
            out.update(annex_f(stored))  # an older index's JSON, corrected as it is read
        else:
            for tag in include:
                key = f"{tag:08X}"
                if key in stored and tag & 0xFFFF:
                    out[key] = annex_f_element(stored[key])
    for attribute, value in zip(attributes, row, strict=False):
        item = element(attribute, value)
        if item is not None:
            out[attribute.hex] = item
    out[f"{INSTANCE_AVAILABILITY:08X}"] = {"vr": "CS", "Value": ["ONLINE"]}
    return dict(sorted(out.items()))
