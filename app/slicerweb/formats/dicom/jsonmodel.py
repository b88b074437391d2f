"""Dataset -> DICOM JSON Model (PS3.18 F.2), fast path for the common case.

pydicom's `Dataset.to_json_dict` converts every element to a DataElement first, which makes it the
largest cost of ingesting a small instance. Here the raw bytes of each element are turned into
JSON directly when that is simple and unambiguous: explicit VR little endian, a character set we
decode without pydicom (default, ISO_IR 100, ISO_IR 192), and no sequence. Anything else (sequences,
implicit VR, other character sets, elements pydicom has already converted) goes through pydicom's
own `DataElement.to_json_dict`, then `annex_f_element`, so the output is the same either way.

PS3.18 Annex F details both paths keep (`annex_f` also repairs JSON stored by an older model):
no Group Length (gggg,0000) elements at any level (F.2.2); an empty component of a multi-valued
string is `null` (F.2.5), an element with no value has no "Value" (an empty sequence included);
Specific Character Set as stored, FL/FD exact, backslash splits only multi-valued VRs.

    >>> to_json_model(dcmread("ct.dcm", stop_before_pixels=True), lambda tag: f"bulk/{tag:08X}")["00100010"]
    {'vr': 'PN', 'Value': [{'Alphabetic': 'Doe^Jane^^^'}]}
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Callable
from typing import Any

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

BULK_THRESHOLD = 1024
ENCODINGS = {"": "ascii", "ISO_IR 6": "ascii", "ISO_IR 100": "latin-1", "ISO_IR 192": "utf-8"}
MULTI_TEXT = frozenset({"AE", "AS", "CS", "DA", "DT", "LO", "SH", "TM", "UI", "UC"})
SINGLE_TEXT = frozenset({"LT", "ST", "UT", "UR"})
BINARY = {"US": "H", "SS": "h", "UL": "I", "SL": "i", "FL": "f", "FD": "d", "UV": "Q", "SV": "q"}
BULK = frozenset({"OB", "OW", "OD", "OF", "OL", "OV", "UN"})
BulkHandler = Callable[[Any], str]


def to_json_model(ds: Dataset, bulk_uri: BulkHandler) -> dict[str, Any]:
    """The dataset's DICOM JSON; `bulk_uri(element)` names large binary values."""
    charset = ds.get_item(0x00080005)
    encoding = ENCODINGS.get(_charset_key(charset))
    out: dict[str, Any] = {}
    for tag in ds.keys():  # noqa: SIM118 - iterating a Dataset converts every element
        if tag & 0xFFFF == 0:
            continue  # Group Length: never in DICOM JSON (F.2.2)
        raw = ds.get_item(tag)
        fast = None
        if encoding is not None and isinstance(raw, RawDataElement) and not raw.is_implicit_VR \
                and raw.is_little_endian and raw.VR is not None and raw.value is not None:
            try:
                fast = _element(raw, encoding, bulk_uri)
            except (ValueError, UnicodeDecodeError, struct.error):
                fast = None  # unusual value: let pydicom decide how to represent it
        if fast is None:
            element = ds[tag]
            try:
                fast = annex_f_element(element.to_json_dict(bulk_uri, BULK_THRESHOLD))
            except Exception:  # pydicom cannot convert empty PN/DS/IS components; other invalid values
                fast = _with_empty_components(element.VR, element.value)  # are left out (suppress_invalid_tags)
            if fast is None:
                continue
        out[f"{int(tag):08X}"] = fast
    return out


def raw_json_model(elements: dict[int, RawDataElement], bulk_uri: BulkHandler) -> dict[str, Any] | None:
    """`to_json_model` for elements read without pydicom (`fastread`); None if any element needs
    pydicom's conversion (the caller then parses with pydicom, so the output is the same)."""
    encoding = ENCODINGS.get(_charset_key(elements.get(0x00080005)))
    if encoding is None:
        return None
    out: dict[str, Any] = {}
    for tag, raw in elements.items():
        if tag & 0xFFFF == 0:
            continue  # Group Length (F.2.2)
        try:
            fast = _element(raw, encoding, bulk_uri)
        except (ValueError, UnicodeDecodeError, struct.error):
            return None
        if fast is None:
            return None
        out[f"{tag:08X}"] = fast
    return out


