"""Matching keys on stored DICOM JSON follow the index's rules (PS3.4 C.2.2.2), value kinds one by one."""

from __future__ import annotations

import pytest

from slicerweb.engine.dicom_api import Match
from slicerweb.formats.dicom.json_match import matches

DOCUMENT = {
    "00080008": {"vr": "CS", "Value": ["ORIGINAL", None, "AXIAL"]},
    "00080021": {"vr": "DA", "Value": ["20240315"]},
    "00080031": {"vr": "TM", "Value": ["101530"]},
    "00081060": {"vr": "PN", "Value": [{"Alphabetic": "Doe^Jane^^^"}, {"Alphabetic": "Roe^Richard"}]},
    "00180050": {"vr": "DS", "Value": [2.5]},
    "00200012": {"vr": "IS", "Value": [7]},
    "00080070": {"vr": "LO", "Value": ["Acme_Scanners"]},
    "00081140": {"vr": "SQ"},
    "00400275": {"vr": "SQ", "Value": [
        {"00400009": {"vr": "SH", "Value": ["SPS1"]}, "00401001": {"vr": "SH", "Value": ["RP1"]}},
        {"00400009": {"vr": "SH", "Value": ["SPS2"]}, "00401001": {"vr": "SH", "Value": ["RP2"]}}]},
}


def key(tag: int, kind: str, *values: str, path: tuple[int, ...] = ()) -> Match:
    return Match(tag, f"{tag:08X}", kind, values, path)  # type: ignore[arg-type]


@pytest.mark.parametrize(("keys", "expected"), [
    ([key(0x00080008, "single", "AXIAL")], True),  # any value of a multi-valued attribute
    ([key(0x00080008, "single", "axial")], False),  # CS is case-sensitive
    ([key(0x00080008, "wildcard", "OR?GINAL")], True),
    ([key(0x00080070, "wildcard", "Acme_*")], True),  # `_` is literal, not SQL's any-character
    ([key(0x00080070, "wildcard", "Acme%")], False),
    ([key(0x00080021, "range", "20240301", "20240331")], True),
    ([key(0x00080021, "range", "", "20240314")], False),
    ([key(0x00080031, "range", "10", "1015")], True),  # TM bounds padded as in the index
    ([key(0x00081060, "single", "DOE^JANE")], True),  # PN: case-insensitive, trailing ^ ignored
    ([key(0x00081060, "wildcard", "roe*")], True),
    ([key(0x00081060, "fuzzy", "ric")], True),
    ([key(0x00081060, "fuzzy", "ich")], False),
    ([key(0x00180050, "single", "2.50")], True),  # numbers compare as numbers
    ([key(0x00200012, "list", "3", "7")], True),
    ([key(0x00200013, "single", "1")], False),  # absent: no match
    ([key(0x00081140, "single", "x")], False),  # an empty sequence has nothing to match
    ([key(0x00400009, "single", "SPS2", path=(0x00400275,)),
      key(0x00401001, "single", "RP2", path=(0x00400275,))], True),
    ([key(0x00400009, "single", "SPS1", path=(0x00400275,)),
      key(0x00401001, "single", "RP2", path=(0x00400275,))], False),  # not in the same item
])
def test_matching(keys: list[Match], expected: bool) -> None:
    assert matches(DOCUMENT, keys) is expected
