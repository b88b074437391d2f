"""DICOM JSON on the wire: RetrieveURLs, the public root in stored metadata, and the XML alternative.

Records from the engine carry no URLs; `with_retrieve_url` adds RetrieveURL (0008,1190) built from
the request's public root (`Origin.base_url` + `/dicom`, honouring trusted proxy headers).
`to_native_xml` renders a DICOM JSON object as PS3.19 Native DICOM Model XML for clients asking
`multipart/related; type="application/dicom+xml"`.
"""

from __future__ import annotations

import json
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from pydicom.datadict import keyword_for_tag

from ..engine.dicom_api import BASE_URL_PLACEHOLDER, DicomJson

STUDY_UID, SERIES_UID, SOP_UID, RETRIEVE_URL = "0020000D", "0020000E", "00080018", "00081190"
PLACEHOLDER = BASE_URL_PLACEHOLDER.encode()


def _first(record: DicomJson, key: str) -> str | None:
    values = record.get(key, {}).get("Value")
    return str(values[0]) if values else None


def retrieve_url(root: str, study: str, series: str | None = None, sop: str | None = None) -> str:
    url = f"{root}/studies/{study}"
    if series:
        url += f"/series/{series}"
        if sop:
            url += f"/instances/{sop}"
    return url


def with_retrieve_url(records: list[DicomJson], root: str, level: str) -> list[DicomJson]:
    """Add RetrieveURL to each QIDO record (in tag order)."""
    out = []
    for record in records:
        study = _first(record, STUDY_UID)
        if study is None:
            out.append(record)
            continue
        series = _first(record, SERIES_UID) if level != "study" else None
        sop = _first(record, SOP_UID) if level == "instance" else None
        merged = {**record, RETRIEVE_URL: {"vr": "UR", "Value": [retrieve_url(root, study, series, sop)]}}
        out.append(dict(sorted(merged.items())))
    return out


def with_root(document: bytes, root: str) -> bytes:
    """Stored metadata with its BulkDataURI placeholder replaced by the public root."""
    return document.replace(PLACEHOLDER, json.dumps(root)[1:-1].encode())


def to_native_xml(record: DicomJson) -> bytes:
    """One DICOM JSON object as a PS3.19 NativeDicomModel document."""
    body = "".join(_attribute(tag, element) for tag, element in record.items())
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<NativeDicomModel xmlns="http://dicom.nema.org/PS3.19/models/NativeDICOM">{body}</NativeDicomModel>'
            ).encode()


def _attribute(tag: str, element: dict[str, Any]) -> str:
    vr = element.get("vr", "UN")
    keyword = keyword_for_tag(int(tag, 16)) or ""
    head = f"<DicomAttribute tag={quoteattr(tag)} vr={quoteattr(vr)}"
    head += f" keyword={quoteattr(keyword)}>" if keyword else ">"
    inner = []
    if "BulkDataURI" in element:
        inner.append(f"<BulkData uri={quoteattr(element['BulkDataURI'])}/>")
    if "InlineBinary" in element:
        inner.append(f"<InlineBinary>{escape(element['InlineBinary'])}</InlineBinary>")
    for number, value in enumerate(element.get("Value", []), start=1):
        if value is None:
            continue  # an empty component (JSON null): its number is skipped, PS3.19 A.1.5
        if vr == "SQ":
            items = "".join(_attribute(t, e) for t, e in value.items())
            inner.append(f'<Item number="{number}">{items}</Item>')
        elif vr == "PN":
            groups = "".join(
                f"<{group}>{''.join(_name_parts(value[group]))}</{group}>"
                for group in ("Alphabetic", "Ideographic", "Phonetic") if group in value)
            inner.append(f'<PersonName number="{number}">{groups}</PersonName>')
        else:
            inner.append(f'<Value number="{number}">{escape(str(value))}</Value>')
    return head + "".join(inner) + "</DicomAttribute>"


def _name_parts(name: str) -> list[str]:
    labels = ("FamilyName", "GivenName", "MiddleName", "NamePrefix", "NameSuffix")
    return [f"<{label}>{escape(part)}</{label}>" for label, part in zip(labels, name.split("^"), strict=False) if part]
