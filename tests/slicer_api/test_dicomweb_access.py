"""accessDICOMwebStudy contract: one SlicerWeb fetches a study from another SlicerWeb's /dicom with the
caller's bearer token, stores it in its own DICOM database and loads its image series as volumes
(the original always failed); a refused token changes nothing. DICOM series load from the database."""

from __future__ import annotations

import pytest
import slicerio.server

from tests.oidc import auth_policy, start_issuer


def studies(http):
    """QIDO studies (an empty search answers 204 No Content, PS3.18 §10.6.3)."""
    reply = http.get("/dicom/studies")
    return [] if reply.status_code == 204 else reply.json()


@pytest.fixture
def servers(live_server, tmp_path):
    issuer = start_issuer(tmp_path / "issuer")
    source = live_server(policy_toml=auth_policy(issuer), args=["--demo"], data_dir=tmp_path / "source")
    target = live_server(data_dir=tmp_path / "target")
    yield issuer, source, target
    issuer.stop()


def test_study_is_fetched_with_the_token_stored_and_loaded(servers):
    issuer, source, target = servers
    token = issuer.mint("dicomweb.read")
    with source.client(headers={"Authorization": f"Bearer {token}"}) as http:
        study = http.get("/dicom/studies", params={"ModalitiesInStudy": "CT"}).json()[0]
        study_uid = study["0020000D"]["Value"][0]
        series = http.get(f"/dicom/studies/{study_uid}/series").json()
    with target.client() as http:
        refused = http.post("/slicer/accessDICOMwebStudy", json={
            "dicomWEBPrefix": source.url, "dicomWEBStore": "dicom", "studyUID": study_uid,
            "accessToken": issuer.mint("slicer.read")})  # a token without dicomweb.read
        assert refused.status_code == 403 and refused.headers["content-type"] == "application/json"
        assert studies(http) == [] and http.get("/slicer/volumes").json() == []

        reply = http.post("/slicer/accessDICOMwebStudy", json={
            "dicomWEBPrefix": source.url, "dicomWEBStore": "dicom", "studyUID": study_uid, "accessToken": token})
        assert reply.status_code == 200, reply.text
        loaded = reply.json()["loadedNodeIDs"]
        assert len(loaded) == len(series) and reply.json()["success"] is True
        assert [s["0020000D"]["Value"][0] for s in studies(http)] == [study_uid]
        properties = http.get("/slicer/mrml/properties", params={"id": loaded[0]}).json()[loaded[0]]
        rows = series[0]["00280010"]["Value"][0] if "00280010" in series[0] else None
        dims = properties["ImageData"]["Dimensions"]
        assert dims[2] == series[0]["00201209"]["Value"][0]  # one slice per instance
        assert rows is None or dims[1] == rows

        again = http.post("/slicer/mrml", params={"seriesUID": series[0]["0020000E"]["Value"][0]})
        assert again.status_code == 200 and len(again.json()["loadedNodeIDs"]) == 1
        assert http.post("/slicer/mrml", params={"seriesUID": "1.2.3.4"}).status_code == 404


def test_bad_requests_are_400_json(live_server):
    server = live_server()
    with server.client() as http:
        for body in (b"not json", b"[1]", b'{"studyUID": "1.2"}', b'{"dicomWEBPrefix": "ftp://x", "studyUID": "1"}'):
            reply = http.post("/slicer/accessDICOMwebStudy", content=body)
            assert reply.status_code == 400 and reply.headers["content-type"] == "application/json"


def test_slicerio_slicer_url_opens_a_dicomweb_study(live_server, monkeypatch):
    """slicerio's file_load("slicer://viewer/?studyUID=...&dicomweb_endpoint=...") goes to POST /slicer/open."""
    server = live_server(args=["--demo"])
    monkeypatch.setattr(slicerio.server, "SERVER_PORT", int(server.url.rsplit(":", 1)[1]))
    with server.client() as http:
        study_uid = http.get("/dicom/studies", params={"ModalitiesInStudy": "MR"}).json()[0]["0020000D"]["Value"][0]
    url = f"slicer://viewer/?studyUID={study_uid}&dicomweb_endpoint={server.url}/dicom"
    loaded = slicerio.server.file_load(url, auto_start=False)
    assert len(loaded) == 2 and all(i.startswith("vtkMRMLScalarVolumeNode") for i in loaded)
