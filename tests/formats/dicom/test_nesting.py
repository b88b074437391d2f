"""Sequence nesting depth (formats/dicom/nesting.py): hostile nesting is a 4xx failure, never a RecursionError 500.

A 1,000-deep nested sequence made pydicom recurse past Python's limit: STOW answered 500, and an
object already on disk made `bulkdata` answer 500. Objects nesting up to MAX_SEQUENCE_DEPTH levels
are stored and served as before.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydicom.sequence import Sequence

from slicerweb.demo.dicom_studies import generate_study
from slicerweb.engine.errors import Invalid
from slicerweb.formats.dicom.nesting import MAX_SEQUENCE_DEPTH, check_depth
from tests.dicomweb.conftest import STOW_TYPE, part10, stow_body

SQ_TAG = (0x0008, 0x1140)  # ReferencedImageSequence


def nested_object(depth: int, *, implicit: bool = False, index: int = 5) -> tuple[Any, bytes]:
    """A valid CT instance whose ReferencedImageSequence nests `depth` undefined-length sequences."""
    ds = generate_study(index, series_count=1, instances_per_series=1, rows=8, columns=8)[0]
    ds.ReferencedImageSequence = Sequence([])
    if implicit:
        ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2"
    data = part10(ds)
    vr = b"" if implicit else b"SQ\x00\x00"
    marker = struct.pack("<HH", *SQ_TAG) + vr
    at = data.index(marker)
    (length,) = struct.unpack_from("<I", data, at + len(marker))
    end = at + len(marker) + 4 + (8 if length == 0xFFFFFFFF else length)
    open_sq = marker + struct.pack("<I", 0xFFFFFFFF) + struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
    close_sq = struct.pack("<HHI", 0xFFFE, 0xE00D, 0) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    return ds, data[:at] + open_sq * depth + close_sq * depth + data[end:]


def test_depth_is_counted_without_recursion() -> None:
    for implicit in (False, True):
        _, fine = nested_object(MAX_SEQUENCE_DEPTH, implicit=implicit)
        check_depth(io.BytesIO(fine))
        _, deep = nested_object(100_000, implicit=implicit)
        with pytest.raises(Invalid, match=f"deeper than {MAX_SEQUENCE_DEPTH} levels"):
            check_depth(io.BytesIO(deep))


async def test_deep_nesting_is_a_stow_failure_not_a_500(make_app: Callable[..., Any],
                                                        make_policy: Callable[..., Any]) -> None:
    app, _engine = make_app(make_policy(features__dicomweb_write=True))
    async with app.test_app() as running:
        client = running.test_client()
        deep_ds, deep = nested_object(1000, index=5)
        ok_ds, fine = nested_object(MAX_SEQUENCE_DEPTH, index=6)
        response = await client.post("/dicom/studies", data=stow_body([deep, fine]),
                                     headers={"Content-Type": STOW_TYPE})
        assert response.status_code == 202, await response.get_data(as_text=True)
        body = await response.get_json()
        (failed,) = body["00081198"]["Value"]
        assert failed["00081197"]["Value"] == [0xC000]
        assert "nested deeper than 32" in response.headers["Warning"]
        (stored,) = body["00081199"]["Value"]
        assert stored["00081155"]["Value"] == [ok_ds.SOPInstanceUID]
        refused = f"/dicom/studies/{deep_ds.StudyInstanceUID}/series/{deep_ds.SeriesInstanceUID}"
        assert (await client.get(f"{refused}/metadata")).status_code == 404
        kept = (f"/dicom/studies/{ok_ds.StudyInstanceUID}/series/{ok_ds.SeriesInstanceUID}"
                f"/instances/{ok_ds.SOPInstanceUID}")
        assert (await client.get(f"{kept}/metadata")).status_code == 200


async def test_bulkdata_of_a_deep_object_on_disk_is_a_clear_error(make_app: Callable[..., Any],
                                                                 make_policy: Callable[..., Any]) -> None:
    """An object stored before the limit existed (here: rewritten in place) gets a JSON 4xx, not a 500."""
    app, engine = make_app(make_policy(features__dicomweb_write=True))
    async with app.test_app() as running:
        client = running.test_client()
        ds, fine = nested_object(2, index=7)
        assert (await client.post("/dicom/studies", data=stow_body([fine]),
                                  headers={"Content-Type": STOW_TYPE})).status_code == 200
        _, deep = nested_object(1000, index=7)
        (stored,) = [p for p in Path(engine.data_dir).rglob("*") if p.is_file() and p.read_bytes() == fine]
        stored.write_bytes(deep)
        url = (f"/dicom/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
               f"/instances/{ds.SOPInstanceUID}/bulkdata/00081140")
        response = await client.get(url)
        assert response.status_code == 400 and response.headers["Content-Type"] == "application/json"
        assert "nested deeper than 32" in (await response.get_json())["message"]
