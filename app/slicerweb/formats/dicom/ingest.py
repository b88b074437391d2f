"""Parse one Part-10 object into the rows the index stores (attributes, DICOM JSON, pixel location).

The file is read once, without its pixel data: `dcmread(stop_before_pixels=True)` leaves the file
position at the Pixel Data element, whose header gives the offset and length stored in the index
(so uncompressed frames are later read with one `pread`, without pydicom).

    >>> parsed = parse_instance(open("ct.dcm", "rb"))
    >>> parsed.sop_uid, parsed.series["modality"], parsed.pixel_offset
    ('1.2.826...', 'CT', 1366)
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
import struct
from dataclasses import dataclass
from typing import Any, BinaryIO

from pydicom import dcmread
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.errors import BytesLengthException, InvalidDicomError
from pydicom.filereader import _read_file_meta_info

from ...engine.dicom_api import (
    BASE_URL_PLACEHOLDER,
    FAILURE_CANNOT_UNDERSTAND,
)
from ...engine.errors import Invalid
from . import fastread, geometry, jsonmodel, nesting
from .geometry import DEFAULT_MAX_PIXEL_BYTES, Refused
from .inflate import HEADER_ALLOWANCE, inflated
from .jsonmodel import to_json_model
from .part10 import as_part10
from .reasons import plain_reason
from .transfer import BIG_ENDIAN, DEFLATED

UID_PATTERN = re.compile(r"^[0-9]+(\.[0-9]+)*$")
PIXEL_TAGS = {0x7FE00010: "PixelData", 0x7FE00008: "FloatPixelData", 0x7FE00009: "DoubleFloatPixelData"}
NAME_SEPARATORS = re.compile(r"[\^=, \-]+")
UNDEFINED_LENGTH = 0xFFFFFFFF


@dataclass(frozen=True)
class ParsedInstance:
    """Everything the index needs about one instance."""

    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class: str
    transfer_syntax: str
    patient: dict[str, Any]
    study: dict[str, Any]
    series: dict[str, Any]
    instance: dict[str, Any]
    json: str
    digest: str
    size: int
    pixel_offset: int | None
    pixel_length: int | None
    normalized: BinaryIO | None = None
    """Set when the object arrived without the Part-10 preamble: the bytes to store instead."""


@dataclass(frozen=True)
class Refusal:
    """Why an object is not stored (picklable, for worker processes): PS3.18 reason and plain words.

    `readable` tells an object refused for its content (truncated, inconsistent geometry) from a
    file that is not DICOM at all; the UIDs are known for the former."""

    failure_reason: int
    message: str
    readable: bool = False
    sop_class: str = ""
    sop_uid: str = ""
    study_uid: str = ""
    series_uid: str = ""


def check_uid(value: str, name: str) -> str:
    """`value` if it is a syntactically valid UID (also safe as a file name), else Invalid."""
    if not value or len(value) > 64 or not UID_PATTERN.match(value):
        raise Invalid(f"{name} {value!r} is not a valid UID")
    return value


def fold_name(name: str) -> str:
    """Person name as compared: case-folded, trailing empty components dropped ('Doe^Jane^^^' -> 'doe^jane')."""
    return "=".join(group.rstrip("^ ") for group in name.split("=")).rstrip("=").casefold()


def name_tokens(name: str) -> str:
    """'Doe^John^A' -> ' doe john a ' (case-folded; a leading space lets LIKE match token prefixes)."""
    tokens = [t for t in NAME_SEPARATORS.split(name.casefold()) if t]
    return " " + " ".join(tokens) + " " if tokens else ""


def _raw_text(ds: Dataset, tag: int) -> str:
    """A text element's value without converting it (RawDataElement bytes when still raw)."""
    item = ds.get_item(tag)
    if item is None or item.value is None:
        return ""
    value = item.value
    return (value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)).strip(" \x00")


@functools.cache
def _json_key(keyword: str) -> str:
    """'PatientName' -> '00100010' (the DICOM JSON key), computed once per keyword."""
    return f"{tag_for_keyword(keyword):08X}"