def annex_f(model: dict[str, Any]) -> dict[str, Any]:
    """A DICOM JSON object with the Annex F rules applied (idempotent): group lengths dropped, empty
    components `null`, no "Value" for empty values and empty sequences."""
    return {key: annex_f_element(element) for key, element in model.items() if not key.endswith("0000")}


def annex_f_element(element: dict[str, Any]) -> dict[str, Any]:
    """One element with the Annex F rules applied (sequence items recursively)."""
    values = element.get("Value")
    if values is None:
        return element
    if element.get("vr") == "SQ":
        values = [annex_f(item) if isinstance(item, dict) else item for item in values]
    else:
        values = [None if v == "" or v == {} else v for v in values]
        if values == [None]:
            values = []  # one empty value: the element has no value (F.2.5)
    if not values:
        return {k: v for k, v in element.items() if k != "Value"}
    return {**element, "Value": values}


def _with_empty_components(vr: str, value: Any) -> dict[str, Any] | None:
    """PN, DS and IS values with empty components (`null`, F.2.5), which pydicom's `to_json_dict`
    refuses; None for anything else."""
    if vr not in ("PN", "DS", "IS"):
        return None
    values = list(value) if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue" else [value]
    out: list[Any] = []
    for item in values:
        text = "" if item is None else str(item).strip()
        if not text:
            out.append(None)
        elif vr == "PN":
            out.append(_person_name(text) or None)
        else:
            try:
                out.append(int(text) if vr == "IS" else float(text))
            except ValueError:
                return None
    return annex_f_element({"vr": vr, "Value": out})


def _charset_key(charset: Any) -> str:
    if charset is None:
        return ""
    raw = isinstance(charset, RawDataElement)
    value = (charset.value or b"").decode("ascii", "replace") if raw else charset.value
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "?" if len(value) > 1 else str(value[0]).strip()
    return str(value).strip(" \x00")


def _element(raw: RawDataElement, encoding: str, bulk_uri: BulkHandler) -> dict[str, Any] | None:
    if raw.value is None:  # a value pydicom deferred: leave it to the slow path
        return None
    vr, data = str(raw.VR), bytes(raw.value)
    if vr in ("SQ", "UN"):  # pydicom re-reads UN with the dictionary VR: leave both to it
        return None
    if not data:
        return {"vr": vr}
    if vr in BULK:
        if len(data) > BULK_THRESHOLD:
            return {"vr": vr, "BulkDataURI": bulk_uri(raw)}
        return {"vr": vr, "InlineBinary": base64.b64encode(data).decode("ascii")}
    if vr in BINARY:
        code = BINARY[vr]
        count = len(data) // struct.calcsize(code)
        return {"vr": vr, "Value": list(struct.unpack(f"<{count}{code}", data[:count * struct.calcsize(code)]))}
    if vr == "AT":
        pairs = struct.unpack(f"<{len(data) // 2}H", data[:len(data) // 4 * 4])
        return {"vr": vr, "Value": [f"{pairs[i]:04X}{pairs[i + 1]:04X}" for i in range(0, len(pairs), 2)]}
    text = data.decode(encoding if vr not in ("UI", "CS", "DA", "TM", "DT", "AS", "IS", "DS") else "ascii",
                       errors="strict")
    if not text.strip(" \x00"):
        return {"vr": vr}
    if vr in SINGLE_TEXT:
        text = text.rstrip(" \x00")
        return {"vr": vr, "Value": [text]} if text else {"vr": vr}
    if vr == "PN":
        return {"vr": vr, "Value": [_person_name(v.rstrip(" \x00")) or None for v in text.split("\\")]}
    values: list[Any] = [v.strip(" \x00") if vr in ("DS", "IS") else v for v in text.rstrip(" \x00").split("\\")]
    if vr == "IS":
        return {"vr": vr, "Value": [int(v) if v else None for v in values]}
    if vr == "DS":
        return {"vr": vr, "Value": [float(v) if v else None for v in values]}
    if vr in MULTI_TEXT:
        if vr == "UI":
            values = [v.strip(" \x00") for v in values]
        return {"vr": vr, "Value": [v or None for v in values]}  # an empty component is null (F.2.5)
    return None


def _person_name(value: str) -> dict[str, str]:
    groups = value.split("=")
    out = {}
    for key, group in zip(("Alphabetic", "Ideographic", "Phonetic"), groups, strict=False):
        if group:
            out[key] = group
    return out
