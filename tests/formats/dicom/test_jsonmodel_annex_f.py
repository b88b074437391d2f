"""PS3.18 Annex F in the stored DICOM JSON: what metadata and QIDO serve.

Each case is a pydicom dataset built for it, converted three ways: the fast path (explicit VR LE
raw elements), pydicom's path (implicit VR: every element goes through `to_json_dict`) and ingest
(the pydicom-free reader). Group Length elements are absent at every level (F.2.2); an empty
component of a multi-valued string is `null` (F.2.5); an empty sequence has no "Value"; what was
right stays right (Specific Character Set as stored, FL/FD exact, no splitting of LT at `\\`).
An index whose JSON was stored by the older model is corrected as it is read.
"""

from __future__ import annotations

import io
import json
import sqlite3
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydicom import Dataset, dcmread
from pydicom.sequence import Sequence
from pydicom.uid import ImplicitVRLittleEndian

from slicerweb.demo.dicom_studies import generate_study
from slicerweb.engine.dicom_api import SearchQuery
from slicerweb.engine.headless.dicomdb.service import HeadlessDicom
from slicerweb.formats.dicom.ingest import parse_instance
from slicerweb.formats.dicom.jsonmodel import annex_f, to_json_model

IMAGE_TYPE, OTHER_NAMES, SLICE_SPACING = "00080008", "00101001", "00280030"
EMPTY_SEQUENCE, ITEMS = "00081140", "00082112"


def bulk(element: Any) -> str:
    return f"bulk/{element.tag:08X}"


def dataset() -> Dataset:
    """A generated CT instance with every Annex F case in it."""
    ds = generate_study(0, modality="CT", instances_per_series=1)[0]
    ds.add_new(0x00080000, "UL", 0)            # group lengths, top level ...
    ds.add_new(0x00200000, "UL", 0)
    ds.ImageType = ["ORIGINAL", "", "AXIAL"]  # CS, empty middle component
    ds.OtherPatientNames = ["Doe^J", "", "Roe^R"]  # PN, empty middle component
    ds.PixelSpacing = ["0.5", ""]               # DS, empty second component
    ds.ReferencedImageSequence = Sequence()     # an empty sequence
    item = Dataset()
    item.add_new(0x00080000, "UL", 0)           # ... and inside a sequence item
    item.ImageType = ["DERIVED", ""]
    item.ReferencedSOPInstanceUID = "1.2.3"
    ds.SourceImageSequence = Sequence([item])
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = "Müller^Jörg"
    ds.add_new(0x00189087, "FD", 0.1)           # DiffusionBValue: FD exact
    ds.add_new(0x00720076, "FL", [0.1, 3.3])    # SelectorFLValue: FL exact as stored (float32)
    ds.add_new(0x00204000, "LT", "a\\b stays one value")  # ImageComments
    return ds


def encoded(ds: Dataset, implicit: bool) -> bytes:
    """`ds` as a Part-10 file, with a (0008,0000) Group Length put back (pydicom drops them on writing)."""
    if implicit:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    data = buffer.getvalue()
    charset = b"\x08\x00\x05\x00" + (b"" if implicit else b"CS")  # the first element of the data set
    group_length = b"\x08\x00\x00\x00" + (b"\x04\x00\x00\x00" if implicit else b"UL\x04\x00") + bytes(4)
    at = data.index(charset, 132 + 12)
    return data[:at] + group_length + data[at:]


def fast_path(data: bytes) -> dict[str, Any]:
    return to_json_model(dcmread(io.BytesIO(data), stop_before_pixels=True), bulk)


def in_memory(data: bytes) -> dict[str, Any]:
    """pydicom's path over a dataset never written (group lengths in sequence items survive only here)."""
    model = to_json_model(dataset(), bulk)
    assert data and "0008" in {key[:4] for key in model}
    return model


def ingest_path(data: bytes) -> dict[str, Any]:
    return json.loads(parse_instance(io.BytesIO(data)).json)  # type: ignore[no-any-return]


CONVERSIONS: list[tuple[str, bool, Callable[[bytes], dict[str, Any]]]] = [
    ("fast path", False, fast_path), ("pydicom path", True, fast_path), ("ingest", False, ingest_path),
    ("ingest, implicit", True, ingest_path), ("in memory", False, in_memory)]