def _text(document: dict[str, Any], keyword: str) -> str:
    """An attribute's value(s) from the DICOM JSON, as the index stores text ('a\\b', PN as 'F^G=...')."""
    element = document.get(_json_key(keyword))
    values = element.get("Value") if element else None
    if not values:
        return ""
    texts = []
    for value in values:
        if isinstance(value, dict):
            groups = [value.get(k, "") for k in ("Alphabetic", "Ideographic", "Phonetic")]
            texts.append("=".join(groups).rstrip("="))
        else:
            texts.append("" if value is None else str(value))
    return "\\".join(texts).strip()


def _int(document: dict[str, Any], keyword: str) -> int | None:
    element = document.get(_json_key(keyword))
    values = element.get("Value") if element else None
    if not values or isinstance(values[0], dict | str) or values[0] is None:
        return None
    return int(values[0])


def parse_instance(fp: BinaryIO, max_pixel_bytes: int = DEFAULT_MAX_PIXEL_BYTES) -> ParsedInstance:
    """Parse the Part-10 object in `fp`; Invalid if it is not one we can store (`Refused`, with
    the instance's UIDs in `instance`, when it reads but its pixel data contradicts its header).

    A dataset sent without the 128-byte preamble and `DICM` (dicomweb-client's `store_instances`
    writes them so) is accepted when it carries the UIDs, and rewritten as a proper Part-10 file.
    """
    fp.seek(128)
    if fp.read(4) != b"DICM":
        normalized = as_part10(fp)
        try:
            parsed = parse_instance(normalized, max_pixel_bytes)
        except BaseException:
            normalized.close()  # refused: nobody else will ever see this copy
            raise
        return dataclasses.replace(parsed, normalized=normalized)
    fp.seek(0)
    digest = hashlib.sha256()
    size = 0
    head = b""
    while chunk := fp.read(1 << 20):
        digest.update(chunk)
        if not size:
            head = chunk
        size += len(chunk)
    fast = fastread.read(head, complete=len(head) == size)
    if fast is None and _meta_syntax(fp) == DEFLATED:
        return _parse_deflated(fp, max_pixel_bytes, digest.hexdigest(), size)
    document = None
    if fast is not None:
        uids = tuple(fastread.text(fast.elements.get(t)) for t in (0x0020000D, 0x0020000E, 0x00080018))
        base = f"{BASE_URL_PLACEHOLDER}/studies/{uids[0]}/series/{uids[1]}/instances/{uids[2]}/bulkdata/"
        document = jsonmodel.raw_json_model(fast.elements, lambda element: f"{base}{element.tag:08X}")
    if fast is not None and document is not None:
        transfer_syntax = fast.transfer_syntax
        meta_sop_class = fastread.text(fast.meta.get(0x00020002))
        pixel_offset, pixel_length, pixel_vr, pixel_tag = (fast.pixel_offset, fast.pixel_length, fast.pixel_vr,
                                                           fast.pixel_tag)
    else:
        document, transfer_syntax, meta_sop_class, (pixel_offset, pixel_length, pixel_vr, pixel_tag), base = \
            _read_with_pydicom(fp)
    parsed = _parsed(document, transfer_syntax, meta_sop_class, pixel_offset, pixel_length, pixel_vr, pixel_tag,
                     base, digest.hexdigest(), size)
    try:
        geometry.check(fp, size, parsed.instance, transfer_syntax, pixel_offset, pixel_length, max_pixel_bytes,
                       photometric=_text(document, "PhotometricInterpretation"))
    except Refused as exc:
        exc.instance = (parsed.sop_class, parsed.sop_uid, parsed.study_uid, parsed.series_uid)
        raise
    return parsed


def _meta_syntax(fp: BinaryIO) -> str:
    """The File Meta's Transfer Syntax UID ("" if the meta group does not read)."""
    fp.seek(132)
    try:
        return str(_read_file_meta_info(fp).get("TransferSyntaxUID", ""))
    except Exception:  # a damaged meta group: the pydicom path reports it in plain words
        return ""


