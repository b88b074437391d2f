"""STOW-RS (PS3.18 §10.5): gated by features.dicomweb_write, 200/202/409 with Referenced/Failed SOP
sequences in `application/dicom+json` exactly, the documented duplicate rule, and bad bodies that
leave the database exactly as it was."""

from __future__ import annotations

import copy

import pytest

from slicerweb.demo.dicom_studies import generate_study

from .conftest import STOW_TYPE, part10, stow_body


async def study_count(app) -> int:
    return await app.engine.dicom.count_studies()


def stored_files(app) -> list[str]:
    return sorted(str(p) for p in app.engine.dicom.storage.objects.rglob("*.dcm"))


async def test_stow_is_refused_while_the_feature_is_off(dicom_app) -> None:
    app = await dicom_app()
    response = await app.client.post("/dicom/studies", data=stow_body([part10(generate_study(9)[0])]),
                                      headers={"Content-Type": STOW_TYPE})
    assert response.status_code == 403
    assert response.headers["Content-Type"] == "application/json"
    assert "dicomweb_write" in (await response.get_json())["message"]
    assert await study_count(app) == 4


async def test_store_then_find_and_retrieve(dicom_app) -> None:
    app = await dicom_app(features__dicomweb_write=True)
    new = generate_study(9, instances_per_series=2)
    response = await app.client.post("/dicom/studies", data=stow_body([part10(ds) for ds in new]),
                                      headers={"Content-Type": STOW_TYPE})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/dicom+json"
    body = await response.get_json()
    referenced = body["00081199"]["Value"]
    assert [r["00081155"]["Value"][0] for r in referenced] == [ds.SOPInstanceUID for ds in new]
    assert "00081198" not in body
    assert body["00081190"]["Value"][0].endswith(f"/dicom/studies/{new[0].StudyInstanceUID}")
    found = await app.client.get("/dicom/studies", query_string={"StudyInstanceUID": new[0].StudyInstanceUID})
    assert (await found.get_json())[0]["00201208"]["Value"] == [4]


async def test_duplicates_identical_succeed_different_fail(dicom_app) -> None:
    app = await dicom_app(features__dicomweb_write=True)
    original = app.studies[2][0]
    again = await app.client.post("/dicom/studies", data=stow_body([part10(original)]),
                                  headers={"Content-Type": STOW_TYPE})
    assert again.status_code == 200
    changed = copy.deepcopy(original)
    changed.PatientName = "Changed^Name"
    fresh = generate_study(9, instances_per_series=1)[0]
    mixed = await app.client.post("/dicom/studies", data=stow_body([part10(changed), part10(fresh)]),
                                  headers={"Content-Type": STOW_TYPE})
    assert mixed.status_code == 202
    body = await mixed.get_json()
    (failed,) = body["00081198"]["Value"]
    assert failed["00081155"]["Value"] == [original.SOPInstanceUID] and failed["00081197"]["Value"] == [0x0111]
    only_duplicate = await app.client.post("/dicom/studies", data=stow_body([part10(changed)]),
                                           headers={"Content-Type": STOW_TYPE})
    assert only_duplicate.status_code == 409
    assert only_duplicate.headers["Content-Type"] == "application/dicom+json"
    (refused,) = (await only_duplicate.get_json())["00081198"]["Value"]
    assert refused["00081155"]["Value"] == [original.SOPInstanceUID] and refused["00081197"]["Value"] == [0x0111]
    assert "00081199" not in await only_duplicate.get_json()  # nothing referenced: nothing stored
    names = await app.client.get("/dicom/studies", query_string={"StudyInstanceUID": original.StudyInstanceUID})
    assert (await names.get_json())[0]["00100010"]["Value"][0]["Alphabetic"] == str(original.PatientName)


async def test_study_in_the_url_must_match(dicom_app) -> None:
    app = await dicom_app(features__dicomweb_write=True)
    ds = generate_study(9, instances_per_series=1)[0]
    response = await app.client.post(f"/dicom/studies/{app.study_uid(2)}", data=stow_body([part10(ds)]),
                                      headers={"Content-Type": STOW_TYPE})
    assert response.status_code == 409
    assert response.headers["Content-Type"] == "application/dicom+json"
    (refused,) = (await response.get_json())["00081198"]["Value"]
    assert refused["00081155"]["Value"] == [ds.SOPInstanceUID] and refused["00081197"]["Value"] == [0xA900]
    assert app.study_uid(2) in response.headers["Warning"]
    assert await study_count(app) == 4


@pytest.mark.parametrize(("body", "content_type", "status"), [
    (b"not multipart at all", STOW_TYPE, 400),                                    # no delimiter
    (stow_body([b"x" * 300])[:-12], STOW_TYPE, 400),                              # truncated
    (b"\r\n--b0undary--", STOW_TYPE, 400),                                        # no parts
    (b"irrelevant", "application/json", 415),
    (b"irrelevant", "multipart/related; type=\"application/dicom\"", 400),        # no boundary
])
async def test_malformed_bodies_are_4xx_json_and_change_nothing(dicom_app, body: bytes, content_type: str,
                                                                status: int) -> None:
    app = await dicom_app(features__dicomweb_write=True)
    files = stored_files(app)
    response = await app.client.post("/dicom/studies", data=body, headers={"Content-Type": content_type})
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    assert (await response.get_json())["success"] is False
    assert await study_count(app) == 4 and stored_files(app) == files
    assert not list(app.engine.dicom.storage.own_tmp.iterdir())


async def test_malformed_dicom_parts_fail_without_writing(dicom_app) -> None:
    app = await dicom_app(features__dicomweb_write=True)
    files = stored_files(app)
    valid = part10(generate_study(9, instances_per_series=1)[0])
    truncated = valid[:400]
    no_uids = part10(generate_study(9, instances_per_series=1)[0])
    no_uids = no_uids.replace(b"1.2.826.0.1.3680043.8.498.3", b"bad..uid.with.dots.1234567")
    response = await app.client.post("/dicom/studies", data=stow_body([b"garbage" * 50, truncated, no_uids]),
                                      headers={"Content-Type": STOW_TYPE})
    assert response.status_code == 409
    assert response.headers["Content-Type"] == "application/dicom+json"
    reasons = [f["00081197"]["Value"][0] for f in (await response.get_json())["00081198"]["Value"]]
    assert reasons == [0xC000, 0xC000, 0xC000]
    assert "not a readable DICOM" in response.headers["Warning"]
    assert await study_count(app) == 4 and stored_files(app) == files


async def test_body_limit_from_the_policy(dicom_app) -> None:
    app = await dicom_app(features__dicomweb_write=True, limits__upload_max_body_bytes=4000)
    big = stow_body([part10(ds) for ds in generate_study(9, instances_per_series=2)])
    assert len(big) > 4000
    response = await app.client.post("/dicom/studies", data=big, headers={"Content-Type": STOW_TYPE})
    assert response.status_code == 413
    assert response.headers["Content-Type"] == "application/json"
    assert await response.get_json() == {"success": False, "message": "request body too large",
                                         "code": "payload_too_large"}
    assert await study_count(app) == 4
    assert not list(app.engine.dicom.storage.own_tmp.iterdir())  # no spooled part left behind