@pytest.mark.parametrize(("name", "implicit", "convert"), CONVERSIONS, ids=[c[0] for c in CONVERSIONS])
def test_annex_f(name: str, implicit: bool, convert: Callable[[bytes], dict[str, Any]]) -> None:
    data = encoded(dataset(), implicit)
    assert dcmread(io.BytesIO(data)).get_item(0x00080000) is not None
    model = convert(data)
    assert not [key for key in model if key.endswith("0000")], name  # F.2.2
    assert not [key for key in model[ITEMS]["Value"][0] if key.endswith("0000")], name
    assert model[IMAGE_TYPE] == {"vr": "CS", "Value": ["ORIGINAL", None, "AXIAL"]}  # F.2.5
    assert model[ITEMS]["Value"][0]["00080008"] == {"vr": "CS", "Value": ["DERIVED", None]}
    assert model[OTHER_NAMES] == {"vr": "PN", "Value": [{"Alphabetic": "Doe^J"}, None, {"Alphabetic": "Roe^R"}]}
    assert model[SLICE_SPACING] == {"vr": "DS", "Value": [0.5, None]}
    assert model[EMPTY_SEQUENCE] == {"vr": "SQ"}
    # What was right stays right.
    assert model["00080005"] == {"vr": "CS", "Value": ["ISO_IR 100"]}
    assert model["00100010"] == {"vr": "PN", "Value": [{"Alphabetic": "Müller^Jörg"}]}
    assert model["00189087"] == {"vr": "FD", "Value": [0.1]}
    stored_fl = [0.1, 3.3] if name == "in memory" else list(struct.unpack("<2f", struct.pack("<2f", 0.1, 3.3)))
    assert model["00720076"] == {"vr": "FL", "Value": stored_fl}  # the float32 as stored, not rounded
    assert model["00204000"] == {"vr": "LT", "Value": ["a\\b stays one value"]}


def test_annex_f_is_idempotent_and_repairs_the_older_model() -> None:
    older = {"00080000": {"vr": "UL", "Value": [4]}, "00081140": {"vr": "SQ", "Value": []},
             "00080008": {"vr": "CS", "Value": ["A", ""]}, "00080100": {"vr": "SH", "Value": [""]},
             "00101001": {"vr": "PN", "Value": [{}, {"Alphabetic": "X"}]},
             "00082112": {"vr": "SQ", "Value": [{"00080000": {"vr": "UL", "Value": [4]},
                                                 "00081150": {"vr": "UI", "Value": ["1.2"]}}]}}
    repaired = annex_f(older)
    assert repaired == {"00081140": {"vr": "SQ"}, "00080008": {"vr": "CS", "Value": ["A", None]},
                        "00080100": {"vr": "SH"}, "00101001": {"vr": "PN", "Value": [None, {"Alphabetic": "X"}]},
                        "00082112": {"vr": "SQ", "Value": [{"00081150": {"vr": "UI", "Value": ["1.2"]}}]}}
    assert annex_f(repaired) == repaired


def _age(index: Path) -> None:
    """Make `index` look like one written by the older model: the JSON as it stored it, no stamp."""
    with sqlite3.connect(index) as conn:
        for pk, text in conn.execute("SELECT pk, json FROM instance").fetchall():
            document = json.loads(text)
            document["00080000"] = {"vr": "UL", "Value": [4]}
            document[IMAGE_TYPE] = {"vr": "CS", "Value": ["ORIGINAL", "", "AXIAL"]}
            document[EMPTY_SEQUENCE] = {"vr": "SQ", "Value": []}
            conn.execute("UPDATE instance SET json = ? WHERE pk = ?", (json.dumps(document), pk))
        conn.execute("DELETE FROM meta WHERE name = 'json_model'")


async def test_an_older_index_is_corrected_as_it_is_read(tmp_path: Path) -> None:
    ds = dataset()
    dicom = HeadlessDicom(tmp_path / "dicom")
    assert not dicom.store_files([io.BytesIO(encoded(ds, False))]).failed
    dicom.close()
    _age(tmp_path / "dicom" / "index.sqlite")
    dicom = HeadlessDicom(tmp_path / "dicom")
    try:
        assert dicom.index.stale_json
        for document in (await dicom.retrieve_instance_metadata(ds.StudyInstanceUID, ds.SeriesInstanceUID,
                                                                ds.SOPInstanceUID),
                         await dicom.retrieve_series_metadata(ds.StudyInstanceUID, ds.SeriesInstanceUID)):
            (model,) = json.loads(document)
            assert "00080000" not in model and model[EMPTY_SEQUENCE] == {"vr": "SQ"}
            assert model[IMAGE_TYPE]["Value"] == ["ORIGINAL", None, "AXIAL"]
        found = await dicom.search_for_instances(SearchQuery("instance", include=frozenset({0x00080008, 0x00081140})))
        (record,) = found.records
        assert record[IMAGE_TYPE]["Value"] == ["ORIGINAL", None, "AXIAL"] and record[EMPTY_SEQUENCE] == {"vr": "SQ"}
    finally:
        dicom.close()
    fresh = HeadlessDicom(tmp_path / "fresh")
    try:
        assert not fresh.index.stale_json  # a new index is stamped with the current model
    finally:
        fresh.close()
