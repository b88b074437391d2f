"""The fast DICOM JSON conversion gives exactly what pydicom's `to_json_dict` gives (with PS3.18
Annex F applied, see test_jsonmodel_annex_f.py).

Checked over the generated CT/MR instances and pydicom's own test files (odd VRs, multi-values,
empty values, UN, sequences, other character sets), since the metadata served to viewers comes
from it.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from unittest import mock

import pydicom.data
import pytest
from pydicom import dcmread

from slicerweb.demo.dicom_studies import generate_study
from slicerweb.engine.errors import Invalid
from slicerweb.formats.dicom import fastread
from slicerweb.formats.dicom.ingest import parse_instance
from slicerweb.formats.dicom.jsonmodel import annex_f, to_json_model


def bulk(element: object) -> str:
    return f"bulk/{element.tag:08X}"  # type: ignore[attr-defined]


def sources() -> list[bytes]:
    out = []
    for ds in generate_study(0, modality="CT", instances_per_series=1) + generate_study(1, modality="MR",
                                                                                       instances_per_series=1):
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        out.append(buffer.getvalue())
    local = Path(pydicom.data.__file__).parent / "test_files"  # the wheel's files: no download attempts
    for path in sorted(local.rglob("*.dcm")):
        with open(path, "rb") as handle:
            out.append(handle.read())
    return out


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_same_json_as_pydicom() -> None:
    compared = 0
    for data in sources():
        try:
            expected = annex_f(dcmread(io.BytesIO(data), stop_before_pixels=True).to_json_dict(1024, bulk))
        except Exception:  # files pydicom itself cannot convert are not a reference
            continue
        assert to_json_model(dcmread(io.BytesIO(data), stop_before_pixels=True), bulk) == expected
        compared += 1
    assert compared > 50


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_pydicom_free_reader_parses_like_pydicom() -> None:
    """`fastread` (used by ingest) yields the same parsed instance as the pydicom path, or declines.

    Also over truncated copies (a STOW part cut short) and a file read only in part."""
    fast_used = compared = 0
    originals = sources()
    truncated = [data[:len(data) * 2 // 3] for data in originals[:20]]
    for data in originals + truncated:
        expected = _parse(data, fast=False)
        assert _parse(data, fast=True) == expected
        compared += 1
        fast_used += fastread.read(data, complete=True) is not None
        partial = fastread.read(data[:len(data) // 2], complete=False)
        if partial is not None:  # a head that ends before the pixel data is never taken as complete
            assert partial.pixel_offset is not None and partial.pixel_offset <= len(data) // 2
    assert compared > 50 and fast_used > 10


def _parse(data: bytes, fast: bool) -> object:
    with mock.patch.object(fastread, "read", fastread.read if fast else (lambda *_a, **_k: None)):
        try:
            parsed = parse_instance(io.BytesIO(data))
        except Invalid as exc:
            return str(exc)
    return dataclasses.replace(parsed, normalized=None)