def _parse_deflated(fp: BinaryIO, max_pixel_bytes: int, digest: str, size: int) -> ParsedInstance:
    """A deflated object parsed from its inflated form (bounded: `inflate.py`); offsets refer to that form,
    the digest and size to the stored bytes."""
    with inflated(fp, max_pixel_bytes + HEADER_ALLOWANCE) as plain:
        parsed = parse_instance(plain, max_pixel_bytes)
    return dataclasses.replace(parsed, transfer_syntax=DEFLATED, digest=digest, size=size, normalized=None)


def _read_with_pydicom(fp: BinaryIO) -> tuple[dict[str, Any], str, str, tuple[Any, ...], str]:
    nesting.check_depth(fp)  # pydicom recurses per sequence level: refuse hostile nesting first
    fp.seek(0)
    # pydicom decodes elements lazily: a bad VR, length or charset surfaces in the JSON conversion or
    # the meta look-ups as well as in dcmread, so all of them are inside the try.
    try:
        ds = dcmread(fp, stop_before_pixels=True)
        pixel = _pixel_header(fp, ds)
        uids = (_raw_text(ds, 0x0020000D), _raw_text(ds, 0x0020000E), _raw_text(ds, 0x00080018))
        base = f"{BASE_URL_PLACEHOLDER}/studies/{uids[0]}/series/{uids[1]}/instances/{uids[2]}/bulkdata/"

        def bulk_uri(element: Any) -> str:
            return f"{base}{element.tag:08X}"

        document = to_json_model(ds, bulk_uri)  # first, while most elements are still raw (the fast path)
        meta = getattr(ds, "file_meta", None)
        transfer_syntax = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
        meta_sop_class = str(meta.get("MediaStorageSOPClassUID", "")) if meta is not None else ""
    except RecursionError as exc:  # nesting the scan could not follow (e.g. deflated)
        raise Invalid(nesting.TOO_DEEP) from exc
    except (InvalidDicomError, BytesLengthException, EOFError, ValueError, LookupError, TypeError, struct.error,
            AttributeError, NotImplementedError, OSError) as exc:
        raise Invalid(f"not a readable DICOM Part-10 object: {plain_reason(exc)}") from exc
    return document, transfer_syntax, meta_sop_class, pixel, base


