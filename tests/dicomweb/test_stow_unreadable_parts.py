"""STOW-RS with parts pydicom cannot decode (found by tests/formats/dicom/test_ingest_fuzz.py): an
element with an unknown VR in the File Meta, a value whose length is not a multiple of its VR's
size. Each part fails with 0xC000 and a reason; the request answers 409, never 500; nothing is stored."""

from __future__ import annotations

import io

from slicerweb.demo.dicom_studies import generate_study
from tests.formats.dicom.test_ingest_fuzz import _mutate

from .conftest import STOW_TYPE, part10, stow_body


def _unreadable_parts() -> list[bytes]:
    seed = part10(generate_study(0, series_count=1, instances_per_series=1, rows=8, columns=8)[0])
    meta_uid = seed.index(b"\x02\x00\x02\x00UI")
    unknown_vr = seed[:meta_uid + 4] + b"V\xbf" + seed[meta_uid + 6:]          # (0002,0002) with VR 'V\xbf'
    bad_length = _mutate(seed, [(60941, 0, b"\xc6"), (11755, 2, b"\xf5")])   # pydicom BytesLengthException
    return [unknown_vr, bad_length]


async def test_undecodable_parts_fail_with_a_reason_and_store_nothing(dicom_app) -> None:
    app = await dicom_app(features__dicomweb_write=True)
    before = sorted(app.engine.dicom.storage.objects.rglob("*.dcm"))
    parts = _unreadable_parts()
    response = await app.client.post("/dicom/studies", data=stow_body(parts), headers={"Content-Type": STOW_TYPE})
    assert response.status_code == 409, await response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/dicom+json"
    failed = (await response.get_json())["00081198"]["Value"]
    assert [f["00081197"]["Value"][0] for f in failed] == [0xC000] * len(parts)
    assert "not a readable DICOM" in response.headers["Warning"]
    assert sorted(app.engine.dicom.storage.objects.rglob("*.dcm")) == before
    assert io.BytesIO(parts[0]).read(4)  # the inputs themselves are non-empty objects