def _parsed(document: dict[str, Any], transfer_syntax: str, meta_sop_class: str, pixel_offset: int | None,
            pixel_length: int | None, pixel_vr: str, pixel_tag: int | None, base: str, digest: str,
            size: int) -> ParsedInstance:
    if not transfer_syntax:
        raise Invalid("not a DICOM Part-10 object: no File Meta Information / TransferSyntaxUID")
    study_uid = check_uid(_text(document, "StudyInstanceUID"), "StudyInstanceUID")
    series_uid = check_uid(_text(document, "SeriesInstanceUID"), "SeriesInstanceUID")
    sop_uid = check_uid(_text(document, "SOPInstanceUID"), "SOPInstanceUID")
    sop_class = check_uid(_text(document, "SOPClassUID") or meta_sop_class,
                          "SOPClassUID")
    patient_name = _text(document, "PatientName")
    referring = _text(document, "ReferringPhysicianName")
    patient_id, issuer = _text(document, "PatientID"), _text(document, "IssuerOfPatientID")
    patient = {
        "patient_key": f"{patient_id}\x1f{issuer}", "patient_id": patient_id, "issuer": issuer,
        "patient_name": patient_name, "patient_name_lc": fold_name(patient_name),
        "patient_name_tokens": name_tokens(patient_name), "birth_date": _text(document, "PatientBirthDate"),
        "sex": _text(document, "PatientSex"),
    }
    study = {
        "study_uid": study_uid, "study_date": _text(document, "StudyDate"), "study_time": _text(document, "StudyTime"),
        "accession": _text(document, "AccessionNumber"), "referring_name": referring,
        "referring_name_lc": fold_name(referring), "referring_name_tokens": name_tokens(referring),
        "timezone": _text(document, "TimezoneOffsetFromUTC"), "study_description": _text(document, "StudyDescription"),
        "institution": _text(document, "InstitutionName"), "study_id": _text(document, "StudyID"),
        "charset": _text(document, "SpecificCharacterSet"),
    }
    series = {
        "series_uid": series_uid, "modality": _text(document, "Modality"), "series_date": _text(document, "SeriesDate"),
        "series_time": _text(document, "SeriesTime"), "series_description": _text(document, "SeriesDescription"),
        "body_part": _text(document, "BodyPartExamined"), "laterality": _text(document, "Laterality"),
        "series_number": _int(document, "SeriesNumber"),
        "pps_start_date": _text(document, "PerformedProcedureStepStartDate"),
        "pps_start_time": _text(document, "PerformedProcedureStepStartTime"),
    }
    instance = {
        "sop_uid": sop_uid, "sop_class": sop_class, "content_date": _text(document, "ContentDate"),
        "content_time": _text(document, "ContentTime"), "instance_number": _int(document, "InstanceNumber"),
        "n_rows": _int(document, "Rows"), "n_columns": _int(document, "Columns"),
        "bits_allocated": _int(document, "BitsAllocated"),
        "number_of_frames": _int(document, "NumberOfFrames"), "samples_per_pixel": _int(document, "SamplesPerPixel"),
    }
    if pixel_tag is not None:
        document[f"{pixel_tag:08X}"] = {"vr": pixel_vr, "BulkDataURI": f"{base}{pixel_tag:08X}"}
    return ParsedInstance(
        study_uid=study_uid, series_uid=series_uid, sop_uid=sop_uid, sop_class=sop_class,
        transfer_syntax=transfer_syntax, patient=patient, study=study, series=series, instance=instance,
        json=json.dumps(dict(sorted(document.items())), ensure_ascii=False, separators=(",", ":")),
        digest=digest, size=size, pixel_offset=pixel_offset, pixel_length=pixel_length)


def _pixel_header(fp: BinaryIO, ds: Dataset) -> tuple[int | None, int | None, str, int | None]:
    """(value offset, value length or -1 if encapsulated, VR, tag) of the pixel data element, if any."""
    start = fp.tell()
    header = fp.read(12)
    if len(header) < 8:
        return None, None, "", None
    syntax = str(ds.file_meta.get("TransferSyntaxUID", ""))
    order = ">" if syntax == BIG_ENDIAN else "<"
    group, element = struct.unpack(f"{order}HH", header[:4])
    tag = (group << 16) | element
    if tag not in PIXEL_TAGS:
        return None, None, "", None
    implicit = syntax == "1.2.840.10008.1.2"
    if implicit or not (header[4:6].isalpha() and header[4:6].isupper()):
        # no VR where one belongs: an implicit-VR header inside an explicit dataset (pydicom reads it so too)
        (length,) = struct.unpack(f"{order}I", header[4:8])
        vr = "OW" if tag == 0x7FE00010 else ("OF" if tag == 0x7FE00008 else "OD")
        offset = start + 8
    else:
        vr = header[4:6].decode("ascii", "replace")
        (length,) = struct.unpack(f"{order}I", header[8:12])
        offset = start + 12
    return offset, (-1 if length == UNDEFINED_LENGTH else length), vr, tag


def parse_or_error(source: BinaryIO, max_pixel_bytes: int = DEFAULT_MAX_PIXEL_BYTES) -> ParsedInstance | Refusal:
    """`parse_instance`, with a failure returned as a Refusal (picklable, for worker processes)."""
    try:
        return parse_instance(source, max_pixel_bytes)
    except Refused as exc:
        return Refusal(exc.failure_reason, str(exc), True, *exc.instance)
    except Invalid as exc:
        return Refusal(FAILURE_CANNOT_UNDERSTAND, str(exc))
